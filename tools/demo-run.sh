#!/bin/sh
# make run: start a private redis-server on run/redis.sock (unless one answers there),
# then Postern in the foreground with the demo config. Ctrl-C stops both.
set -e
redis_pid=""
if ! redis-cli -s run/redis.sock PING >/dev/null 2>&1; then
    redis-server --port 0 --unixsocket "$PWD/run/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --daemonize no --dir "$PWD/run" --loglevel warning &
    redis_pid=$!
    trap 'kill $redis_pid 2>/dev/null' EXIT INT TERM
    i=0; until redis-cli -s run/redis.sock PING >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "redis-server did not start" >&2; exit 1; }
        sleep 0.05
    done
    echo "make run: private redis-server on run/redis.sock (pid $redis_pid)"
fi
echo "make run: postern -d -f etc/postern.demo.json (Ctrl-C to stop)"
bin/postern -d -f etc/postern.demo.json
