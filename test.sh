#!/usr/bin/env bash
# test.sh - builds tpipe and runs every test: a normal build, then the same
# suite under ASan+UBSan, under TSan, and the core tests under valgrind.
# Installs missing Debian packages first. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
tp_install_missing build-essential cmake pkg-config libcmocka-dev python3-dev valgrind

jobs=$(nproc)
passed=0
failed=0

# Runs ctest in build dir $1 with extra arguments; tallies the counts.
run_ctest() {
    local dir=$1
    shift
    local log
    log=$(mktemp)
    local rc=0
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j"$jobs" "$@") 2>&1 | tee "$log" || rc=1
    local line
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n1 || true)
    if [ -n "$line" ]; then
        local total bad
        total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
        bad=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
        passed=$((passed + total - bad))
        failed=$((failed + bad))
    else
        failed=$((failed + 1))
    fi
    rm -f "$log"
    return $rc
}

configure_and_build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DTP_BUILD_BENCH=ON "$@" >/dev/null
    cmake --build "$dir" -j"$jobs" >/dev/null
}

status=0
echo "== normal build"
configure_and_build build/test
run_ctest build/test || status=1

echo "== ASan + UBSan"
configure_and_build build/asan -DTP_SANITIZE=address,undefined -DTP_BUILD_PYTHON=OFF
ASAN_OPTIONS=detect_leaks=1 run_ctest build/asan -LE "python|install|bench" || status=1

echo "== TSan"
configure_and_build build/tsan -DTP_SANITIZE=thread -DTP_BUILD_PYTHON=OFF
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_ctest build/tsan -LE "python|install|bench" || status=1

echo "== valgrind (core tests)"
run_ctest build/test -L core -T memcheck \
    --overwrite MemoryCheckCommandOptions="--leak-check=full --error-exitcode=97 --errors-for-leak-kinds=definite,indirect" \
    || status=1

echo
echo "all runs: $passed passed, $failed failed"
exit $status
