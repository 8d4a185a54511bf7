#!/bin/bash
# bench/checks_bench.sh: inbound acceptance (messages/s, each fsynced before its 250) with
# the checks on, one case at a time; part of `make bench`, also runs alone:
#
#   sh bench/checks_bench.sh                          every case, once
#   BENCH_CASES="virus every" BENCH_ROUNDS=3 sh bench/checks_bench.sh
#   BENCH_POSTERN=/tmp/old/postern BENCH_SCANNER=/tmp/old/postern-scan ...  (another build)
#   BENCH_AB=/tmp/old   A/B in one run: the build in /tmp/old (postern, postern-scan) and
#                       this one alternate, BENCH_ROUNDS times each; prints new/old ratios
#   BENCH_KEEP_LOG=FILE  keep the daemon log of the last run (why messages were refused)
#
# Cases (BENCH_CASES):
#   off      content checks off, DNS checks skipped for loopback (as the Postfix comparison)
#   virus    + virus scanning (libclamav, the test signature database of virusdb.py)
#   content  + file types, spam (trained when ../shared/spam-corpus is prepared), bulk
#   every    the whole inbound profile with every check acting: the DNS checks (rdns, helo,
#            one DNSBL zone, sender domain) against a private dnsmasq on loopback (the
#            client has forward-confirmed reverse DNS), SPF, DKIM (the messages carry no
#            signature: the check runs and finds none), DMARC, greylisting on for the
#            domain (the triplet passed before the measurement), recipient verification
#            (a recipients file and the learned set in Redis), rate limit, backscatter, and
#            every content check as in `content`
# The load is Postfix's smtp-source (BENCH_MESSAGES x BENCH_SIZE bytes over
# BENCH_CONNECTIONS connections). Its messages differ only in the Date and Message-Id
# header fields: every body is the same (repeated content), so libclamav's clean cache
# (keyed by the MD5 of each file it scans, decoded parts included) answers for the body
# after the first message. The case `virus-nocache` (and `every-nocache`) turns that cache
# off (virus.cache: false), so every part is scanned: the figure for unique content.
# It prints figures and asserts nothing.
set -u
cd "$(dirname "$0")/.."
N=${BENCH_MESSAGES:-5000}; C=${BENCH_CONNECTIONS:-20}; SIZE=${BENCH_SIZE:-4096}
CASES=${BENCH_CASES:-off virus virus-nocache content every every-nocache}
ROUNDS=${BENCH_ROUNDS:-1}
AB=${BENCH_AB:-}
PY=/usr/bin/python3
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
[ -x "$SOURCE" ] || { echo "checks_bench: smtp-source not found (postfix package)"; exit 0; }
work=$(mktemp -d /tmp/postern-checksbench.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 8192 2>/dev/null
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
make -s all >/dev/null || exit 1

# --- shared services: Redis, the DNS zone, the signature database, the spam model -------
redis_sock="$work/redis.sock"
redis-server --port 0 --unixsocket "$redis_sock" --save "" --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 50); do redis-cli -s "$redis_sock" ping >/dev/null 2>&1 && break; sleep 0.1; done

dns_port=$($PY -c 'import sys; sys.path.insert(0, "tests/integration"); import dns_zone; print(dns_zone.udp_tcp_port())')
cat > "$work/dnsmasq.conf" <<EOF
port=$dns_port
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
keep-in-foreground
pid-file=
local-ttl=300
local=/test/
local=/example.org/
local=/in-addr.arpa/
host-record=mail.example.org,127.0.0.1
mx-host=example.org,mail.example.org,10
mx-host=example.test,mx.example.test,10
host-record=mx.example.test,192.0.2.10
txt-record=example.org,"v=spf1 ip4:127.0.0.0/8 -all"
txt-record=_dmarc.example.org,"v=DMARC1; p=none"
EOF
[ "$(id -u)" = 0 ] && echo "user=root" >> "$work/dnsmasq.conf"
dnsmasq --conf-file="$work/dnsmasq.conf" >"$work/dnsmasq.log" 2>&1 &
pids="$pids $!"

