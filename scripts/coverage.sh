#!/bin/sh
# coverage.sh - line and branch coverage of src/: builds tpipe with gcc
# --coverage, runs the test suite (core and reliability tests, with short
# stress knobs), and reports with lcov: totals on stdout, an HTML report, and
# the list of uncovered branches (file:line) that docs/coverage.md explains.
#
# Usage: scripts/coverage.sh [BUILD_DIR]   (default: build-coverage)
# Env:   TP_STRESS_OPS (default 20000), TP_COVERAGE_CTEST_ARGS (extra ctest
#        arguments, e.g. "-L core"), CC (must be gcc-compatible for gcov),
#        TP_COVERAGE_MIN_LINES / TP_COVERAGE_MIN_BRANCHES (default 95 / 90):
#        the script exits non-zero below them, or if a test failed.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-coverage}
mkdir -p "$build"
build=$(cd "$build" && pwd) # absolute: later steps run from other folders
rc="--rc lcov_branch_coverage=1"

cmake -S "$root" -B "$build" -DTP_COVERAGE=ON -DTP_BUILD_PYTHON=OFF \
    -DTP_BUILD_BENCH=OFF -DTP_BUILD_EXAMPLES=OFF -DTP_BUILD_FUZZ=OFF \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-fprofile-update=atomic" >/dev/null
cmake --build "$build" -j2 >/dev/null
lcov -q --zerocounters -d "$build"

# Test failures are reported but do not stop the report.
status=0
(cd "$build" && TP_STRESS_OPS=${TP_STRESS_OPS:-20000} TP_RACES_ROUNDS=${TP_RACES_ROUNDS:-20} \
    ctest -j2 -LE install ${TP_COVERAGE_CTEST_ARGS:-} >"$build/coverage-ctest.log" 2>&1) ||
    status=$?
tail -n 3 "$build/coverage-ctest.log"

lcov -q $rc --capture -d "$build" -o "$build/coverage.all.info" 2>/dev/null
lcov -q $rc --extract "$build/coverage.all.info" "$root/src/*" -o "$build/coverage.info"
genhtml -q $rc --branch-coverage -o "$build/coverage-html" "$build/coverage.info" >/dev/null
echo "coverage of src/ (HTML: $build/coverage-html/index.html):"
summary=$(lcov $rc --summary "$build/coverage.info" 2>&1)
echo "$summary" | grep -E "lines|functions|branches"

# Uncovered branches: BRDA:<line>,<block>,<branch>,<taken> with taken 0 or -.
echo "uncovered branches (file:line: count):"
awk -F'[:,]' -v root="$root/" '
    /^SF:/ { file = substr($0, 4); sub(root, "", file) }
    /^BRDA:/ { if ($5 == "0" || $5 == "-") miss[file ":" $2]++ }
    END { for (k in miss) print "  " k ": " miss[k] }' "$build/coverage.info" |
    sort -t: -k1,1 -k2,2n

pct() { echo "$summary" | grep "$1" | sed -E 's/[^0-9]*([0-9.]+)%.*/\1/'; }
lines=$(pct "lines"); branches=$(pct "branches")
if ! awk -v l="$lines" -v b="$branches" -v ml="${TP_COVERAGE_MIN_LINES:-95}" \
        -v mb="${TP_COVERAGE_MIN_BRANCHES:-90}" 'BEGIN { exit !(l >= ml && b >= mb) }'; then
    echo "coverage below ${TP_COVERAGE_MIN_LINES:-95}% lines / ${TP_COVERAGE_MIN_BRANCHES:-90}% branches" >&2
    [ $status -ne 0 ] || status=3
fi
[ $status -eq 0 ] || echo "coverage.sh: failing (see $build/coverage-ctest.log)" >&2
exit $status
