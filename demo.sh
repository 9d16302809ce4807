#!/usr/bin/env bash
# demo.sh - the main job: builds tpipe (Release), streams a few hundred MB
# between two threads through tpipe and a kernel pipe(2), then runs the
# benchmark suite (tpbench) against kernel pipes, socketpair and a naive
# ring, writing a table, CSV and a PNG chart to build/release/bench-results,
# and finally measures the machine's own limits between two threads
# (tpfloor: a cache line's round trip, a ping-pong through bare rings, bare
# lock-free byte and zero-copy rings, and the latter with tpipe's zero-copy
# design added one feature at a time).
# Extra arguments go to tpbench (e.g. --quick, --runs=3, --workload=small).
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
tp_install_missing build-essential cmake pkg-config gnuplot-nox

build=build/release
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTP_BUILD_TESTS=OFF \
    -DTP_BUILD_PYTHON=OFF -DTP_BUILD_TOOLS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target stream_demo tpbench tpfloor >/dev/null

echo "== demo: producer thread -> consumer thread"
"$build/examples/stream_demo" 512
echo
echo "== benchmark (a few minutes; progress on stderr)"
bench/run.sh --tpbench "$build/bench/tpbench" --out "$build/bench-results" "$@"
echo
echo "== this machine's own limits, for proportion (no library involved)"
"$build/bench/tpfloor"