python3 -c 'import sys; sys.path.insert(0, "tests/integration"); import virusdb; virusdb.write_db(sys.argv[1])' "$work/clamav"
echo "rcpt@example.test" > "$work/recipients"
redis-cli -s "$redis_sock" SADD "pt:rcpt:{example.test}:learned" rcpt@example.test >/dev/null

# config NAME CASE PORT SCANNER -> $work/NAME.json
config() {
    local name=$1 case=${2%-nocache} port=$3 scanner=$4 virus policy domains="" dns="" cache=""
    [ "$case" != "$2" ] && cache=", \"cache\": false"
    virus="\"virus\": { \"enabled\": false }"
    policy="\"policy\": { \"disabled_checks\": [\"spam\", \"bulk\", \"filetype\"], \"dns_skip_networks\": [\"127.0.0.0/8\"] }"
    case $case in
    virus)
        virus="\"virus\": { \"scanner\": \"$scanner\", \"database\": \"$work/clamav\"$cache }" ;;
    content)
        virus="\"virus\": { \"scanner\": \"$scanner\", \"database\": \"$work/clamav\"$cache }"
        policy="\"policy\": { \"disabled_checks\": [], \"dns_skip_networks\": [\"127.0.0.0/8\"] }" ;;
    every)
        virus="\"virus\": { \"scanner\": \"$scanner\", \"database\": \"$work/clamav\"$cache }"
        dns="\"dns\": { \"servers\": [\"127.0.0.1:$dns_port\"], \"timeout\": \"2s\" },"
        domains="\"domains\": { \"example.test\": { \"greylisting\": true,
            \"recipients_file\": \"$work/recipients\", \"recipients_learned\": true } },"
        policy="\"policy\": { \"disabled_checks\": [], \"dns_skip_networks\": [],
          \"profiles\": { \"inbound\": { \"direction\": \"inbound\", \"checks\": {
            \"relay_access\": {}, \"ratelimit\": {}, \"rcpt_verify\": {},
            \"greylist\": { \"delay\": \"1s\" }, \"backscatter\": {}, \"backlog\": {},
            \"rdns\": {}, \"helo\": {}, \"dnsbl\": { \"zones\": { \"bl.test\": {} } },
            \"sender_domain\": {}, \"early_talker\": {}, \"virus\": {}, \"filetype\": {},
            \"spam\": {}, \"bulk\": {}, \"spf\": {}, \"dkim\": {}, \"dmarc\": {} } } } }" ;;
    esac
    cat > "$work/$name.json" <<EOF
{ "hostname": "bench.example.test", "spool_dir": "$work/spool-$name", "workers": 4,
  "privileges": { "run_as_root": true }, $virus, $policy, $dns $domains
  "redis": { "socket": "$redis_sock" },
  "limits": { "connections": 5000, "connections_per_ip": 5000 },
  "relay": { "local_domains": ["example.test"] },
  "queue": { "paused": true },
  "listeners": [ { "name": "mx", "address": "127.0.0.1:$port", "profile": "inbound" } ] }
EOF
}

corpus=$(ls -d ${SPAM_CORPUS:-../shared/spam-corpus}/corpus 2>/dev/null)
trained="rules only, no corpus"
if [ -n "$corpus" ]; then
    config learn content 1 /bin/true
    bin/posternctl -f "$work/learn.json" spam learn --spam "$corpus/spam-1" >/dev/null 2>&1 &&
    bin/posternctl -f "$work/learn.json" spam learn --ham "$corpus/easy-ham-1" \
        "$corpus/hard-ham-1" >/dev/null 2>&1 && trained="trained on $corpus"
fi

