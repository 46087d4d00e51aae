#!/usr/bin/env python3
"""make bench: every workload uninstrumented and under each tool, interleaved (A B C A B C ...) so the
machine's drift cancels; per workload the median slowdown against the uninstrumented run of the same
round, the peak RSS ratio, the output size, and for leakscope the metadata per live block, the sites and
the exit scan's pause and speed.  "sampled" is leakscope with LEAKSCOPE_SAMPLE (BENCH_SAMPLE, 512K).
Usage: compare.py BUILD_DIR [--rounds N] [--only NAME,...] [--scaling]"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time, glob, argparse

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")))
ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""))
ap.add_argument("--scaling", action="store_true")
args = ap.parse_args()
sample = os.environ.get("BENCH_SAMPLE", "512K")
build = os.path.abspath(args.build)
lib, tool, stress = f"{build}/libleakscope.so", f"{build}/leakscope", f"{build}/bench/stress"
stress_fp = f"{build}/bench/stress-fp"
work = tempfile.mkdtemp(prefix="leakscope-bench-")


def find_lsan():
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        if os.path.exists(f"{d}/liblsan.so.0"):
            return f"{d}/liblsan.so.0"
    return None


def setup_inputs():
    big = f"{work}/big.c"
    with open(big, "w") as f:
        for i in range(1500):
            f.write(f"struct s{i} {{ int a, b[{i % 7 + 1}]; double c; }};\n"
                    f"int f{i}(int x) {{ struct s{i} v = {{ x, {{ 0 }}, x * 0.5 }}; int r = 0;\n"
                    f"  for (int k = 0; k < x % 13; k++) r += v.a * k + (int)v.c + f{max(i - 1, 0)}(k);\n"
                    f"  switch (x & 3) {{ case 0: r ^= {i}; break; case 1: r += {i * 3}; break; default: r -= x; }}\n"
                    f"  return r; }}\n")
    py = f"{work}/churn.py"
    with open(py, "w") as f:
        f.write("d = {}\nfor i in range(300000):\n    d[str(i)] = [i, str(i) * 3, {'k': i}]\n"
                "    if i % 3 == 0: del d[str(i // 2)]\n"
                "s = sorted(d.keys())\nprint(len(d), len(''.join(s[:1000])))\n")
    sql = f"{work}/rows.sql"
    with open(sql, "w") as f:
        f.write("create table t(id integer primary key, name text, v real);\n"
                "with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000)\n"
                "insert into t select x, 'name' || x, x * 0.25 from c;\n"
                "create index ti on t(name);\n"
                "select count(*), sum(v) from t where name like 'name1%';\n"
                "select name from t order by v desc limit 3;\n")
    cc1 = subprocess.run(["gcc", "-print-prog-name=cc1"], capture_output=True, text=True).stdout.strip()
    return big, py, sql, cc1


big, py, sql, cc1 = setup_inputs()
# Debian's interpreter itself: a version manager's "python3" may be a shell script that runs several
# processes (each paying leakscope's start-up and exit dump) before the interpreter.
python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
env_py = {"PYTHONMALLOC": "malloc"}
# name: (argv, extra env, small enough for memcheck)
WORKLOADS = {
    "stress (1 thread, 64 frames)": ([stress, "1", "1000000", "64", "100000"], {}, False),
    "stress (2 threads, 64 frames)": ([stress, "2", "500000", "64", "100000"], {}, False),
    "stress with frame pointers (1 thread, 64 frames)": ([stress_fp, "1", "1000000", "64", "100000"], {}, False),
    "stress small (memcheck)": ([stress, "1", "50000", "32", "10000"], {}, True),
    "gcc -O1 -c (driver)": (["gcc", "-O1", "-c", big, "-o", f"{work}/big.o"], {}, False),
    "cc1 -O1": ([cc1, "-quiet", "-O1", big, "-o", f"{work}/big.s"], {}, False),
    "python3 dicts": ([python, py], env_py, False),
    "sqlite3 300k rows": (["sqlite3", ":memory:", open(sql).read()], {}, False),
    "perl hashes": (["perl", "-e", "my %h; $h{$_} = [$_, \"x$_\"] for 1..400000; "
                     "delete $h{$_} for grep { $_ % 3 } 1..200000; print scalar(keys %h), qq(\\n)"], {}, False),
}


def tools():
    t = {"plain": None, "leakscope": None, "sampled": None}
    t["heaptrack"] = None if shutil.which("heaptrack") else "heaptrack not installed"
    t["lsan"] = None if find_lsan() else "liblsan.so.0 not found"
    t["memcheck"] = None if shutil.which("valgrind") else "valgrind not installed"
    return t


def command(toolname, argv, extra, outdir):
    env = dict(os.environ, **extra)
    if toolname in ("leakscope", "sampled"):
        env.update(LD_PRELOAD=lib, LEAKSCOPE_OUT=outdir, LEAKSCOPE_QUIET="1")
        if toolname == "sampled":
            env.update(LEAKSCOPE_SAMPLE=sample)
        return argv, env
    if toolname == "heaptrack":
        return ["heaptrack", "--raw", "-o", f"{outdir}/heaptrack"] + argv, env
    if toolname == "lsan":
        env.update(LD_PRELOAD=find_lsan(), LSAN_OPTIONS="exitcode=0")
        return argv, env
    if toolname == "memcheck":
        return ["valgrind", "-q", "--leak-check=full", f"--log-file={outdir}/memcheck.txt"] + argv, env
    return argv, env


def run_once(toolname, argv, extra):
    outdir = tempfile.mkdtemp(dir=work)
    cmd, env = command(toolname, argv, extra, outdir)
    # Peak RSS through GNU time: a child forked from this (larger) Python process would report
    # Python's resident size as its own high-water mark.
    rssfile = f"{outdir}/.maxrss"
    cmd = ["/usr/bin/time", "-q", "-f", "%M", "-o", rssfile] + cmd
    with open(f"{outdir}/.stderr", "wb") as err:
        start = time.perf_counter()
        rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err).returncode
        wall = time.perf_counter() - start
    with open(rssfile) as f:
        rss = int(f.read().split()[-1]) * 1024
    size = sum(os.path.getsize(f) for f in glob.glob(f"{outdir}/*") if os.path.isfile(f))
    if toolname == "lsan":
        size += os.path.getsize(f"{outdir}/.stderr")
    return {"wall": wall, "rss": rss, "size": size, "rc": rc, "dir": outdir}


def leakscope_facts(outdir):
    dumps = sorted(glob.glob(f"{outdir}/leakscope.*.lsd"), key=os.path.getsize)
    if not dumps:
        return None
    j = json.loads(subprocess.run([tool, "report", "--format", "json", "--top", "0", dumps[-1]],
                                  capture_output=True, text=True).stdout)
    p, s = j["process"], j.get("scan") or {}
    walked = p.get("stacks_walked", 0)
    return {"walked_share": walked / max(walked + p.get("stacks_by_libunwind", 0), 1),
            # At rest: the scan's buffers are released once its dump is written.
            "meta": p["meta_bytes"] - p.get("scan_buffer_bytes", 0), "scan_buffers": p.get("scan_buffer_bytes", 0),
            "meta_per_block": (p["meta_bytes"] - p.get("scan_buffer_bytes", 0)) / max(p["live_blocks"], 1),
            "live": p["live_blocks"],
            "sites": p["sites"], "pause_ms": s.get("pause_ns", 0) / 1e6,
            "scan_mbps": s.get("bytes_scanned", 0) / max(s.get("total_ns", 1), 1) * 1e3}


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def bench(name, argv, extra, small, toolset):
    """Print the workload's table; returns leakscope's facts (leakscope_facts) or None."""
    names = [t for t, why in toolset.items() if why is None and (t != "memcheck" or small)]
    runs = {t: [] for t in names}
    for r in range(args.rounds):
        # Forward, then backward: a tool always run right after another pays that run's aftermath
        # (caches, the machine's clock), 2-4% measured on this machine; alternating cancels it.
        for t in (names if r % 2 == 0 else names[::-1]):
            runs[t].append(run_once(t, argv, extra))
    base = runs["plain"]
    print(f"\n{name}: plain {statistics.median(r['wall'] for r in base):.2f} s, "
          f"peak RSS {human(statistics.median(r['rss'] for r in base))}  ({args.rounds} rounds)")
    print(f"  {'tool':<10} {'slowdown':>9} {'peak RSS':>9} {'output':>10}")
    for t in names:
        if t == "plain":
            continue
        slow = statistics.median(r["wall"] / b["wall"] for r, b in zip(runs[t], base))
        rss = statistics.median(r["rss"] / b["rss"] for r, b in zip(runs[t], base))
        size = statistics.median(r["size"] for r in runs[t])
        bad = [r["rc"] for r in runs[t] if r["rc"] != base[0]["rc"]]
        note = f"  exit status {bad[0]} (plain: {base[0]['rc']})" if bad else ""
        print(f"  {t:<10} {slow:>8.2f}x {rss:>8.2f}x {human(size):>10}{note}")
    for t, why in toolset.items():
        if why is not None:
            print(f"  {t:<10} skipped: {why}")
        elif t == "memcheck" and not small:
            print(f"  {t:<10} skipped: only the small inputs (10-35x: minutes here)")
    f = leakscope_facts(runs["leakscope"][-1]["dir"]) if "leakscope" in runs else None
    if f:
        print(f"  leakscope: {human(f['meta'])} of metadata at rest (+{human(f['scan_buffers'])} of scan buffers "
              f"while its exit scan ran), {f['meta_per_block']:.0f} B per live block "
              f"({f['live']:,} live), {f['sites']:,} sites; exit scan paused the program {f['pause_ms']:.1f} ms, "
              f"scanned {f['scan_mbps']:.0f} MB/s; {f['walked_share']:.0%} of stacks walked by learnt frame rules")
    return f


toolset = tools()
only = [o.strip() for o in args.only.split(",") if o.strip()]
for name, (argv, extra, small) in WORKLOADS.items():
    if only and not any(o in name for o in only):
        continue
    bench(name, argv, extra, small, toolset)
    sys.stdout.flush()

if args.scaling:
    lean = {"plain": None, "leakscope": None}
    print("\nhow leakscope's cost grows (stress, slowdown vs plain):")
    for depth in (8, 32, 64, 128):
        bench(f"depth {depth}", [stress, "1", "500000", str(depth), "100000"], {}, False, lean)
    for threads in (1, 2, 4, 8):
        bench(f"threads {threads}", [stress, str(threads), str(800000 // threads), "32", "100000"], {},
                  False, lean)
    lives = (10000, 1000000) + ((10000000,) if os.environ.get("BENCH_FULL") else ())
    metas = []
    for live in lives:
        f = bench(f"live blocks {live:,}", [stress, "1", str(max(live, 500000)), "32", str(live)], {}, False, lean)
        if f:
            metas.append((f["live"], f["meta"]))
    for (l0, m0), (l1, m1) in zip(metas, metas[1:]):
        print(f"metadata per additional live block, {l0:,} -> {l1:,} live: {(m1 - m0) / (l1 - l0):.1f} B "
              f"(the fixed tables cancel out)")

shutil.rmtree(work, ignore_errors=True)
