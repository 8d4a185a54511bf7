#!/bin/sh
# make demo-setup: create everything the demo config needs under run/, idempotently:
# directories, a self-signed certificate for the demo host name, the demo logins, the DKIM
# key of example.test, the private DNS zone (run/dns/), a test virus signature database. Never starts anything.
set -e
mkdir -p run/tls run/spool run/maildir run/outbound
chmod 700 run/spool
if [ ! -s run/tls/cert.pem ] || [ ! -s run/tls/key.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
        -keyout run/tls/key.pem -out run/tls/cert.pem -subj "/CN=postern.example.test" \
        -addext "subjectAltName=DNS:postern.example.test,DNS:localhost,IP:127.0.0.1" 2>/dev/null
    chmod 600 run/tls/key.pem
    echo "demo-setup: created self-signed certificate run/tls/cert.pem"
fi
if ! sasldblistusers2 -f run/sasldb2 2>/dev/null | grep -q '^demo@example.test:'; then
    printf '%s' 'demo-password' | saslpasswd2 -f run/sasldb2 -p -c -u example.test demo
    echo "demo-setup: created login demo@example.test (password demo-password) in run/sasldb2"
fi
if ! sasldblistusers2 -f run/sasldb2 2>/dev/null | grep -q '^news@example.test:'; then
    printf '%s' 'news-password' | saslpasswd2 -f run/sasldb2 -p -c -u example.test news
    echo "demo-setup: created login news@example.test (password news-password) in run/sasldb2"
fi
# the DKIM key of example.test (selector "demo"); its TXT record goes to a file to publish
if [ ! -s run/dkim/example.test.demo.key ]; then
    mkdir -p run/dkim
    bin/posternctl dkim keygen example.test demo --dir run/dkim > run/dkim/example.test.demo.txt \
        2>/dev/null
    echo "demo-setup: created the DKIM key run/dkim/example.test.demo.key; its DNS record:"
    cat run/dkim/example.test.demo.txt
fi
# the zone of the demo's private DNS server (tools/demo-run.sh starts it on 127.0.0.1:5354):
# reverse DNS of 127.0.0.1, MX records, SPF and the DKIM key above; rewritten every time
sh tools/demo-dns.sh run/dns run/dkim/example.test.demo.txt
# a test signature database for the virus scanner (EICAR and a marker; nothing is
# downloaded: with clamav-freshclam's real database, point virus.database at it)
if [ ! -s run/clamav/test.ndb ]; then
    python3 -c 'import sys; sys.path.insert(0, "tests/integration"); import virusdb; virusdb.write_db("run/clamav")'
    echo "demo-setup: wrote the test virus signatures to run/clamav/"
fi
echo "demo-setup: run/ is ready"
