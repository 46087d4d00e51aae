#!/bin/sh
# Every leakscope command, built with ASan and UBSan (argument 1), over dumps written by the
# normal preload (argument 2) of the test programs (argument 3).  Any sanitizer report fails.
set -eu
tool=$1 lib=$2 progs=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for prog in "leaks tree" "widgets" "mappings" "threads" "cxx_objects"; do
    set -- $prog
    out="$dir/$1"
    mkdir -p "$out"
    LD_PRELOAD=$lib LEAKSCOPE_OUT=$out LEAKSCOPE_QUIET=1 LEAKSCOPE_INTERVAL=0.01 "$progs/$@" > /dev/null
    dump=$(ls "$out"/leakscope.*.lsd | head -1)
    for cmd in "report --top 0" "report --leaks" "report --format json --top 0" "report --leaks --format json" \
               "report --timeline" "report --timeline --format json" "flame" "flame --sample alloc_objects"; do
        $tool $cmd "$dump" > /dev/null
    done
    $tool pprof "$dump" -o "$out/p.pb.gz"
    $tool html "$dump" -o "$out/r.html"
    $tool diff "$dump" "$dump" > /dev/null
    echo "asan: $1: every command clean"
done
# Damaged input: truncated and bit-flipped dumps are refused with status 2, never a sanitizer report.
dump=$(ls "$dir"/widgets/leakscope.*.lsd | head -1)
size=$(stat -c %s "$dump")
for cut in 10 100 1000 $((size / 2)) $((size - 1)); do
    head -c "$cut" "$dump" > "$dir/cut.lsd"
    if $tool report "$dir/cut.lsd" > /dev/null 2>&1; then echo "asan: a dump cut at $cut bytes was accepted"; exit 1; fi
done
echo "asan: damaged dumps refused cleanly"
