#!/usr/bin/env bash
# demo.sh - the main job: builds tpipe (Release) and runs the demo that
# streams data between two threads through tpipe and a kernel pipe(2).
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
tp_install_missing build-essential cmake pkg-config

build=build/release
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTP_BUILD_TESTS=OFF -DTP_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target stream_demo >/dev/null
"$build/examples/stream_demo" "${1:-512}"
