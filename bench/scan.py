#!/usr/bin/env python3
"""Scan benchmark: for each heap size, run bench/scan_heap under libleakscope.so and report, for
the scan of a fork()ed copy (snapshot signal, the program keeps running) and the scan in place (at
exit), how long the program was stopped and how fast memory was scanned.  Two graphs: "table", a
random pointer graph held through one table (its exit scan finds it reachable), and "chain", the
same blocks in one list in a random order (reachable at the snapshot, leaked at exit), which the
scan follows one pointer at a time.

usage: scan.py BUILD_DIR [N ...]    (default sizes: 10000 100000 1000000)
"""
import glob
import json
import os
import subprocess
import sys
import tempfile


def scan_of(tool, dump):
    out = subprocess.run([tool, "report", "--format", "json", "--top", "1", dump],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["scan"]


def main(argv):
    build = argv[1]
    sizes = [int(a) for a in argv[2:]] or [10000, 100000, 1000000]
    tool, lib, prog = (os.path.join(build, p) for p in ("leakscope", "libleakscope.so", "bench/scan_heap"))
    print(f"{'graph':>5} {'blocks':>9} {'scan':>8} {'paused ms':>10} {'ms/100k':>8} {'scan ms':>8} {'MB scanned':>10} "
          f"{'MB/s':>7}")
    for graph, n in [(g, n) for g in ("table", "chain") for n in sizes]:
        with tempfile.TemporaryDirectory() as out:
            env = dict(os.environ, LD_PRELOAD=lib, LEAKSCOPE_OUT=out, LEAKSCOPE_QUIET="1", LEAKSCOPE_LOG="/dev/null")
            subprocess.run([prog, str(n), graph], env=env, check=True, stdout=subprocess.DEVNULL)
            dumps = sorted(glob.glob(os.path.join(out, "leakscope.*.lsd")),
                           key=lambda p: int(p.rsplit(".", 2)[-2]))
            for dump in dumps:
                s = scan_of(tool, dump)
                mode = "fork" if s.get("in_copy") else "in place"
                scan_ms = s["total_ns"] / 1e6
                mb = s["bytes_scanned"] / 1e6
                rate = mb / (scan_ms / 1e3) if scan_ms else 0
                print(f"{graph:>5} {n:>9} {mode:>8} {s['pause_ns'] / 1e6:>10.1f} {s['pause_ns'] / 1e6 / n * 1e5:>8.2f} "
                      f"{scan_ms:>8.1f} {mb:>10.1f} {rate:>7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
