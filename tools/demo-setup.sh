#!/bin/sh
# make demo-setup: create everything the demo config needs under run/, idempotently:
# directories, a self-signed certificate for the demo host name. Never starts anything.
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
echo "demo-setup: run/ is ready"
