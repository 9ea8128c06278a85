//! The child process and the threads around it: stdout and stderr passed through to the
//! terminal and appended to log files as they come, signals forwarded, and a monitor that
//! samples system metrics, follows live metrics files and uploads the logs while it runs.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use sextant_client::{Client, Metric, Run, now_ms};

use crate::files::{self, Points};
use crate::sampler::Sampler;

/// The signals `sextant run` catches and forwards to the child.
pub const FORWARDED: &[i32] = &[
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
];

/// A signal's name (`SIGTERM`), or its number.
pub fn signal_name(sig: i32) -> String {
    use signal_hook::consts as s;
    let name = match sig {
        s::SIGHUP => "SIGHUP",
        s::SIGINT => "SIGINT",
        s::SIGQUIT => "SIGQUIT",
        s::SIGILL => "SIGILL",
        s::SIGABRT => "SIGABRT",
        s::SIGFPE => "SIGFPE",
        s::SIGKILL => "SIGKILL",
        s::SIGSEGV => "SIGSEGV",
        s::SIGPIPE => "SIGPIPE",
        s::SIGALRM => "SIGALRM",
        s::SIGTERM => "SIGTERM",
        s::SIGUSR1 => "SIGUSR1",
        s::SIGUSR2 => "SIGUSR2",
        s::SIGBUS => "SIGBUS",
        s::SIGXCPU => "SIGXCPU",
        _ => return sig.to_string(),
    };
    name.to_owned()
}

/// Copies one of the child's streams to ours and to a log file, chunk by chunk, so what was
/// printed is on disk the moment it is printed. Our own stream failing (a closed pipe) does not
/// stop the log.
pub fn tee<R: Read + Send + 'static>(
    mut from: R,
    log: File,
    to_stderr: bool,
    done: mpsc::Sender<()>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut log = log;
        let mut buf = vec![0u8; 16 * 1024];
        let mut terminal_ok = true;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let chunk = &buf[..n];
            if terminal_ok {
                let r = if to_stderr {
                    let mut e = std::io::stderr().lock();
                    e.write_all(chunk).and_then(|()| e.flush())
                } else {
                    let mut o = std::io::stdout().lock();
                    o.write_all(chunk).and_then(|()| o.flush())
                };
                terminal_ok = r.is_ok();
            }
            if let Err(e) = log.write_all(chunk) {
                tracing::warn!(%e, "could not append to the log file");
            }
        }
        let _ = log.sync_data();
        let _ = done.send(());
    })
}

/// The two tee threads; wait for them at the end, but not forever (a background grandchild may
/// hold the pipes open after the child exits).
pub struct Streams {
    done: mpsc::Receiver<()>,
    handles: Vec<JoinHandle<()>>,
}

impl Streams {
    pub fn start(out: ChildStdout, err: ChildStderr, out_log: File, err_log: File) -> Self {
        let (tx, rx) = mpsc::channel();
        let handles = vec![
            tee(out, out_log, false, tx.clone()),
            tee(err, err_log, true, tx),
        ];
        Self { done: rx, handles }
    }

    /// Wait until both streams are closed, or `grace` has passed.
    pub fn finish(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut closed = 0;
        while closed < self.handles.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(()) => closed += 1,
                Err(_) => {
                    tracing::warn!(
                        "the command's output is still open (a background process?); keeping what was printed so far"
                    );
                    return;
                }
            }
        }
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// The first signal `sextant run` received while the child ran, if any.
#[derive(Default)]
pub struct SignalState {
    pub received: Option<i32>,
    count: u32,
    /// The child's pid while it can still be signalled (cleared before it is reaped, so a
    /// recycled pid is never hit).
    pid: Option<Pid>,
}

/// Forwards the signals `sextant run` receives to the child: the first one as it is, a second
/// terminating one as SIGKILL. SIGINT from a terminal (Ctrl-C) already reaches the child, which
/// is in the same process group, so it is recorded but not sent twice.
pub struct Forwarder {
    handle: signal_hook::iterator::Handle,
    thread: JoinHandle<()>,
    pub state: Arc<Mutex<SignalState>>,
}

impl Forwarder {
    /// Catch the signals now (before the child starts, so none is lost); forwarding starts
    /// with [`Forwarder::arm`].
    pub fn install() -> std::io::Result<(signal_hook::iterator::Signals, Arc<Mutex<SignalState>>)> {
        Ok((
            signal_hook::iterator::Signals::new(FORWARDED)?,
            Arc::new(Mutex::new(SignalState::default())),
        ))
    }

