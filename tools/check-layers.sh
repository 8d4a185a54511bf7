#!/bin/sh
# Layering rule of DESIGN.md: lib/ includes nothing above it; policy/, auth/ and webhooks/
# never include relay/. Prints each violation and fails if there is one.
bad=0
for f in lib/*.[ch]; do
    [ -e "$f" ] || continue
    if grep -nE '#include "(relay|policy|auth|webhooks)/' "$f"; then echo "layer violation: $f"; bad=1; fi
done
for f in policy/*.[ch] auth/*.[ch] webhooks/*.[ch]; do
    [ -e "$f" ] || continue
    if grep -nE '#include "relay/' "$f"; then echo "layer violation: $f"; bad=1; fi
done
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
