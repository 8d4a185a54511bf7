#!/bin/sh
# make run: start a private redis-server on run/redis.sock (unless one answers there) and a
# private DNS server (dnsmasq, zone run/dns/dnsmasq.conf from demo-setup) on 127.0.0.1:5354,
# then Postern in the foreground with the demo config. Ctrl-C stops all three.
set -e
redis_pid=""
dns_pid=""
dns_port=5354
stop_helpers() {
    [ -z "$dns_pid" ] || kill "$dns_pid" 2>/dev/null || true
    [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true
}
trap stop_helpers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if ! redis-cli -s run/redis.sock PING >/dev/null 2>&1; then
    redis-server --port 0 --unixsocket "$PWD/run/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --daemonize no --dir "$PWD/run" --loglevel warning &
    redis_pid=$!
    i=0; until redis-cli -s run/redis.sock PING >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "redis-server did not start" >&2; exit 1; }
        sleep 0.05
    done
    echo "make run: private redis-server on run/redis.sock (pid $redis_pid)"
fi
# the demo's names come from this server only (dns.servers in etc/postern.demo.json);
# it listens on loopback, reads no /etc/resolv.conf or /etc/hosts and forwards nothing
[ -s run/dns/dnsmasq.conf ] || { echo "run/dns/dnsmasq.conf missing: make demo-setup" >&2; exit 1; }
user=""
[ "$(id -u)" != 0 ] || user="--user=root"
dnsmasq --conf-file="$PWD/run/dns/dnsmasq.conf" --port=$dns_port --listen-address=127.0.0.1 \
    --bind-interfaces --keep-in-foreground --pid-file= $user &
dns_pid=$!
dns_up() {
    python3 - "$dns_port" <<'PY' 2>/dev/null
import socket, sys
q = bytes.fromhex("505401000001000000000000") + b"\x04demo\x07example\x04test\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
sys.exit(0 if len(s.recv(512)) > 12 else 1)
PY
}
i=0; until dns_up; do
    kill -0 $dns_pid 2>/dev/null || { echo "dnsmasq did not start (port $dns_port in use?)" >&2; exit 1; }
    i=$((i + 1)); [ $i -lt 50 ] || { echo "dnsmasq did not answer on 127.0.0.1:$dns_port" >&2; exit 1; }
    sleep 0.1
done
echo "make run: private DNS server (dnsmasq) on 127.0.0.1:$dns_port (pid $dns_pid)"
echo "make run: postern -d -f etc/postern.demo.json (Ctrl-C to stop)"
bin/postern -d -f etc/postern.demo.json
