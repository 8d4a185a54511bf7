#!/bin/sh
# tools/demo-dns.sh DIR [DKIM_RECORD_FILE]: write DIR/dnsmasq.conf, the zone of the demo's
# private DNS server (dnsmasq from dnsmasq-base; tools/demo-run.sh starts it on loopback).
# Every name the demo uses is answered from this file and nothing is ever forwarded: the
# demo does not depend on the host's resolver. DKIM_RECORD_FILE is the record that
# `posternctl dkim keygen` printed (NAME. IN TXT ( "..." "..." )); without it, no DKIM key.
set -e
dir=${1:?usage: demo-dns.sh DIR [DKIM_RECORD_FILE]}
dkim=${2:-}
mkdir -p "$dir"
conf="$dir/dnsmasq.conf"
tmp="$conf.tmp"
{
    echo "# written by tools/demo-dns.sh: the demo's private DNS zone"
    # never ask any other server, never read /etc/hosts; the zones below are answered
    # here (unknown names: NXDOMAIN), every other name is REFUSED
    echo "no-resolv"
    echo "no-hosts"
    echo "no-poll"
    for zone in test example example.org example.com in-addr.arpa ip6.arpa; do
        echo "local=/$zone/"
    done
    echo "local-ttl=60"
    # the demo's clients connect from 127.0.0.1: forward-confirmed reverse DNS
    # (127.0.0.1 -> demo.example.test -> 127.0.0.1); host-record makes A and PTR
    echo "host-record=demo.example.test,127.0.0.1"
    # the demo's own domains receive mail on this machine
    for d in example.test strict.example.test bounce.example.test; do
        echo "mx-host=$d,demo.example.test,10"
    done
    # the sender and recipient domains of the README's examples (documentation addresses,
    # RFC 5737: the demo delivers their mail to run/outbound/, never to these hosts)
    echo "host-record=mx.example.org,192.0.2.25"
    echo "host-record=mx.example.com,192.0.2.26"
    echo "host-record=mx.partner.example,192.0.2.27"
    echo "host-record=mx.spam.example,192.0.2.28"
    echo "mx-host=example.org,mx.example.org,10"
    echo "mx-host=list.example.org,mx.example.org,10"
    echo "mx-host=example.com,mx.example.com,10"
    echo "mx-host=mail.example.com,mx.example.com,10"
    echo "mx-host=partner.example,mx.partner.example,10"
    echo "mx-host=spam.example,mx.spam.example,10"
    echo 'txt-record=example.test,"v=spf1 ip4:127.0.0.1 -all"'
    echo 'txt-record=_dmarc.example.test,"v=DMARC1; p=none"'
    if [ -n "$dkim" ]; then
        # NAME. IN TXT ( "part" "part" ) -> txt-record=NAME,"part","part"
        name=$(sed -n '1s/^\([^ 	]*\)\.[ 	].*/\1/p' "$dkim")
        parts=$(grep -o '"[^"]*"' "$dkim" | paste -sd, -)
        [ -n "$name" ] && [ -n "$parts" ] || { echo "demo-dns: cannot read $dkim" >&2; exit 1; }
        echo "txt-record=$name,$parts"
    fi
} > "$tmp"
mv "$tmp" "$conf"
