#!/bin/sh
# Layering rule of DESIGN.md: lib/ includes nothing above it; content/ and mailauth/
# include only lib/ (they know no sessions); policy/, auth/ and webhooks/ never include
# relay/; inside relay/ the rules below. Prints each violation and fails if there is one.
bad=0
check() { # check "GLOB..." "forbidden include pattern"
    pat=$2
    for f in $1; do
        [ -e "$f" ] || continue
        if grep -nE "#include \"($pat)/" "$f"; then echo "layer violation: $f"; bad=1; fi
    done
}
check "lib/*.[ch]" "relay|admin|policy|auth|webhooks|content|mailauth"
check "content/*.[ch] mailauth/*.[ch]" "relay|admin|policy|auth|webhooks"
check "policy/*.[ch] policy/checks/*.[ch] auth/*.[ch] webhooks/*.[ch]" "relay|admin"
# admin/ (the users' web page) sits beside relay/: it is given the daemon's services and
# never includes relay/.
check "admin/*.[ch]" "relay"
# Inside relay/: the spool knows nothing of sessions, the queue or delivery; the SMTP
# side (listeners, sessions) knows nothing of the queue runner or delivery, and delivery
# nothing of sessions. The daemon (relay/server.h) is the composition root: each part is
# given what it needs (relay/smtpd/smtpd.h), only main.c, server.c and server_health.c (/readyz, gauges) see it.
check "relay/spool/*.[ch]" "relay/(smtpd|queue|deliver)"
check "relay/smtpd/*.[ch]" "relay/(queue|deliver)"
check "relay/deliver/*.[ch]" "relay/smtpd"
# Not converted yet (they still take struct server): admin.c, queue/, backup_probe.c.
for f in relay/*.[ch] relay/*/*.[ch]; do
    case $f in
        relay/main.c|relay/server.c|relay/server.h|relay/server_health.c) continue ;;
        relay/server_web.c) continue ;;
        relay/admin.c|relay/queue/queue.c|relay/queue/queue_admin.c) continue ;;
        relay/queue/queue_result.c|relay/queue/queue_watch.c|relay/queue/queue_policy.c) continue ;;
        relay/deliver/backup_probe.c) continue ;;
    esac
    if grep -n '#include "relay/server.h"' "$f"; then echo "layer violation: $f"; bad=1; fi
done
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
