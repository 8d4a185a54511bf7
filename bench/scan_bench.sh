#!/bin/sh
# Virus scanning throughput through the daemon's path (posternctl scan: postern-scan
# started by scan_client, descriptors passed, the test signature database of
# tests/integration/virusdb.py, libclamav's clean cache off so every scan is real work):
# messages/s for a 4 KB text mail, a 100 KB mail with a PDF, a 1 MB mail with a zip.
# BENCH_SCANS scans per kind (default 400), BENCH_PARALLEL in flight (default 4), the
# scanner's default 2 threads. BENCH_DB=/var/lib/clamav measures the real database.
set -u
cd "$(dirname "$0")/.."
N=${BENCH_SCANS:-400}; P=${BENCH_PARALLEL:-4}
work=$(mktemp -d /tmp/postern-scanbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PYEOF'
import os, sys
sys.path.insert(0, "tests/integration")
import virusdb
w = sys.argv[1]
virusdb.write_db(os.path.join(w, "db"))
for name, data in (("text4k", virusdb.text_message(4096)),
                   ("pdf100k", virusdb.pdf_message(75 * 1024)),
                   ("zip1m", virusdb.zip_message(1024 * 1024))):
    open(os.path.join(w, name + ".eml"), "wb").write(data)
PYEOF
DB=${BENCH_DB:-$work/db}
echo "== virus scanning (database $DB, $N scans each, $P in flight) =="
for m in text4k pdf100k zip1m; do
    f=$work/$m.eml
    printf '%-8s %8d bytes: ' "$m" "$(stat -c %s "$f")"
    build/posternctl scan --db "$DB" --no-cache --repeat "$N" --parallel "$P" "$f" 2>&1 \
        >/dev/null | grep 'messages/s' | sed 's/.*: //'
done
