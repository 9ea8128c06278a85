#!/usr/bin/env python3
"""Data benchmark: `sextant data` against `dvc` on identical fresh trees, in the same run.

Run through `bench/run data [--quick]` (which prepares .venv with the pinned dvc from
bench/requirements-data.txt); `bench/run data --help` lists the options.

Workloads, in order, each timed for both tools before the next starts (the tools alternate, so
background noise spreads over both):

  add     `add big.bin small` on a fresh repository: one large file plus a directory of many
          small files (full size: 1 GiB and 20,000 files);
  status  a no-change `status` of that repository, warm: after one untimed status, the median
          of a few timed ones;
  push    `push small.dvc` (the small files and their manifest) to an empty local remote;
  pull    `pull small.dvc` in a fresh `git clone` of the repository (empty cache).

Each tool gets its own copy of one generated source tree (same bytes, same layout), its own git
repository (initialised by the tool itself: `dvc init` / `sextant data init`), its own remote and
its own clone. `sync` runs before every timed command (so one tool's write-back does not land in
the other's timing); with --drop-caches the page cache is also dropped before each timed add,
push and pull, for both tools alike. After each workload the results are checked: the pointer
files are byte-identical between the tools and carry the hashes computed here independently, the
caches and remotes hold exactly the expected objects, status reports nothing changed, and every
pulled file has the bytes of the source. A fast wrong answer fails the run; there is never a
timing threshold.
"""

import argparse
import datetime
import hashlib
import importlib.metadata
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench as tracking  # bench/bench.py: machine info, CPU sampling, the sextant binary

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
TOOLS = ("dvc", "sextant")
WORKLOADS = ("add", "status", "push", "pull")
GOAL = 5.0  # the speed-up issue 7 asks for on every workload

