#!/bin/sh
# Installs the Debian packages leakscope needs that are missing, and nothing else.
#   scripts/install-deps.sh build   compiler and libraries for `make`
#   scripts/install-deps.sh test    the above, plus what `make test` runs programs with
#   scripts/install-deps.sh bench   the above, plus the tools `make bench` compares against
# Run as root (or with sudo available). Prints one line per action.
set -eu

build="make gcc g++ libc6-dev pkg-config libunwind-dev uthash-dev libcriterion-dev libdw-dev libelf-dev zlib1g-dev"
test_extra="python3 perl sqlite3 valgrind golang-go chromium git"
bench_extra="time heaptrack liblsan0"

case "${1:-build}" in
    build) wanted="$build" ;;
    test)  wanted="$build $test_extra" ;;
    bench) wanted="$build $test_extra $bench_extra" ;;
    *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=""
for pkg in $wanted; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "leakscope: missing Debian packages:$missing; install them as root (apt-get install$missing)" >&2
    exit 1
fi
echo "leakscope: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
