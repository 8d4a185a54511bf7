#!/bin/sh
# Layering rule of DESIGN.md: lib/ includes nothing above it; content/ and mailauth/
# include only lib/ (they know no sessions); policy/, auth/ and webhooks/ never include
# relay/; relay/spool/ includes nothing else of relay/. Prints each violation and fails if there is one.
bad=0
check() { # check "GLOB..." "forbidden include pattern"
    pat=$2
    for f in $1; do
        [ -e "$f" ] || continue
        if grep -nE "#include \"($pat)/" "$f"; then echo "layer violation: $f"; bad=1; fi
    done
}
check "lib/*.[ch]" "relay|policy|auth|webhooks|content|mailauth"
check "content/*.[ch] mailauth/*.[ch]" "relay|policy|auth|webhooks"
check "policy/*.[ch] policy/checks/*.[ch] auth/*.[ch] webhooks/*.[ch]" "relay"
# Inside relay/: the spool knows nothing of sessions, the queue or delivery.
check "relay/spool/*.[ch]" "relay/(smtpd|queue|deliver)"
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