    pub fn arm(
        mut signals: signal_hook::iterator::Signals,
        state: Arc<Mutex<SignalState>>,
        child: &Child,
    ) -> Self {
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
        if let Ok(mut s) = state.lock() {
            s.pid = Some(Pid::from_child(child));
        }
        let handle = signals.handle();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            for sig in signals.forever() {
                let Ok(mut s) = st.lock() else { return };
                s.received.get_or_insert(sig);
                s.count += 1;
                let Some(pid) = s.pid else { continue };
                let send = if s.count > 1 {
                    Some(Signal::KILL)
                } else if sig == signal_hook::consts::SIGINT && interactive {
                    None
                } else {
                    Signal::from_named_raw(sig)
                };
                if let Some(to) = send {
                    tracing::debug!(signal = sig, ?to, "forwarding to the command");
                    let _ = rustix::process::kill_process(pid, to);
                }
            }
        });
        Self {
            handle,
            thread,
            state,
        }
    }

    /// Wait for the child to exit, stop forwarding, then reap it.
    pub fn wait(self, child: &mut Child) -> std::io::Result<std::process::ExitStatus> {
        let pid = Pid::from_child(child);
        loop {
            match rustix::process::waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            ) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::debug!(%e, "waitid failed; falling back to wait");
                    break;
                }
            }
        }
        if let Ok(mut s) = self.state.lock() {
            s.pid = None;
        }
        let status = child.wait();
        self.handle.close();
        let _ = self.thread.join();
        status
    }

    pub fn received(state: &Arc<Mutex<SignalState>>) -> Option<i32> {
        state.lock().ok().and_then(|s| s.received)
    }
}

/// A JSON-lines file the command appends to, read from where the last read stopped.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    records: i64,
    warned: bool,
}

impl Follower {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
            records: 0,
            warned: false,
        }
    }

    /// The metrics in lines completed since the last call; with `last`, a final line without its
    /// newline too (the command has ended).
    pub fn poll(&mut self, last: bool) -> Points {
        let mut out = Points::default();
        if let Ok(mut f) = File::open(&self.path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len < self.offset {
                // Truncated or replaced: start again from the top.
                self.offset = 0;
                self.partial.clear();
            }
            if len > self.offset {
                use std::io::Seek;
                if f.seek(std::io::SeekFrom::Start(self.offset)).is_ok() {
                    let mut buf = Vec::new();
                    if let Ok(n) = (&mut f).take(len - self.offset).read_to_end(&mut buf) {
                        self.offset += n as u64;
                        self.partial.extend_from_slice(&buf);
                    }
                }
            }
        }
        let cut = if last {
            self.partial.len()
        } else {
            match self.partial.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => return out,
            }
        };
        let chunk: Vec<u8> = self.partial.drain(..cut).collect();
        let text = String::from_utf8_lossy(&chunk);
        for (n, line) in text.split('\n').enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => {
                    let node = files::Node::from(v);
                    let where_ = format!("{} record {}", self.path.display(), self.records + 1);
                    match files::record_points(&node, self.records, now_ms(), &mut out, &where_) {
                        Ok(()) => self.records += 1,
                        Err(e) => out.skipped.push(e),
                    }
                }
                Err(e) => {
                    if !self.warned {
                        self.warned = true;
                        out.skipped.push(format!(
                            "{}: a line is not JSON ({e}), e.g. line {} of this read",
                            self.path.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
        out
    }
}

/// A log file uploaded as an artifact.
#[derive(Clone)]
pub struct LogFile {
    pub local: PathBuf,
    pub artifact: String,
}

/// What the monitor thread needs.
pub struct MonitorConfig {
    pub client: Client,
    pub run: Run,
    pub pid: i32,
    pub metric_prefix: String,
    pub sample_interval: Option<Duration>,
    pub upload_interval: Duration,
    pub live: Vec<PathBuf>,
    pub logs: Vec<LogFile>,
    pub scratch: PathBuf,
}

/// Live metrics are read this often.
const LIVE_POLL: Duration = Duration::from_secs(1);
/// Collected metrics are sent this often.
const FLUSH: Duration = Duration::from_secs(2);
/// The first system sample is taken this soon, so short commands have one too.
const FIRST_SAMPLE: Duration = Duration::from_secs(1);
/// Metrics kept while the server cannot be reached, at most.
const MAX_PENDING: usize = 200_000;

/// The monitor: stopped by dropping or sending on its channel; it returns the metrics it has
/// not sent yet (for the final batch) and what it had to skip.
pub struct Monitor {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<(Vec<Metric>, Vec<String>)>,
}

impl Monitor {
    pub fn start(cfg: MonitorConfig) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || monitor(cfg, &rx));
        Self { stop: tx, thread }
    }

    pub fn stop(self) -> (Vec<Metric>, Vec<String>) {
        let _ = self.stop.send(());
        self.thread
            .join()
            .unwrap_or_else(|_| (Vec::new(), vec!["the monitor thread panicked".into()]))
    }
}

