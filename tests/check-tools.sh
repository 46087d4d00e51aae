#!/bin/sh
# Every leakscope command (argument 2), run through a checker (argument 1: a valgrind command line, or
# "" for a tool built with ASan and UBSan), over dumps written by the normal preload (argument 3) of the
# test programs (argument 4).  Any report of the checker fails: each command must exit 0 (2 for bad input).
set -eu
checker=$1 tool="$1 $2" lib=$3 progs=$4
label=${checker%% *}
label=${label:-asan}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# "sampled": widgets again with LEAKSCOPE_SAMPLE (estimates, no scan).
for prog in "leaks tree" "widgets" "mappings" "threads" "cxx_objects" "sampled"; do
    set -- $prog
    out="$dir/$1"
    mkdir -p "$out"
    if [ "$1" = sampled ]; then
        set -- widgets
        sample=4K
    else
        sample=0
    fi
    LD_PRELOAD=$lib LEAKSCOPE_OUT=$out LEAKSCOPE_QUIET=1 LEAKSCOPE_INTERVAL=0.01 LEAKSCOPE_SAMPLE=$sample \
        "$progs/$@" > /dev/null
    dump=$(ls "$out"/leakscope.*.lsd | head -1)
    for cmd in "report --top 0" "report --leaks" "report --format json --top 0" "report --leaks --format json" \
               "report --timeline" "report --timeline --format json" "flame" "flame --sample alloc_objects"; do
        rc=0
        $tool $cmd "$dump" > /dev/null 2> "$dir/err" || rc=$?
        # A sampled dump has no scan: --leaks refuses it with status 2 and one line.
        if [ "$rc" -ne 0 ] && ! { [ "$rc" -eq 2 ] && [ "${out##*/}" = sampled ] && [ "${cmd#report --leaks}" != "$cmd" ]; }; then
            echo "$label: ${out##*/}: $cmd: status $rc"; cat "$dir/err"; exit 1
        fi
    done
    $tool pprof "$dump" -o "$out/p.pb.gz"
    $tool html "$dump" -o "$out/r.html"
    $tool diff "$dump" "$dump" > /dev/null
    echo "$label: ${out##*/}: every command clean"
done
# Damaged input: truncated and bit-flipped dumps are refused with status 2, never a sanitizer report.
dump=$(ls "$dir"/widgets/leakscope.*.lsd | head -1)
size=$(stat -c %s "$dump")
for cut in 10 100 1000 $((size / 2)) $((size - 1)); do
    head -c "$cut" "$dump" > "$dir/cut.lsd"
    rc=0
    $tool report "$dir/cut.lsd" > /dev/null 2> "$dir/err" || rc=$?
    if [ "$rc" -ne 2 ]; then echo "$label: a dump cut at $cut bytes: status $rc, not 2 (refused)"; cat "$dir/err"; exit 1; fi
done
echo "$label: damaged dumps refused cleanly"