# send PORT COUNT QUEUE -> messages/s, counting only the messages that were accepted
# (queued: the queue runner is paused), after sync(1) so no phase pays for the one before.
# smtp-source counts a refused or deferred message as sent: a refusal never speeds up
# the figure; any is reported on stderr.
send() {
    local t0 t1 q0 q1
    sync
    q0=$(ls "$3" 2>/dev/null | wc -l)
    t0=$(date +%s.%N)
    "$SOURCE" -s "$C" -m "$2" -l "$SIZE" -M mail.example.org -f bench@example.org \
        -t rcpt@example.test "127.0.0.1:$1" >/dev/null 2>&1
    t1=$(date +%s.%N)
    q1=$(ls "$3" 2>/dev/null | wc -l)
    [ $((q1 - q0)) -lt "$2" ] && echo "  (only $((q1 - q0)) of $2 messages accepted)" >&2
    $PY -c "print('%.0f' % (($q1 - $q0) / ($t1 - $t0)))"
}

# run CASE DAEMON SCANNER TAG -> prints messages/s of one measured phase
run() {
    local case=$1 daemon=$2 scanner=$3 tag=$4 port pid name rate
    port=$(free_port); name="$case-$tag-$RANDOM"
    config "$name" "$case" "$port" "$scanner"
    "$daemon" -d -f "$work/$name.json" 2>"$work/$name.log" &
    pid=$!
    sleep 1.5
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "checks_bench: postern did not start:" >&2; tail -5 "$work/$name.log" >&2
        echo 0; return
    fi
    if [ "${case%-nocache}" = every ]; then
        # greylisting: the first message of the triplet is deferred; its retry after the
        # delay passes, and the triplet passes from then on (as for a known correspondent)
        "$SOURCE" -s 1 -m 1 -M mail.example.org -f bench@example.org \
            -t rcpt@example.test "127.0.0.1:$port" >/dev/null 2>&1
        sleep 1.2
        "$SOURCE" -s 1 -m 1 -M mail.example.org -f bench@example.org \
            -t rcpt@example.test "127.0.0.1:$port" >/dev/null 2>&1
    fi
    rate=$(send "$port" "$N" "$work/spool-$name/queue")
    if [ "${case%-nocache}" = every ]; then
        echo "  ($tag, symbols of one message: $(grep -ho 'syms=[^ ]*' \
            "$work/spool-$name/queue/"* 2>/dev/null | head -1 | cut -c1-300))" >&2
    fi
    kill "$pid"; wait "$pid" 2>/dev/null
    [ -n "${BENCH_KEEP_LOG:-}" ] && cp "$work/$name.log" "$BENCH_KEEP_LOG"
    rm -rf "$work/spool-$name"
    echo "$rate"
}

echo "== acceptance with checks on ($N x $SIZE bytes, $C connections, smtp-source: repeated content; spam $trained) =="
for case in $CASES; do
    if [ -n "$AB" ]; then
        olds=""; news=""
        for r in $(seq "$ROUNDS"); do
            o=$(run "$case" "$AB/postern" "$AB/postern-scan" old)
            n=$(run "$case" "$PWD/bin/postern" "$PWD/bin/postern-scan" new)
            olds="$olds $o"; news="$news $n"
        done
        $PY -c "
import statistics as s
o=[float(x) for x in '$olds'.split()]; n=[float(x) for x in '$news'.split()]
r=[b/a for a,b in zip(o,n) if a>0]
print('%-8s old %s  new %s  new/old per round %s  median %.2f' % ('$case', ' '.join('%.0f'%x for x in o), ' '.join('%.0f'%x for x in n), ' '.join('%.2f'%x for x in r), s.median(r) if r else 0))"
    else
        rates=""
        for r in $(seq "$ROUNDS"); do
            rates="$rates $(run "$case" "${BENCH_POSTERN:-$PWD/bin/postern}" "${BENCH_SCANNER:-$PWD/bin/postern-scan}" run)"
        done
        echo "$case: messages/s$rates"
    fi
done
