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


# ---- test messages (RFC 5322 bytes), built with the email package --------------------------

import binascii
import io
import zipfile
from email import policy as _policy
from email.message import EmailMessage

ENVELOPE = b"POSTERN-ENVELOPE v1\nsender=<a@b.test>\nrcpt=<c@d.test>\n" + b"\0" * 19 + b"\n"


def _msg(subject="test"):
    m = EmailMessage(policy=_policy.SMTP)
    m["From"] = "a@b.test"
    m["To"] = "c@d.test"
    m["Subject"] = subject
    return m


def zip_bytes(files):
    """files: [(name, bytes)] -> zip archive bytes (deflated)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return buf.getvalue()


def nested_zip(data, depth):
    """data inside depth levels of zip."""
    blob = data
    name = "eicar.com"
    for i in range(depth):
        blob = zip_bytes([(name, blob)])
        name = "level%d.zip" % i
    return blob


def plain(payload=EICAR):
    m = _msg("plain")
    m.set_content(payload.decode(), cte="7bit")
    return m.as_bytes()


def base64_attachment(payload=EICAR, filename="eicar.com"):
    m = _msg("base64")
    m.set_content("see attachment")
    m.add_attachment(payload, maintype="application", subtype="octet-stream",
                     filename=filename)
    return m.as_bytes()


def quoted_printable(payload=EICAR):
    m = _msg("qp")
    m.set_content(payload.decode() + "\n=tail", cte="quoted-printable")
    return m.as_bytes()


def uuencode(payload=EICAR):
    lines = [b"begin 644 eicar.com"]
    for i in range(0, len(payload), 45):
        lines.append(binascii.b2a_uu(payload[i:i + 45]).rstrip(b"\n"))
    lines += [b"`", b"end"]
    head = b"From: a@b.test\r\nTo: c@d.test\r\nSubject: uu\r\n\r\nsee below\r\n\r\n"
    return head + b"\r\n".join(lines) + b"\r\n"


def zipped(payload=EICAR, depth=1):
    m = _msg("zip")
    m.set_content("see attachment")
    m.add_attachment(nested_zip(payload, depth), maintype="application", subtype="zip",
                     filename="files.zip")
    return m.as_bytes()


def attached_message(payload=EICAR):
    inner = _msg("inner")
    inner.set_content("inner")
    inner.add_attachment(payload, maintype="application", subtype="octet-stream",
                         filename="eicar.com")
    m = _msg("outer")
    m.set_content("forwarded")
    m.add_attachment(inner)         # message/rfc822
    return m.as_bytes()


def many_parts(payload=EICAR, n=500):
    m = _msg("many")
    m.set_content("many parts")
    for i in range(n - 1):
        m.add_attachment(("harmless part %d\n" % i).encode(), maintype="text",
                         subtype="plain", filename="part%d.txt" % i)
    m.add_attachment(payload, maintype="application", subtype="octet-stream",
                     filename="last.com")
    return m.as_bytes()


def rfc2231_name(payload=EICAR):
    m = _msg("rfc2231")
    m.set_content("see attachment")
    m.add_attachment(payload, maintype="application", subtype="octet-stream",
                     filename=("utf-8", "", "r\u00e9sum\u00e9 \u00e9t\u00e9.com"))
    data = m.as_bytes()
    assert b"filename*=" in data
    return data


def text_message(size):
    m = _msg("text")
    line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\n"
    m.set_content(line * (size // len(line) + 1))
    return m.as_bytes()


def pdf_message(size):
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
    body += b"".join(b"%% filler line %08d lorem ipsum dolor sit amet\n" % i
                     for i in range(size // 48))
    body += b"trailer << /Root 1 0 R >>\n%%EOF\n"
    m = _msg("pdf")
    m.set_content("report attached")
    m.add_attachment(body, maintype="application", subtype="pdf", filename="report.pdf")
    return m.as_bytes()


def zip_message(size):
    import random
    rnd = random.Random(7)
    files = [("file%d.txt" % i, bytes(rnd.getrandbits(8) for _ in range(size // 8)))
             for i in range(6)]
    m = _msg("zip")
    m.set_content("archive attached")
    m.add_attachment(zip_bytes(files), maintype="application", subtype="zip",
                     filename="data.zip")
    return m.as_bytes()


def encrypted_zip_message():
    """A zip whose member is flagged encrypted (general purpose bit 0 in the local and
    central headers): what an encrypted archive looks like to a scanner."""
    z = bytearray(zip_bytes([("secret.txt", b"nothing to see here " * 20)]))
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = z.find(sig)
        z[i + flag_at] |= 1
    m = _msg("encrypted")
    m.set_content("password is in the other mail")
    m.add_attachment(bytes(z), maintype="application", subtype="zip", filename="secret.zip")
    return m.as_bytes()
