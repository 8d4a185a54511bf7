#!/bin/bash
# make bench: throughput and memory figures for Postern, side by side with Postfix when
# the postfix package is installed (this script never installs it: on a user's machine
# it would replace the system MTA). It prints figures and asserts nothing.
#
#   1. acceptance: smtp-source sends N messages of SIZE bytes over C connections to the
#      inbound listener; messages/s (every message fsynced before its 250): content checks
#      off, virus scanning on, and every content check on (virus, file types, spam, bulk)
#      in the same run.
#   2. memory: RSS growth of the daemon per idle connection, holding IDLE connections.
# The same workload runs against a private Postfix instance (own config and queue dirs,
# high loopback port, mail discarded after queueing) in the same run.
set -u
cd "$(dirname "$0")/.."
N=${BENCH_MESSAGES:-5000}; C=${BENCH_CONNECTIONS:-20}; SIZE=${BENCH_SIZE:-4096}
IDLE=${BENCH_IDLE:-1000}
PY=/usr/bin/python3
work=$(mktemp -d /tmp/postern-bench.XXXXXX)
trap "cleanup" EXIT

# DKIM signing and verifying cost on one core (bench/dkim_bench.c; needs no Postfix)
echo "== DKIM =="
make -s build/bench/dkim_bench >/dev/null && build/bench/dkim_bench

# the inbound DNS checks through the engine against a loopback DNS server in the process
# (bench/dnschecks_bench.c; needs no Postfix)
echo "== DNS checks =="
make -s build/bench/dnschecks_bench >/dev/null && build/bench/dnschecks_bench
# Virus scanning throughput with the test signature database (bench/scan_bench.sh)
sh bench/scan_bench.sh

if ! command -v smtp-source >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-source ]; then
    echo "bench: smtp-source not found. It comes with Postfix: apt-get install postfix"
    echo "bench: (not installed automatically: the package replaces the system MTA)"
    exit 0
fi
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

cleanup() {
    [ -n "${postern_pid:-}" ] && kill "$postern_pid" 2>/dev/null && wait "$postern_pid" 2>/dev/null
    [ -n "${pfx_dir:-}" ] && postfix -c "$pfx_dir" stop >/dev/null 2>&1 && sleep 1
    rm -rf "$work"
}

# acceptance PORT -> prints messages/s. Each measured phase starts after sync(1), so that
# no side pays for the write-back of the phase before it.
acceptance() {
    local t0 t1
    sync
    t0=$(date +%s.%N)
    "$SOURCE" -s "$C" -m "$N" -l "$SIZE" -f bench@example.org -t rcpt@example.test \
        "127.0.0.1:$1" >/dev/null 2>&1
    t1=$(date +%s.%N)
    $PY -c "print('%.0f' % ($N / ($t1 - $t0)))"
}

# idle_rss PID PORT -> prints KB per idle connection
idle_rss() {
    $PY - "$1" "$2" "$IDLE" <<'EOF'
import socket, sys, time
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss(p):
    total = 0
    import subprocess
    for q in [p] + [int(x) for x in subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True).stdout.split()]:
        try:
            with open("/proc/%d/status" % q) as f:
                for ln in f:
                    if ln.startswith("VmRSS"):
                        total += int(ln.split()[1])
        except OSError:
            pass
    return total
before = rss(pid)
socks = []
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        break  # a process-per-connection server may stop accepting (process limit)
    socks.append(s)
time.sleep(1.0)
after = rss(pid)
print("%.1f" % ((after - before) / max(len(socks), 1)))
sys.stderr.write("(%d connections held)\n" % len(socks))
EOF
}

