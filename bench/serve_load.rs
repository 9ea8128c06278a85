//! The load generator of bench/serve.py: HTTP/1.1 POSTs of one body over persistent
//! connections, one thread per connection, the same for every server measured.
//!
//! Standard library only, so bench/serve.py builds it with `rustc -O` and needs no crate:
//! a Python client costs ~30 µs of CPU per request, which on a small machine would take the
//! CPU the fastest server needs; this one costs a few µs, and reports what it used.
//!
//!     serve_load --addr 127.0.0.1:PORT --path /invocations --body FILE --connections 16
//!                --warmup 2 --duration 10 [--rate 500] [--clk-tck 100]
//!
//! Closed loop (no --rate): every connection sends its next request as soon as the answer to
//! the previous one is in (saturation). Open loop (--rate R): requests are scheduled at R per
//! second in all, spread evenly over the connections, and each latency is measured from the
//! time the request was *scheduled*, so a server that falls behind shows it (no coordinated
//! omission). Only requests that complete inside the measured window (after the warm-up)
//! count. One JSON object is printed on stdout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

struct Args {
    addr: String,
    path: String,
    body: Vec<u8>,
    connections: usize,
    warmup: f64,
    duration: f64,
    rate: f64,
    clk_tck: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: String::new(),
        path: "/invocations".into(),
        body: Vec::new(),
        connections: 16,
        warmup: 1.0,
        duration: 5.0,
        rate: 0.0,
        clk_tck: 100.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |s: String| s.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--addr" => a.addr = val()?,
            "--path" => a.path = val()?,
            "--body" => {
                let p = val()?;
                a.body = std::fs::read(&p).map_err(|e| format!("{p}: {e}"))?;
            }
            "--connections" => a.connections = num(val()?)? as usize,
            "--warmup" => a.warmup = num(val()?)?,
            "--duration" => a.duration = num(val()?)?,
            "--rate" => a.rate = num(val()?)?,
            "--clk-tck" => a.clk_tck = num(val()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.addr.is_empty() || a.body.is_empty() || a.connections == 0 || a.duration <= 0.0 {
        return Err("need --addr, --body, --connections > 0 and --duration > 0".into());
    }
    Ok(a)
}

#[derive(Default)]
struct ConnResult {
    lat_us: Vec<u32>,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    first_error: Option<String>,
    sample_body: Option<String>,
    reconnects: u64,
    late_starts: u64,
}

/// One response read off `stream`: its status, body and whether the server keeps the
/// connection open. `buf` is reused between calls.
fn read_response(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<(u16, Vec<u8>, bool), String> {
    buf.clear();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed before a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "bad status line in {:?}",
                head.chars().take(80).collect::<String>()
            )
        })?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.contains("chunked"),
            "connection" => keep = !v.contains("close"),
            _ => {}
        }
    }
    let mut fill = |buf: &mut Vec<u8>, want: usize| -> Result<(), String> {
        while buf.len() < want {
            let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed inside a response".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    };
    if let Some(n) = length {
        fill(buf, head_end + n)?;
        return Ok((status, buf[head_end..head_end + n].to_vec(), keep));
    }
    if !chunked {
        return Err("a response with neither Content-Length nor chunked encoding".into());
    }
    let mut body = Vec::new();
    let mut pos = head_end;
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            let len = buf.len();
            fill(buf, len + 1)?;
        };
        let size_txt = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
        let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size_txt:?}: {e}"))?;
        let data = line_end + 2;
        fill(buf, data + size + 2)?;
        if size == 0 {
            return Ok((status, body, keep));
        }
        body.extend_from_slice(&buf[data..data + size]);
        pos = data + size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn connect(addr: &str) -> Result<TcpStream, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    Ok(s)
}

