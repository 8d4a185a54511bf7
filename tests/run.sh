#!/bin/sh
# Runs the test suites against one build directory and ends with one summary line:
#   total: N passed, N failed
# Usage: tests/run.sh BUILD [unit|integration]   (default: both)
# Unit tests are the cmocka binaries BUILD/tests/test_*; integration tests are pytest
# files in tests/integration, run with Debian's /usr/bin/python3 (pytest from python3-pytest).
build=${1:-build}; what=${2:-all}
upass=0; ufail=0; ipass=0; ifail=0; rc=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
if [ "$what" = all ] || [ "$what" = unit ]; then
    for t in "$build"/tests/test_*; do
        [ -x "$t" ] || continue
        trc=0
        "$t" >"$log" 2>&1 || { trc=1; rc=1; cat "$log"; }
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
        [ -n "$p" ] || p=0; [ -n "$f" ] || f=0
        if [ "$f" -eq 0 ] && [ $trc -ne 0 ]; then f=1; fi
        echo "unit $(basename "$t"): $p passed, $f failed"
        upass=$((upass + p)); ufail=$((ufail + f))
    done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
    POSTERN_BUILD=$(cd "$build" && pwd) /usr/bin/python3 -m pytest -q -rfE -p no:cacheprovider \
        tests/integration ${PYTEST_ARGS:-} 2>&1 | tee "$log"
    st=$(tail -1 "$log")
    count() { echo "$st" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' || echo 0; }
    ipass=$(count passed); f1=$(count failed); e1=$(count error)
    ifail=$((f1 + e1))
    if [ "$ifail" -ne 0 ] || [ "$ipass" -eq 0 ]; then rc=1; fi
fi
echo "total: $((upass + ipass)) passed, $((ufail + ifail)) failed"
exit $rc
