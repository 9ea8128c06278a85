//! System metrics of the child and its whole process tree, read from `/proc` (Linux): CPU %
//! and resident memory, sampled at an interval and logged as metrics with steps.

use std::collections::HashMap;
use std::time::Instant;

use sextant_client::{Metric, WireF64};

/// One process's line of `/proc/<pid>/stat`, the fields we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub ppid: i32,
    /// utime + stime, in clock ticks.
    pub own_ticks: u64,
    /// cutime + cstime: the CPU of children it has waited for, in clock ticks.
    pub child_ticks: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        own_ticks: num(14)? + num(15)?,
        child_ticks: num(16)? + num(17)?,
        rss_pages: num(24)?,
    })
}

fn read_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process on the machine.
fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_stat)
        .collect()
}

/// `root` and all its descendants among `procs`.
pub fn tree(root: i32, procs: &[ProcStat]) -> Vec<ProcStat> {
    let mut children: HashMap<i32, Vec<&ProcStat>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out: Vec<ProcStat> = procs.iter().filter(|p| p.pid == root).copied().collect();
    let mut i = 0;
    while i < out.len() {
        let pid = out[i].pid;
        if let Some(kids) = children.get(&pid) {
            out.extend(kids.iter().filter(|k| k.pid != root).map(|k| **k));
        }
        i += 1;
    }
    out
}

/// Samples one child's process tree; each call to [`Sampler::sample`] is one step.
pub struct Sampler {
    pid: i32,
    prefix: String,
    ticks_per_s: f64,
    page_bytes: f64,
    last: Option<(Instant, u64, u64)>,
    step: i64,
}

/// The metric names, after the prefix (`system/` or `system/<stage>/`).
pub const METRICS: &[&str] = &[
    "cpu_percent",
    "rss_mb",
    "tree_cpu_percent",
    "tree_rss_mb",
    "tree_processes",
    "host_memory_used_percent",
];

impl Sampler {
    /// A sampler for process `pid` whose metrics are named `<prefix><name>`; it reads a
    /// baseline at once so the first sample has a CPU figure.
    pub fn new(pid: i32, prefix: String) -> Self {
        #[expect(clippy::cast_precision_loss, reason = "small constants")]
        let (ticks, page) = (
            rustix::param::clock_ticks_per_second() as f64,
            rustix::param::page_size() as f64,
        );
        let mut s = Self {
            pid,
            prefix,
            ticks_per_s: if ticks > 0.0 { ticks } else { 100.0 },
            page_bytes: page,
            last: None,
            step: 0,
        };
        let procs = all_processes();
        let t = tree(pid, &procs);
        if let Some(root) = t.first() {
            s.last = Some((Instant::now(), root.own_ticks, tree_ticks(&t)));
        }
        s
    }

    /// One sample as metrics at the next step (nothing once the child is gone).
    pub fn sample(&mut self, now_ms: i64) -> Vec<Metric> {
        let procs = all_processes();
        let t = tree(self.pid, &procs);
        let Some(root) = t.first().copied() else {
            return Vec::new();
        };
        let now = Instant::now();
        let total = tree_ticks(&t);
        let mb = |pages: u64| {
            #[expect(clippy::cast_precision_loss, reason = "memory sizes fit a double")]
            let p = pages as f64;
            p * self.page_bytes / (1024.0 * 1024.0)
        };
        let mut values = vec![
            ("rss_mb", mb(root.rss_pages)),
            ("tree_rss_mb", mb(t.iter().map(|p| p.rss_pages).sum())),
            ("tree_processes", {
                #[expect(clippy::cast_precision_loss, reason = "a process count")]
                let n = t.len() as f64;
                n
            }),
        ];
        if let Some((then, own, all)) = self.last {
            let secs = now.duration_since(then).as_secs_f64();
            if secs > 0.0 {
                #[expect(clippy::cast_precision_loss, reason = "tick counts fit a double")]
                let pct = |d: u64| d as f64 / self.ticks_per_s / secs * 100.0;
                values.insert(0, ("cpu_percent", pct(root.own_ticks.saturating_sub(own))));
                values.insert(2, ("tree_cpu_percent", pct(total.saturating_sub(all))));
            }
        }
        if let Ok(text) = std::fs::read_to_string("/proc/meminfo")
            && let (Some(total), Some(avail)) = (
                crate::environment::meminfo_kb(&text, "MemTotal:"),
                crate::environment::meminfo_kb(&text, "MemAvailable:"),
            )
            && total > 0
        {
            #[expect(clippy::cast_precision_loss, reason = "memory sizes fit a double")]
            let used = (total.saturating_sub(avail)) as f64 / total as f64 * 100.0;
            values.push(("host_memory_used_percent", used));
        }
        self.last = Some((now, root.own_ticks, total));
        let step = self.step;
        self.step += 1;
        values
            .into_iter()
            .map(|(k, v)| Metric {
                key: format!("{}{k}", self.prefix),
                value: WireF64(v),
                timestamp: now_ms,
                step,
                dataset_name: None,
                dataset_digest: None,
                model_id: None,
                run_id: None,
            })
            .collect()
    }
}

/// The CPU a tree has used: every live process's own time plus what each has collected from
/// children it waited for (so a finished grandchild's time is not lost).
fn tree_ticks(t: &[ProcStat]) -> u64 {
    t.iter().map(|p| p.own_ticks + p.child_ticks).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 7 3 20 0 1 0 100 1000000 512 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            ProcStat {
                pid: 4242,
                ppid: 1,
                own_ticks: 300,
                child_ticks: 10,
                rss_pages: 512
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_tree_holds_descendants_only() {
        let p = |pid, ppid| ProcStat {
            pid,
            ppid,
            own_ticks: 1,
            child_ticks: 0,
            rss_pages: 1,
        };
        let procs = vec![p(1, 0), p(10, 1), p(11, 10), p(12, 11), p(20, 1), p(13, 10)];
        let mut got: Vec<i32> = tree(10, &procs).iter().map(|x| x.pid).collect();
        got.sort_unstable();
        assert_eq!(got, vec![10, 11, 12, 13]);
        assert!(tree(99, &procs).is_empty());
    }

    #[test]
    fn a_busy_child_is_measured() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 2000000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let mut s = Sampler::new(pid, "system/".into());
        std::thread::sleep(std::time::Duration::from_millis(500));
        let m = s.sample(1);
        let second = s.sample(2);
        let _ = child.kill();
        let _ = child.wait();
        let get = |k: &str| m.iter().find(|x| x.key == k).map(|x| x.value.0);
        assert!(get("system/cpu_percent").unwrap() > 10.0, "{m:?}");
        assert!(get("system/rss_mb").unwrap() > 0.0);
        assert!(get("system/tree_processes").unwrap() >= 1.0);
        assert!(m.iter().all(|x| x.step == 0));
        assert!(!second.is_empty() && second.iter().all(|x| x.step == 1));
        assert!(
            s.sample(3).is_empty(),
            "a finished child has nothing to sample"
        );
    }
}