fn worker(
    idx: usize,
    a: Arc<Args>,
    request: Arc<Vec<u8>>,
    barrier: Arc<Barrier>,
    t0: Arc<std::sync::OnceLock<Instant>>,
    keep_sample: bool,
) -> ConnResult {
    let mut r = ConnResult::default();
    let mut conn = connect(&a.addr).ok();
    barrier.wait();
    let start = *t0
        .get()
        .expect("the main thread sets the start before releasing the barrier");
    let window = start + Duration::from_secs_f64(a.warmup);
    let end = window + Duration::from_secs_f64(a.duration);
    let open = a.rate > 0.0;
    let interval = if open {
        Duration::from_secs_f64(a.connections as f64 / a.rate)
    } else {
        Duration::ZERO
    };
    let mut next = start + interval.mul_f64(idx as f64 / a.connections as f64);
    let mut buf = Vec::with_capacity(65536);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let scheduled = if open {
            if next > now {
                std::thread::sleep(next - now);
            } else if now - next > Duration::from_millis(1) {
                r.late_starts += 1;
            }
            let s = next;
            next += interval;
            s
        } else {
            now
        };
        if scheduled >= end {
            break;
        }
        let stream = match conn.as_mut() {
            Some(s) => s,
            None => match connect(&a.addr) {
                Ok(s) => {
                    r.reconnects += 1;
                    conn.insert(s)
                }
                Err(e) => {
                    r.errors += 1;
                    r.first_error.get_or_insert(e);
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let sent = stream
            .write_all(&request)
            .map_err(|e| format!("write: {e}"));
        let res = sent.and_then(|()| read_response(stream, &mut buf));
        let done = Instant::now();
        let counted = done >= window && done <= end;
        match res {
            Ok((status, body, keep)) => {
                if !keep {
                    conn = None;
                }
                if counted {
                    *r.statuses.entry(status).or_default() += 1;
                }
                if status == 200 {
                    if counted {
                        let us = (done - scheduled).as_micros().min(u32::MAX as u128) as u32;
                        r.lat_us.push(us);
                    }
                    if keep_sample && r.sample_body.is_none() {
                        r.sample_body = Some(String::from_utf8_lossy(&body).into_owned());
                    }
                } else {
                    if counted {
                        r.errors += 1;
                    }
                    if r.first_error.is_none() {
                        let txt = String::from_utf8_lossy(&body);
                        r.first_error = Some(format!(
                            "HTTP {status}: {}",
                            txt.chars().take(300).collect::<String>()
                        ));
                    }
                }
            }
            Err(e) => {
                conn = None;
                if counted {
                    r.errors += 1;
                }
                r.first_error.get_or_insert(e);
            }
        }
    }
    r
}

fn cpu_ticks() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after the command: state=0 ... utime=11 stime=12
    Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() {
    let a = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("serve_load: {e}");
            std::process::exit(2);
        }
    };
    let host = a.addr.clone();
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        a.path,
        a.body.len()
    )
    .into_bytes();
    request.extend_from_slice(&a.body);
    let request = Arc::new(request);
    let barrier = Arc::new(Barrier::new(a.connections + 1));
    let t0 = Arc::new(std::sync::OnceLock::new());
    let handles: Vec<_> = (0..a.connections)
        .map(|i| {
            let (a, req, b, t0) = (
                Arc::clone(&a),
                Arc::clone(&request),
                Arc::clone(&barrier),
                Arc::clone(&t0),
            );
            std::thread::spawn(move || worker(i, a, req, b, t0, i == 0))
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(20);
    let _ = t0.set(start);
    barrier.wait();
    let window = start + Duration::from_secs_f64(a.warmup);
    let end = window + Duration::from_secs_f64(a.duration);
    let sleep_until = |t: Instant| {
        let now = Instant::now();
        if t > now {
            std::thread::sleep(t - now);
        }
    };
    sleep_until(window);
    let cpu_a = cpu_ticks();
    sleep_until(end);
    let cpu_b = cpu_ticks();
    let results: Vec<ConnResult> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    let mut lat: Vec<u32> = results
        .iter()
        .flat_map(|r| r.lat_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let pct = |p: f64| -> Option<f64> {
        if lat.is_empty() {
            return None;
        }
        let k = ((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        Some(f64::from(lat[k]) / 1000.0)
    };
    let fmt = |v: Option<f64>| v.map_or("null".to_owned(), |x| format!("{x:.4}"));
    let mean = (!lat.is_empty())
        .then(|| lat.iter().map(|&x| f64::from(x)).sum::<f64>() / lat.len() as f64 / 1000.0);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for r in &results {
        for (k, v) in &r.statuses {
            *statuses.entry(*k).or_default() += v;
        }
    }
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let cpu = match (cpu_a, cpu_b) {
        (Some(x), Some(y)) => format!("{:.4}", (y - x) / a.clk_tck),
        _ => "null".into(),
    };
    let first_error = results.iter().find_map(|r| r.first_error.clone());
    let sample = results.iter().find_map(|r| r.sample_body.clone());
    let statuses_json: Vec<String> = statuses
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    println!(
        "{{\"connections\": {}, \"rate\": {}, \"warmup_s\": {}, \"duration_s\": {}, \"requests\": {}, \"errors\": {}, \
         \"rps\": {:.3}, \"latency_ms\": {{\"p50\": {}, \"p90\": {}, \"p99\": {}, \"p999\": {}, \"max\": {}, \"mean\": {}}}, \
         \"statuses\": {{{}}}, \"client_cpu_s\": {}, \"reconnects\": {}, \"late_starts\": {}, \"first_error\": {}, \"sample_body\": {}}}",
        a.connections,
        if a.rate > 0.0 { format!("{}", a.rate) } else { "null".into() },
        a.warmup,
        a.duration,
        lat.len(),
        errors,
        lat.len() as f64 / a.duration,
        fmt(pct(50.0)),
        fmt(pct(90.0)),
        fmt(pct(99.0)),
        fmt(pct(99.9)),
        fmt(lat.last().map(|&x| f64::from(x) / 1000.0)),
        fmt(mean),
        statuses_json.join(", "),
        cpu,
        results.iter().map(|r| r.reconnects).sum::<u64>(),
        results.iter().map(|r| r.late_starts).sum::<u64>(),
        first_error.map_or("null".into(), |e| json_str(&e)),
        sample.map_or("null".into(), |s| json_str(&s)),
    );
}