# e2e PORT SINKLOG -> messages/s from the first connection of smtp-source until the sink
# has seen all N messages (the mesg= counter of smtp-sink -c).
e2e() {
    local t0 t1 n=0
    sync
    t0=$(date +%s.%N)
    "$SOURCE" -s "$C" -m "$N" -l "$SIZE" -f bench@example.org -t rcpt@example.test \
        "127.0.0.1:$1" >/dev/null 2>&1
    for _ in $(seq 2400); do
        n=$(tail -c 200 "$2" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
        [ "${n:-0}" -ge "$N" ] && break
        sleep 0.05
    done
    t1=$(date +%s.%N)
    [ "${n:-0}" -ge "$N" ] || { echo "incomplete"; return; }
    $PY -c "print('%.0f' % ($N / ($t1 - $t0)))"
}

start_sink() {  # start_sink PORT LOG
    smtp-sink -u nobody -c "127.0.0.1:$1" 1024 >"$2" 2>&1 &
    sink_pid=$!
    sleep 0.3
}

echo "== Postern =="
# a daemon that did not start would make every figure after it meaningless: say why and stop
postern_started() {  # postern_started LOG
    kill -0 "$postern_pid" 2>/dev/null && return 0
    echo "bench: postern did not start:"; tail -5 "$1"; exit 1
}
make -s all >/dev/null || exit 1
port=$(free_port)
cat > "$work/postern.json" <<EOF
{ "hostname": "bench.example.test", "spool_dir": "$work/spool", "workers": 4,
  "privileges": { "run_as_root": true }, "virus": { "enabled": false },
  "policy": { "disabled_checks": ["spam", "bulk", "filetype"],
              "dns_skip_networks": ["127.0.0.0/8"] },
  "limits": { "connections": 5000, "connections_per_ip": 5000 },
  "relay": { "local_domains": ["example.test"] },
  "queue": { "paused": true },
  "listeners": [ { "name": "mx", "address": "127.0.0.1:$port", "profile": "inbound" } ] }
EOF
ulimit -n 8192 2>/dev/null
bin/postern -d -f "$work/postern.json" 2>"$work/postern.log" &
postern_pid=$!
sleep 0.5
postern_started "$work/postern.log"
pt_rate=$(acceptance "$port")
pt_queued=$(ls "$work/spool/queue" | wc -l)
echo "acceptance: $pt_rate messages/s ($N x $SIZE bytes, $C connections; $pt_queued queued, each fsynced before 250; queue runner paused; content checks off)"
pt_idle=$(idle_rss "$postern_pid" "$port")
echo "memory: $pt_idle KB RSS per idle connection ($IDLE held)"
kill "$postern_pid"; wait "$postern_pid" 2>/dev/null; postern_pid=""

# the same acceptance with virus scanning on (Postern's scanner, the test signatures)
python3 -c 'import sys; sys.path.insert(0, "tests/integration"); import virusdb; virusdb.write_db(sys.argv[1])' "$work/clamav"
port=$(free_port)
sed -e "s|\"virus\": { \"enabled\": false }|\"virus\": { \"scanner\": \"$PWD/bin/postern-scan\", \"database\": \"$work/clamav\" }|" \
    -e "s|$work/spool\"|$work/spool-virus\"|" -e "s|127.0.0.1:[0-9]*|127.0.0.1:$port|" \
    "$work/postern.json" > "$work/postern-virus.json"
bin/postern -d -f "$work/postern-virus.json" 2>"$work/postern-virus.log" &
postern_pid=$!
sleep 1.5
postern_started "$work/postern-virus.log"
pv_rate=$(acceptance "$port")
echo "acceptance with virus scanning on: $pv_rate messages/s (scanning off: $pt_rate)"
kill "$postern_pid"; wait "$postern_pid" 2>/dev/null; postern_pid=""

# every content check of the shipped inbound profile on: virus (test signatures), file
# types, spam (classifier trained on the spam corpus when it is prepared, else rules
# only) and bulk (counts in a private Redis)
redis_sock="$work/redis.sock"
redis-server --port 0 --unixsocket "$redis_sock" --save "" --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -s "$redis_sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
port=$(free_port)
sed -e "s|\"disabled_checks\": \[\"spam\", \"bulk\", \"filetype\"\],|\"disabled_checks\": [],|" \
    -e "s|\"queue\": { \"paused\": true },|\"redis\": { \"socket\": \"$redis_sock\" }, \"queue\": { \"paused\": true },|" \
    -e "s|$work/spool-virus\"|$work/spool-all\"|" -e "s|127.0.0.1:[0-9]*|127.0.0.1:$port|" \
    "$work/postern-virus.json" > "$work/postern-all.json"
corpus=$(ls -d ${SPAM_CORPUS:-../shared/spam-corpus}/corpus 2>/dev/null)
trained="rules only, no corpus"
if [ -n "$corpus" ]; then
    bin/posternctl -f "$work/postern-all.json" spam learn --spam "$corpus/spam-1" >/dev/null 2>&1 &&
    bin/posternctl -f "$work/postern-all.json" spam learn --ham "$corpus/easy-ham-1" \
        "$corpus/hard-ham-1" >/dev/null 2>&1 && trained="trained on $corpus"
fi
bin/postern -d -f "$work/postern-all.json" 2>"$work/postern-all.log" &
postern_pid=$!
sleep 1.5
postern_started "$work/postern-all.log"
pa_rate=$(acceptance "$port")
echo "acceptance with every content check on (virus, file types, spam $trained, bulk): $pa_rate messages/s (content checks off: $pt_rate; on/off = $($PY -c "print('%.2f' % ($pa_rate / $pt_rate))"))"
grep -c "BAYES_" "$work/spool-all/queue/"* 2>/dev/null | awk -F: '{n += ($2 > 0)} END {print "  (" n+0 " queued messages carry a BAYES_ symbol)"}'
kill "$postern_pid"; wait "$postern_pid" 2>/dev/null; postern_pid=""
kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null
# every check of the inbound profile acting (DNS checks against a private dnsmasq, SPF,
# DKIM, DMARC, greylisting passed, recipient verification, all content checks), with
# libclamav's clean cache on (smtp-source repeats its body) and off (unique content)
BENCH_CASES="every every-nocache" bash bench/checks_bench.sh | sed 1d

sport=$(free_port); start_sink "$sport" "$work/sink-postern.log"
port=$(free_port)
printf '%s\n' "{ \"hostname\": \"bench.example.test\", \"spool_dir\": \"$work/spool-relay\",
  \"workers\": 4, \"limits\": { \"connections\": 5000, \"connections_per_ip\": 5000 },
  \"privileges\": { \"run_as_root\": true }, \"virus\": { \"enabled\": false },
  \"policy\": { \"disabled_checks\": [\"spam\", \"bulk\", \"filetype\"],
                \"dns_skip_networks\": [\"127.0.0.0/8\"] },
  \"relay\": { \"local_domains\": [\"example.test\"] },
  \"transport\": { \"default\": \"relay:[127.0.0.1]:$sport\" },
  \"listeners\": [ { \"name\": \"mx\", \"address\": \"127.0.0.1:$port\", \"profile\": \"inbound\" } ] }" \
  > "$work/postern-relay.json"
bin/postern -d -f "$work/postern-relay.json" 2>"$work/postern-relay.log" &
postern_pid=$!
sleep 0.5
postern_started "$work/postern-relay.log"
pt_e2e=$(e2e "$port" "$work/sink-postern.log")
echo "end to end: $pt_e2e messages/s (accepted, fsynced, relayed to smtp-sink, removed)"
kill "$postern_pid"; wait "$postern_pid" 2>/dev/null; postern_pid=""
kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null
$PY bench/submission.py

if ! command -v postfix >/dev/null 2>&1; then
    echo "== Postfix: not installed, no comparison =="
    exit 0
fi
echo "== Postfix $(postconf -d -h mail_version 2>/dev/null) (private instance, same workload) =="
pfx_dir="$work/postfix"; pport=$(free_port)
mkdir -p "$pfx_dir" "$work/pfx-queue" "$work/pfx-data"
chmod 755 "$work"
chown postfix "$work/pfx-data" 2>/dev/null
cat > "$pfx_dir/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $work/pfx-queue
data_directory = $work/pfx-data
myhostname = bench-postfix.example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains = example.test
local_recipient_maps =
alias_maps =
alias_database =
default_transport = discard
relay_transport = discard
smtpd_client_connection_count_limit = 0
default_process_limit = 200
maillog_file = /dev/stdout
EOF
sed -e "s/^smtp      inet.*/127.0.0.1:$pport inet n - n - - smtpd/" \
    /etc/postfix/master.cf > "$pfx_dir/master.cf"
postfix -c "$pfx_dir" check >/dev/null 2>&1
# start-fg: "postfix start" refuses a config directory that the system main.cf does not
# list in alternate_config_directories, and we do not touch the system's configuration.
postfix -c "$pfx_dir" start-fg >"$work/pfx-start.log" 2>&1 &
pfx_pid=$!
for _ in $(seq 50); do [ -s "$work/pfx-queue/pid/master.pid" ] && break; sleep 0.1; done
if ! kill -0 "$pfx_pid" 2>/dev/null; then
    echo "bench: could not start a private Postfix instance:"; tail -5 "$work/pfx-start.log"
    pfx_dir=""; exit 0
fi
sleep 1
pf_rate=$(acceptance "$pport")
echo "acceptance: $pf_rate messages/s"
pf_master=$(head -1 "$work/pfx-queue/pid/master.pid" | tr -d ' ')
pf_idle=$(idle_rss "$pf_master" "$pport")
echo "memory: $pf_idle KB RSS per idle connection (master and its smtpd children; at most default_process_limit=200 held)"
postfix -c "$pfx_dir" stop >/dev/null 2>&1; wait "$pfx_pid" 2>/dev/null
# the same instance, now relaying to a sink instead of discarding
sport=$(free_port); start_sink "$sport" "$work/sink-postfix.log"
sed -i -e "s/^default_transport = discard/relayhost = [127.0.0.1]:$sport/" \
       -e 's/^relay_transport = discard/relay_transport = relay/' "$pfx_dir/main.cf"
rm -f "$work/pfx-queue/pid/master.pid"
postfix -c "$pfx_dir" start-fg >>"$work/pfx-start.log" 2>&1 &
pfx_pid=$!
for _ in $(seq 50); do [ -s "$work/pfx-queue/pid/master.pid" ] && break; sleep 0.1; done
pf_e2e=$(e2e "$pport" "$work/sink-postfix.log")
echo "end to end: $pf_e2e messages/s"
kill "$sink_pid" 2>/dev/null
echo "== ratio Postern/Postfix end to end: $($PY -c "
try: print('%.2f' % ($pt_e2e / $pf_e2e))
except Exception: print('n/a')")x =="
echo "== ratio Postern/Postfix: acceptance $($PY -c "print('%.2f' % ($pt_rate / $pf_rate))")x, memory per idle connection $($PY -c "print('%.4f' % ($pt_idle / max($pf_idle, 0.1)))")x =="
