"""Test signature database and test messages for the virus scanner tests.

The database is written by the tests (nothing downloaded): EICAR as a body signature
(.ndb) and by hash (.hdb), plus custom entries. The EICAR string is built at run time from
two halves so that no file in the repository contains it.
"""
import hashlib
import os

EICAR = (r"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
# A custom signature: any file containing this marker is "Postern.Test.Marker".
MARKER = b"POSTERN-TEST-VIRUS-MARKER-7f3a9c"


def write_db(directory, extra_ndb=()):
    """Write test.ndb and test.hdb into directory; returns it."""
    os.makedirs(directory, exist_ok=True)
    ndb = ["Postern.Test.EICAR:0:*:" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex(),
           "Postern.Test.Marker:0:*:" + MARKER.hex()]
    ndb += list(extra_ndb)
    with open(os.path.join(directory, "test.ndb"), "w") as f:
        f.write("\n".join(ndb) + "\n")
    with open(os.path.join(directory, "test.hdb"), "w") as f:
        f.write("%s:%d:Postern.Test.EICAR-HDB\n" % (hashlib.md5(EICAR).hexdigest(), len(EICAR)))
    return directory
