#!/usr/bin/env bash
# test.sh - builds tpipe and runs every test. Installs missing Debian
# packages first. Passes, each a CTest run:
#   1. normal build: every suite (core, adapters, stress, races, timeouts,
#      oom, fuzz corpus replay, python, cli, examples, install, bench smoke,
#      the clang-format layout check),
#      the Doxygen docs with warnings as errors, and the Release build of
#      demo.sh (warnings are errors there too);
#   2. the same suites under ASan+UBSan;   3. under TSan;
#   4. the core and adapter suites under valgrind (leaks are errors);
#   5. libFuzzer (clang) for TP_FUZZ_SECONDS (default 120) seconds;
#   6. line and branch coverage of src/ (fails below 95% / 90%).
# Exits non-zero if anything failed; the last line sums up every pass.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/deps.sh
tp_install_missing build-essential cmake pkg-config libcmocka-dev python3-dev valgrind \
    libuv1-dev doxygen clang libclang-rt-14-dev lcov clang-format

jobs=$(nproc)
passed=0
failed=0
status=0

# Runs ctest in build dir $1 with extra arguments and tallies its counts.
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
        rc=1
    fi
    # ctest -T memcheck lists defects without failing: make them count.
    if grep -q "^Memory checking results:" "$log" &&
        sed -n '/^Memory checking results:/,$p' "$log" | grep -qE "^[A-Za-z ]+ - [0-9]+"; then
        echo "valgrind reported defects (see above)"
        failed=$((failed + 1))
        rc=1
    fi
    rm -f "$log"
    return $rc
}

# Configures and builds; a failure counts as a failed test and is shown.
configure_and_build() {
    local dir=$1
    shift
    if cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
        return 0
    fi
    tail -n 40 "$dir.build.log" 2>/dev/null || true
    echo "build failed: $dir"
    failed=$((failed + 1))
    status=1
    return 1
}

stage() { printf '\n== %s\n' "$*"; }

stage "1/6 normal build: every suite, and the docs"
mkdir -p build
configure_and_build build/test && { run_ctest build/test || status=1; }
if cmake --build build/test --target docs >/dev/null; then
    passed=$((passed + 1))
else
    echo "Doxygen reported warnings"
    failed=$((failed + 1))
    status=1
fi
# The Release build demo.sh makes: gcc -O3 warns where -O2 does not, and
# warnings are errors, so a clean test build does not prove the demo builds.
if configure_and_build build/release-check -DCMAKE_BUILD_TYPE=Release -DTP_BUILD_TESTS=OFF \
    -DTP_BUILD_PYTHON=OFF; then
    passed=$((passed + 1))
else
    status=1
fi

no_slow="python|install|bench|style"
stage "2/6 ASan + UBSan"
configure_and_build build/asan -DTP_SANITIZE=address,undefined -DTP_BUILD_PYTHON=OFF &&
    { ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_ctest build/asan -LE "$no_slow" || status=1; }

stage "3/6 TSan"
configure_and_build build/tsan -DTP_SANITIZE=thread -DTP_BUILD_PYTHON=OFF &&
    { TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        run_ctest build/tsan -LE "$no_slow" || status=1; }

stage "4/6 valgrind: core and adapter suites"
run_ctest build/test -L "core|adapters" -T memcheck \
    --overwrite MemoryCheckCommandOptions="--leak-check=full --error-exitcode=97 --errors-for-leak-kinds=definite,indirect" ||
    status=1

stage "5/6 libFuzzer for ${TP_FUZZ_SECONDS:-120} s (clang, ASan+UBSan)"
CC=clang configure_and_build build/libfuzzer -DTP_BUILD_FUZZ=ON -DTP_SANITIZE=address,undefined \
    -DTP_BUILD_BENCH=OFF -DTP_BUILD_PYTHON=OFF -DTP_BUILD_TOOLS=OFF -DTP_BUILD_EXAMPLES=OFF \
    -DTP_FUZZ_SECONDS="${TP_FUZZ_SECONDS:-120}" &&
    { run_ctest build/libfuzzer -L fuzz || status=1; }

stage "6/6 coverage of src/"
if scripts/coverage.sh build/coverage; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    status=1
fi

echo
echo "all passes: $passed passed, $failed failed"
exit $status
