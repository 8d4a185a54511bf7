#!/bin/sh
# Builds and runs libFuzzer targets, one line of output per target.
# Usage: sh tests/fuzz/run.sh SECONDS tests/fuzz/fuzz_X.c ...   (from the repository root)
#
# Each target's first line names the library sources it needs:
#   // fuzz-sources: lib/smtp_parse.c
# fuzz_X.c is built into build-fuzz/fuzz_X with clang and ASan + UBSan, and run for
# SECONDS on a temporary copy of tests/fuzz/corpus/X/ (the seeds in the repository are
# never modified). UBSan findings stop the run like crashes do. A crashing input is saved
# as build-fuzz/fuzz_X-crash-*, the fuzzer's output as build-fuzz/fuzz_X.log.
# Exits non-zero if a target failed to build or found a crash.
set -u
[ $# -ge 2 ] || { echo "usage: $0 SECONDS fuzz_target.c ..." >&2; exit 2; }
secs=$1; shift
out=build-fuzz
cc=${FUZZ_CC:-clang-14}
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I."
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$out"
rc=0

for src in "$@"; do
    name=$(basename "$src" .c)
    seeds=tests/fuzz/corpus/${name#fuzz_}
    libs=$(sed -n '1s|^// fuzz-sources:||p' "$src")
    if [ -z "$libs" ]; then
        echo "fuzz $name: FAILED (no '// fuzz-sources:' first line)"; rc=1; continue
    fi
    # $libs is a space-separated list of paths, split on purpose
    # shellcheck disable=SC2086
    if ! $cc $cflags "$src" $libs -o "$out/$name" >"$out/$name.log" 2>&1; then
        echo "fuzz $name: BUILD FAILED (see $out/$name.log)"; rc=1; continue
    fi
    corpus=$tmp/$name
    mkdir -p "$corpus"
    if [ -d "$seeds" ]; then cp "$seeds"/* "$corpus"/ 2>/dev/null; fi
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/$name" \
        -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$out/$name-" \
        "$corpus" >"$out/$name.log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log")
    files=$(ls "$corpus" | wc -l)
    if [ $status -eq 0 ]; then
        echo "fuzz $name: ok, ${runs:-?} runs in ${secs}s (${speed:-?} exec/s)," \
             "corpus $files inputs"
    else
        echo "fuzz $name: CRASH (exit $status), see $out/$name.log and $out/$name-crash-*"
        rc=1
    fi
done
exit $rc