fn monitor(cfg: MonitorConfig, stop: &mpsc::Receiver<()>) -> (Vec<Metric>, Vec<String>) {
    let start = Instant::now();
    let mut sampler = cfg
        .sample_interval
        .map(|_| Sampler::new(cfg.pid, cfg.metric_prefix.clone()));
    let mut followers: Vec<Follower> = cfg.live.iter().cloned().map(Follower::new).collect();
    let mut pending: Vec<Metric> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut uploaded: Vec<u64> = vec![0; cfg.logs.len()];
    let mut next_sample = cfg.sample_interval.map(|i| start + i.min(FIRST_SAMPLE));
    let mut next_live = (!followers.is_empty()).then(|| start + LIVE_POLL);
    let mut next_upload = start + cfg.upload_interval;
    let mut next_flush = start + FLUSH;
    let mut warned_send = false;
    loop {
        let next = [next_sample, next_live, Some(next_upload), Some(next_flush)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_upload);
        match stop.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if let (Some(at), Some(s), Some(every)) =
            (next_sample, sampler.as_mut(), cfg.sample_interval)
            && now >= at
        {
            pending.extend(s.sample(now_ms()));
            next_sample = Some(at + every);
        }
        if let Some(at) = next_live
            && now >= at
        {
            for f in &mut followers {
                let p = f.poll(false);
                pending.extend(p.metrics);
                warnings.extend(p.skipped);
            }
            next_live = Some(now + LIVE_POLL);
        }
        if now >= next_flush {
            if !pending.is_empty() {
                match cfg
                    .client
                    .log_batch(&cfg.run.info.run_id, &pending, &[], &[])
                {
                    Ok(()) => pending.clear(),
                    Err(e) => {
                        if !warned_send {
                            warned_send = true;
                            tracing::warn!(%e, "could not send metrics; keeping them for later");
                        }
                        if pending.len() > MAX_PENDING {
                            let extra = pending.len() - MAX_PENDING;
                            pending.drain(..extra);
                        }
                    }
                }
            }
            next_flush = now + FLUSH;
        }
        if now >= next_upload {
            for (i, log) in cfg.logs.iter().enumerate() {
                let len = std::fs::metadata(&log.local).map(|m| m.len()).unwrap_or(0);
                if len != uploaded[i] {
                    match snapshot_upload(&cfg.client, &cfg.run, log, &cfg.scratch) {
                        Ok(()) => uploaded[i] = len,
                        Err(e) => {
                            tracing::warn!(%e, artifact = %log.artifact, "could not upload the log yet")
                        }
                    }
                }
            }
            next_upload = now + cfg.upload_interval;
        }
    }
    for f in &mut followers {
        let p = f.poll(true);
        pending.extend(p.metrics);
        warnings.extend(p.skipped);
    }
    (pending, warnings)
}

/// Upload a copy of a log as it is now (the file keeps growing while it is sent).
fn snapshot_upload(
    client: &Client,
    run: &Run,
    log: &LogFile,
    scratch: &Path,
) -> Result<(), sextant_client::ClientError> {
    let copy = scratch.join("snapshot");
    std::fs::copy(&log.local, &copy).map_err(|source| sextant_client::ClientError::Io {
        path: log.local.clone(),
        source,
    })?;
    client.upload_artifact_file(run, &log.artifact, &copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_reads_complete_lines_as_they_are_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut f = Follower::new(path.clone());
        assert!(f.poll(false).metrics.is_empty(), "no file yet");
        let mut w = File::create(&path).unwrap();
        w.write_all(b"{\"step\": 1, \"loss\": 0.5}\n{\"loss\": 0.")
            .unwrap();
        let got = f.poll(false).metrics;
        assert_eq!(
            got.iter().map(|m| (m.step, m.value.0)).collect::<Vec<_>>(),
            vec![(1, 0.5)]
        );
        w.write_all(b"25}\n{\"loss\": 0.125}").unwrap();
        let got = f.poll(false).metrics;
        // The record without a step gets its index (the second record).
        assert_eq!(
            got.iter().map(|m| (m.step, m.value.0)).collect::<Vec<_>>(),
            vec![(1, 0.25)]
        );
        let last = f.poll(true).metrics;
        assert_eq!(
            last.iter().map(|m| (m.step, m.value.0)).collect::<Vec<_>>(),
            vec![(2, 0.125)]
        );
        // A replaced (shorter) file is read again from the top.
        std::fs::write(&path, "{\"x\": 1}\n").unwrap();
        assert_eq!(f.poll(false).metrics.len(), 1);
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(signal_hook::consts::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(64), "64");
    }
}