MODES = {
    "full": dict(big_mib=1024, small_files=20_000, dirs=100, status_runs=3, timeout=900),
    "quick": dict(big_mib=32, small_files=500, dirs=10, status_runs=1, timeout=300),
}
SMALL_MIN, SMALL_MAX = 256, 8192  # bytes per small file (uniform)
SEED = 20261202


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------- the source tree
def generate_source(dst, cfg):
    """Write big.bin and small/dNNN/fNNNNN.bin under `dst` (deterministic bytes) and return what
    a correct tool must record: md5 of every file, the directory's manifest id, sizes."""
    rng = random.Random(SEED)
    dst.mkdir(parents=True)
    big = hashlib.md5()
    chunk = 16 << 20
    left = cfg["big_mib"] << 20
    with open(dst / "big.bin", "wb") as f:
        while left:
            n = min(chunk, left)
            b = rng.randbytes(n)
            big.update(b)
            f.write(b)
            left -= n
    small = {}
    total = 0
    per_dir = -(-cfg["small_files"] // cfg["dirs"])
    for i in range(cfg["small_files"]):
        rel = f"d{i // per_dir:03d}/f{i:05d}.bin"
        p = dst / "small" / rel
        if i % per_dir == 0:
            p.parent.mkdir(parents=True, exist_ok=True)
        b = rng.randbytes(rng.randint(SMALL_MIN, SMALL_MAX))
        p.write_bytes(b)
        small[rel] = hashlib.md5(b).hexdigest()
        total += len(b)
    # The manifest as DVC serialises it: json.dumps(sorted entries, sort_keys=True).
    entries = [{"md5": small[r], "relpath": r} for r in sorted(small)]
    dir_oid = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"
    return {"big_md5": big.hexdigest(), "big_size": cfg["big_mib"] << 20, "small": small,
            "small_size": total, "dir_oid": dir_oid}


def copy_tree(src, dst):
    dst.mkdir(parents=True)
    shutil.copyfile(src / "big.bin", dst / "big.bin")
    shutil.copytree(src / "small", dst / "small")


def listing(base):
    """{object id: (size, mode)} of a cache or remote folder (`files/md5/xx/yyyy...`)."""
    out = {}
    top = base / "files" / "md5"
    if not top.is_dir():
        return out
    for prefix in os.scandir(top):
        if not prefix.is_dir():
            continue
        for obj in os.scandir(prefix.path):
            st = obj.stat()
            out[prefix.name + obj.name] = (st.st_size, st.st_mode & 0o777)
    return out


# --------------------------------------------------------------------------- running the tools
class Tool:
    def __init__(self, name, sextant_bin, base, env):
        self.name = name
        self.sextant_bin = sextant_bin
        self.dir = base / name
        self.repo = self.dir / "repo"
        self.remote = self.dir / "remote"
        self.clone = self.dir / "clone"
        self.env = env

    def argv(self, *args):
        if self.name == "dvc":
            return [str(VENV_BIN / "dvc"), *args]
        return [str(self.sextant_bin), "data", *args]


def run(argv, cwd, env, timeout):
    """Run a command to completion: (exit code, stdout, stderr, wall s, CPU s of the whole
    process tree). Stopped by its process group (started here, in a session of its own) on
    timeout. (No peak RSS: Linux carries the forking Python's high-water mark across exec.)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        killed = threading.Event()

        def kill():
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, _ = os.wait4(proc.pid, 0)  # blocking: no polling delay in the timing
        except BaseException:  # interrupted: stop what we started (its own process group)
            kill()
            os.wait4(proc.pid, 0)
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if killed.is_set():
        stderr += f"\n(killed after {timeout}s)"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, stdout, stderr, wall, cpu


def must(argv, cwd, env, timeout=300):
    rc, out, err, *_ = run(argv, cwd, env, timeout)
    if rc != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({rc}):\n{out[-2000:]}\n{err[-2000:]}")
    return out


class PageCache:
    def __init__(self, drop):
        self.drop = drop

    def settle(self, drop=True):
        """Untimed, before every timed command: write back dirty pages; optionally drop clean
        ones too (the same for both tools)."""
        os.sync()
        if self.drop and drop:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")

    @staticmethod
    def can_drop():
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("1\n")
            return True, ""
        except OSError as e:
            return False, str(e)


def timed(tool, argv, cwd, cfg, cache, drop=True):
    cache.settle(drop)
    busy = tracking.cpu_busy(0.3)
    rc, out, err, wall, cpu = run(argv, cwd, tool.env, cfg["timeout"])
    res = {"command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv)),
           "seconds": wall, "cpu_seconds": cpu, "exit_code": rc,
           "machine_busy_before": busy}
    if rc != 0:
        res["error"] = f"exit {rc}: {(out + err).strip()[-1500:]}"
    return res, out


# --------------------------------------------------------------------------- workloads
def setup(tool, src):
    """Fresh copy of the source tree, a git repository initialised by the tool, a remote."""
    copy_tree(src, tool.repo)
    must(["git", "init", "-q", "-b", "main"], tool.repo, tool.env)
    must(tool.argv("init", *(["-q"] if tool.name == "dvc" else [])), tool.repo, tool.env)
    must(tool.argv("remote", "add", "-d", "store", str(tool.remote)), tool.repo, tool.env)
    must(["git", "add", ".dvc/config", ".dvc/.gitignore", ".dvcignore"], tool.repo, tool.env)
    must(["git", "commit", "-qm", "init"], tool.repo, tool.env)


def workload_add(tool, cfg, cache, expect):
    res, _ = timed(tool, tool.argv("add", "big.bin", "small"), tool.repo, cfg, cache)
    if "error" in res:
        return res
    problems = []
    for name, want in (("big.bin.dvc", expect["big_md5"]), ("small.dvc", expect["dir_oid"])):
        text = (tool.repo / name).read_text()
        if f"md5: {want}\n" not in text:
            problems.append(f"{name} does not record md5 {want}: {text!r}")
    objs = listing(tool.repo / ".dvc" / "cache")
    want = set(expect["small"].values()) | {expect["big_md5"], expect["dir_oid"]}
    if set(objs) != want:
        problems.append(f"cache holds {len(objs)} objects, {len(set(objs) - want)} unexpected, "
                        f"{len(want - set(objs))} missing (want {len(want)})")
    if objs.get(expect["big_md5"], (None,))[0] != expect["big_size"]:
        problems.append(f"cache object of big.bin has size {objs.get(expect['big_md5'])}")
    res["problems"] = problems
    # Committed, so that the clone of the pull workload gets the pointer files.
    must(["git", "add", "big.bin.dvc", "small.dvc", ".gitignore"], tool.repo, tool.env)
    must(["git", "commit", "-qm", "data"], tool.repo, tool.env)
    return res


def workload_status(tool, cfg, cache, expect):
    argv = tool.argv("status")
    first, out = timed(tool, argv, tool.repo, cfg, cache, drop=False)  # warms the stat caches
    if "error" in first:
        return first
    runs = []
    problems = []
    for _ in range(cfg["status_runs"]):
        r, out = timed(tool, argv, tool.repo, cfg, cache, drop=False)
        if "error" in r:
            return r
        if "Data and pipelines are up to date." not in out:
            problems.append(f"a no-change status reported changes: {out.strip()[:500]!r}")
        runs.append(r)
    return {"command": first["command"], "first_seconds": first["seconds"],
            "runs": [r["seconds"] for r in runs],
            "seconds": statistics.median(r["seconds"] for r in runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "machine_busy_before": max(r["machine_busy_before"] for r in runs),
            "exit_code": 0, "problems": problems}


def workload_push(tool, cfg, cache, expect):
    res, _ = timed(tool, tool.argv("push", "small.dvc"), tool.repo, cfg, cache)
    if "error" in res:
        return res
    objs = listing(tool.remote)
    want = set(expect["small"].values()) | {expect["dir_oid"]}
    res["problems"] = [] if set(objs) == want else [
        f"remote holds {len(objs)} objects, {len(set(objs) - want)} unexpected, "
        f"{len(want - set(objs))} missing (want {len(want)})"]
    res["remote_modes"] = sorted({oct(m) for _, m in objs.values()})
    return res


def workload_pull(tool, cfg, cache, expect):
    must(["git", "clone", "-q", str(tool.repo), str(tool.clone)], tool.dir, tool.env)
    res, _ = timed(tool, tool.argv("pull", "small.dvc"), tool.clone, cfg, cache)
    if "error" in res:
        return res
    problems = []
    base = tool.clone / "small"
    seen = 0
    for dirpath, _, files in os.walk(base):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, base)
            seen += 1
            with open(p, "rb") as fh:
                got = hashlib.md5(fh.read()).hexdigest()
            if expect["small"].get(rel) != got:
                problems.append(f"pulled small/{rel} has md5 {got}, want {expect['small'].get(rel)}")
    if seen != len(expect["small"]):
        problems.append(f"pulled {seen} files, want {len(expect['small'])}")
    objs = listing(tool.clone / ".dvc" / "cache")
    want = set(expect["small"].values()) | {expect["dir_oid"]}
    if set(objs) != want:
        problems.append(f"the clone's cache holds {len(objs)} objects, want {len(want)}")
    if (tool.clone / "big.bin").exists():
        problems.append("big.bin was pulled although only small.dvc was asked for")
    res["problems"] = problems[:20]
    return res


WORKLOAD_FUNCS = {"add": workload_add, "status": workload_status, "push": workload_push,
                  "pull": workload_pull}


def cross_checks(tools_by_name, done):
    """What must be identical between the two tools' repositories."""
    if set(tools_by_name) != set(TOOLS):
        return []
    d, x = tools_by_name["dvc"], tools_by_name["sextant"]
    problems = []
    if "add" in done:
        for name in ("big.bin.dvc", "small.dvc", ".gitignore", ".dvc/config", ".dvc/.gitignore",
                     ".dvcignore"):
            a, b = d.repo / name, x.repo / name
            # The remotes' folders differ (one per tool); everything else must be identical.
            same = a.is_file() and b.is_file() and (
                a.read_bytes().replace(bytes(d.remote), b"REMOTE")
                == b.read_bytes().replace(bytes(x.remote), b"REMOTE"))
            if not same:
                problems.append(f"add: {name} differs between dvc and sextant")
        if listing(d.repo / ".dvc" / "cache") != listing(x.repo / ".dvc" / "cache"):
            problems.append("add: the caches differ (object names, sizes or modes)")
    if "push" in done and set(listing(d.remote)) != set(listing(x.remote)):
        problems.append("push: the remotes hold different objects")
    return problems


# --------------------------------------------------------------------------- reporting
def render(results, cfg, tools):
    n = f"{cfg['small_files']:,}"
    big = f"{cfg['big_mib'] / 1024:g} GiB" if cfg["big_mib"] >= 1024 else f"{cfg['big_mib']} MiB"
    labels = {
        "add": f"add a {big} file + {n} small files (s)",
        "status": f"no-change status, warm, median of {cfg['status_runs']} (s)",
        "push": f"push {n} small files to a local remote (s)",
        "pull": f"pull {n} small files into a fresh clone (s)",
    }
    table = [("workload", "metric", "dvc", "sextant", "ratio")]
    rows = []
    for w in results:
        for metric, key, hb, fmt in ((labels[w], "seconds", False, "{:.2f}"),
                                     ("  CPU time, all processes (s)", "cpu_seconds", None, "{:.2f}")):
            v = {t: (results[w].get(t) or {}).get(key) for t in TOOLS}
            r = tracking.ratio(v["dvc"], v["sextant"], hb) if all(t in tools for t in TOOLS) else None
            table.append((w, metric, *(fmt.format(v[t]) if v[t] is not None else "-" for t in TOOLS),
                          f"{r:.1f}x" if r is not None else ""))
            rows.append({"workload": w, "metric": metric, "dvc": v["dvc"], "sextant": v["sextant"],
                         "higher_is_better": hb, "speedup": r})
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = []
    for i, row in enumerate(table):
        lines.append("  ".join(c.ljust(widths[j]) if j < 2 else c.rjust(widths[j])
                               for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines), rows


def versions(sextant_bin):
    try:
        v = tracking.versions(sextant_bin)  # sextant --version, git commit (+ mlflow: dropped)
    except importlib.metadata.PackageNotFoundError:
        v = {"python": sys.version.split()[0]}
    for k in ("mlflow", "requests"):
        v.pop(k, None)
    v["dvc"] = importlib.metadata.version("dvc")
    return v


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(
        prog="bench/run data",
        description="Benchmark `sextant data` against `dvc` on identical fresh trees: add, "
                    "no-change status, push and pull (in that order; each needs the one before).")
    ap.add_argument("--quick", action="store_true",
                    help="small trees (< 1 min): every workload completes and checks out; "
                         "no timing thresholds (a full run has none either)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of dvc,sextant")
    ap.add_argument("--big-mib", type=int, help="size of the large file (default 1024; 32 quick)")
    ap.add_argument("--small-files", type=int, help="number of small files (default 20000; 500 quick)")
    ap.add_argument("--status-runs", type=int, help="timed no-change status runs (median reported)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="drop the page cache (as root: /proc/sys/vm/drop_caches) before every "
                         "timed add, push and pull, for both tools; default: only `sync`")
    ap.add_argument("--out", help="where to write the JSON results")
    ap.add_argument("--keep", action="store_true", help="keep the trees, repositories and remotes")
    args = ap.parse_args()

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    mode = "quick" if args.quick else "full"
    cfg = dict(MODES[mode])
    for k in ("big_mib", "small_files", "status_runs"):
        if getattr(args, k) is not None:
            cfg[k] = max(1, getattr(args, k))
    cfg["dirs"] = min(cfg["dirs"], cfg["small_files"])
    if args.drop_caches:
        ok, why = PageCache.can_drop()
        if not ok:
            ap.error(f"--drop-caches: cannot write /proc/sys/vm/drop_caches: {why}")
    cache = PageCache(args.drop_caches)

    signal.signal(signal.SIGTERM, lambda s, _f: sys.exit(128 + s))
    signal.signal(signal.SIGHUP, lambda s, _f: sys.exit(128 + s))
    sextant_bin, bin_src = tracking.find_sextant(args.quick) if "sextant" in tools else (None, None)
    started = datetime.datetime.now().astimezone()
    machine = tracking.machine_info()
    machine["loadavg_before"] = os.getloadavg()
    vers = versions(sextant_bin)
    log(f"Sextant data benchmark ({mode} mode), {started:%Y-%m-%d %H:%M %Z}")
    log(f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine.get('memory_gb', '?')} GB RAM, Linux {machine['kernel']}; load average "
        + " ".join(f"{x:.2f}" for x in machine["loadavg_before"]))
    log(f"versions: dvc {vers['dvc']}"
        + (f", {vers.get('sextant')} ({bin_src}: {sextant_bin})" if sextant_bin else "")
        + (f", commit {vers['git_commit']}" if vers.get("git_commit") else ""))

    base = Path(tempfile.mkdtemp(prefix="sextant-bench-data-"))
    env = dict(os.environ, DVC_NO_ANALYTICS="1", NO_COLOR="1",
               DVC_SITE_CACHE_DIR=str(base / "dvc-site-cache"),
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.invalid")
    fstype = "?"
    try:
        fstype = subprocess.run(["stat", "-f", "-c", "%T", str(base)], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        pass
    results = {w: {} for w in WORKLOADS}
    problems = []
    by_name = {}
    try:
        t = time.monotonic()
        expect = generate_source(base / "source", cfg)
        log(f"tree: big.bin ({cfg['big_mib']:,} MiB) + small/ ({cfg['small_files']:,} files in "
            f"{cfg['dirs']} folders, {expect['small_size'] / 1e6:.1f} MB), generated in "
            f"{time.monotonic() - t:.1f}s under {base} ({fstype}); cache.type: the default "
            f"(reflink,copy) for both")
        log("page cache: " + ("dropped before every timed add, push and pull (sync; echo 3 > "
                              "/proc/sys/vm/drop_caches), for both tools" if args.drop_caches
                              else "warm; `sync` before every timed command, for both tools"))
        for name in tools:
            by_name[name] = Tool(name, sextant_bin, base, env)
            setup(by_name[name], base / "source")
        log("")
        done = []
        for w in WORKLOADS:
            for name in tools:
                tool = by_name[name]
                try:
                    r = WORKLOAD_FUNCS[w](tool, cfg, cache, expect)
                except Exception as e:  # noqa: BLE001 - recorded, reported, fails the run
                    r = {"error": f"{type(e).__name__}: {e}"}
                results[w][name] = r
                if "error" in r:
                    problems.append(f"{w}/{name}: {r['error']}")
                    log(f"  {w:6} {name:8} FAILED: {r['error'][:300]}")
                else:
                    problems += [f"{w}/{name}: {p}" for p in r.get("problems", [])]
                    log(f"  {w:6} {name:8} {r['seconds']:8.2f}s"
                        + ("  CHECK FAILED" if r.get("problems") else "  checked"))
            done.append(w)
            if any("error" in results[w][n] for n in tools):
                log(f"  stopping: {w} failed, and the workloads after it build on it")
                break
        problems += cross_checks(by_name, done)
    finally:
        if args.keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    results = {w: r for w, r in results.items() if r}
    text, rows = render(results, cfg, tools)
    log("")
    log(text)
    notes = []
    for row in rows if mode == "full" else []:  # the goal is about the full-size trees
        if row["speedup"] is not None and row["higher_is_better"] is False:
            notes.append(f"{row['workload']}: {row['speedup']:.1f}x "
                         + ("meets" if row["speedup"] >= GOAL else "is below")
                         + f" the {GOAL:g}x goal")
    disturbed = sorted({f"{w}/{t} ({r[t]['machine_busy_before']:.0%})" for w, r in results.items()
                        for t in r if (r[t].get("machine_busy_before") or 0) > 0.2})
    if disturbed:
        notes.append("the machine was busy with other work before " + ", ".join(disturbed)
                     + "; rerun on an idle machine for figures worth quoting")
    notes.append("ratio = dvc's time / sextant's (Sextant's speed-up); rows without a ratio are "
                 "informational")
    log("")
    for n_ in notes:
        log("note: " + n_)

    for w, r in results.items():
        for t in tools:
            s = (r.get(t) or {}).get("seconds")
            if t in r and "error" not in r[t] and not (isinstance(s, float) and 0 < s < float("inf")):
                problems.append(f"{w}/{t}: seconds = {s!r}")
    doc = {"schema": 1, "suite": "data", "mode": mode,
           "started": started.isoformat(timespec="seconds"),
           "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": "bench/run data " + " ".join(sys.argv[1:]),
           "machine": machine, "versions": vers, "filesystem": fstype,
           "page_cache": "dropped before each timed add/push/pull" if args.drop_caches else "warm, sync before each timed command",
           "config": cfg | {"small_bytes": [SMALL_MIN, SMALL_MAX], "seed": SEED},
           "tools": tools, "table": rows, "results": results, "notes": notes, "problems": problems}
    if args.out:
        out = Path(args.out)
    else:
        date = started.strftime("%Y-%m-%d")
        out = RESULTS_DIR / (f"quick-{date}-data.json" if args.quick else f"{date}-data.json")
    return tracking.write_results(doc, out, problems,
                                  "every workload completed and checked out" if args.quick else "")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench data: interrupted", file=sys.stderr)
        sys.exit(130)
