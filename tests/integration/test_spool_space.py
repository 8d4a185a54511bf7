"""A free-space floor on the spool: MAIL and DATA get 452 4.3.1 while less than
1.5 x limits.message_size + limits.spool_reserve (+ the SIZE declared at MAIL) is free,
so that queue records, bounces and webhooks still find room when mail stops coming in.
The tests configure a floor around what is free now; no disk is filled up (the DATA test
reserves 2 GB with fallocate for a moment)."""
import os
import time

from postern import Postern, Raw, message

MiB = 1 << 20
GiB = 1 << 30
FREE_CHECK_S = 0.25   # SPOOL_FREE_CHECK_MS: the daemon asks the file system at most this often


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def start(tmp_path, message_size, reserve):
    return Postern(tmp_path, overrides={"limits": {"message_size": message_size,
                                                   "spool_reserve": reserve}}).start()


def greeted(p):
    r = Raw(p.port)
    assert r.reply()[0] == 220
    assert r.cmd("EHLO client.example")[0] == 250
    return r


def test_mail_is_refused_below_the_floor(tmp_path):
    p = start(tmp_path, 10 * MiB, free_bytes(str(tmp_path)) + GiB)
    r = greeted(p)
    for mail in ("MAIL FROM:<a@example.org>", "MAIL FROM:<a@example.org> SIZE=100"):
        code, lines = r.cmd(mail)
        assert code == 452 and lines[0].startswith("452 4.3.1 "), lines
    assert "452 4.3.1 Insufficient system storage" in p.log()
    assert p.tmp_files() == [] and p.queue_files() == []
    r.close()
    p.stop()


def test_declared_size_counts_at_mail(tmp_path):
    """With room for the floor plus 512 MB, a message without SIZE (or a small one) is
    taken and one that declares 900 MB is not."""
    limit = GiB
    p = start(tmp_path, limit, free_bytes(str(tmp_path)) - limit * 3 // 2 - 512 * MiB)
    r = greeted(p)
    code, lines = r.cmd("MAIL FROM:<a@example.org> SIZE=%d" % (900 * MiB))
    assert code == 452 and "4.3.1" in lines[0]
    assert r.cmd("MAIL FROM:<a@example.org> SIZE=1000")[0] == 250
    assert r.cmd("RSET")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    r.close()
    p.stop()


def test_data_is_refused_when_space_goes_below_the_floor(tmp_path):
    limit = GiB
    p = start(tmp_path, limit, free_bytes(str(tmp_path)) - limit * 3 // 2 - 512 * MiB)
    r = greeted(p)
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<b@example.test>")[0] == 250
    hog = str(tmp_path / "hog")
    fd = os.open(hog, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.posix_fallocate(fd, 0, 2 * GiB)   # the file system fills up meanwhile
        time.sleep(2 * FREE_CHECK_S)
        code, lines = r.cmd("DATA")
        assert code == 452 and lines[0].startswith("452 4.3.1 "), lines
    finally:
        os.close(fd)
        os.unlink(hog)
    time.sleep(2 * FREE_CHECK_S)
    assert r.cmd("DATA")[0] == 354            # the transaction was kept
    r.send(message() + ".\r\n")
    assert r.reply()[0] == 250
    r.close()
    p.stop()
