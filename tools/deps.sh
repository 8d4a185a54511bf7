#!/bin/sh
# Install the Debian packages Postern needs to build and test, when they are missing.
# As root: apt-get install them (non-interactive). Otherwise: print the exact command.
# Never installs postfix (it would replace the system MTA; only `make bench` uses it).
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "postern: missing packages; run as root:" >&2
    echo "  apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
echo "postern: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
apt-get install -y -qq --no-install-recommends $missing || exit 1
