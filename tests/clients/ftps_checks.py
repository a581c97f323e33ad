"""FTPS checks with Python's ssl and ftplib against ringftpd. Each mode prints "ok"
on success and exits non-zero with a message on the first mismatch.

usage: ftps_checks.py MODE HOST PORT [ROOT]
  reuse      ftplib.FTP_TLS + prot_p, data connections resuming the control session
             (the documented workaround subclass): RETR, MLSD, STOR, active RETR,
             RETR after PROT C
  no-reuse   a PROT P data connection with a fresh TLS session: refused with 522
  fresh      the same, on a server not requiring reuse: served
  pipelined  plaintext sent in the same packet as AUTH TLS is not executed
  alpn       implicit TLS: ALPN "ftp" accepted, "http/1.1" refused
  cert       implicit TLS: print the SHA-256 of the server certificate
"""
import ftplib
import hashlib
import io
import os
import socket
import ssl
import sys


def check(cond, what):
    if not cond:
        sys.exit(f"ftps check failed: {what}")


def context():
    # The test's self-signed certificate: encryption is what is tested here.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session
            )
        return conn, size


def reuse(host, port, root):
    ftp = ReusingFTP_TLS(context=context(), timeout=30)
    ftp.connect(host, port)
    ftp.login()
    ftp.prot_p()
    check(ftp.sock.version() in ("TLSv1.3", "TLSv1.2"), f"version {ftp.sock.version()}")
    with open(os.path.join(root, "data.bin"), "rb") as f:
        original = f.read()
    for _ in range(3):
        buf = io.BytesIO()
        ftp.retrbinary("RETR data.bin", buf.write)
        check(buf.getvalue() == original, "RETR over PROT P")
    names = [name for name, _ in ftp.mlsd("/")]
    check("data.bin" in names, f"MLSD over PROT P: {names}")
    ftp.storbinary("STOR up.bin", io.BytesIO(original[:123457]))
    with open(os.path.join(root, "up.bin"), "rb") as f:
        check(f.read() == original[:123457], "STOR over PROT P")
    ftp.set_pasv(False)
    buf = io.BytesIO()
    ftp.retrbinary("RETR data.bin", buf.write)
    check(buf.getvalue() == original, "active-mode RETR over PROT P")
    ftp.set_pasv(True)
    ftp.prot_c()
    buf = io.BytesIO()
    ftp.retrbinary("RETR data.bin", buf.write)
    check(buf.getvalue() == original, "RETR after PROT C")
    ftp.quit()


def no_reuse(host, port, refused=True):
    ftp = ftplib.FTP_TLS(context=context(), timeout=30)
    ftp.connect(host, port)
    ftp.login()
    ftp.prot_p()
    data_host, data_port = ftp.makepasv()
    conn = socket.create_connection((data_host, data_port), timeout=30)
    resp = ftp.sendcmd("RETR data.bin")
    check(resp.startswith("150"), f"150 before the data handshake: {resp}")
    got = b""
    try:
        # A fresh context: no session to resume.
        tls = context().wrap_socket(conn, server_hostname=host)
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ssl.SSLError, OSError):
        pass
    if not refused:
        check(len(got) == 3 << 20, f"a fresh session is served: {len(got)} bytes")
        check(ftp.getresp().startswith("226"), "226")
        ftp.quit()
        return
    check(got == b"", f"no data without session reuse ({len(got)} bytes)")
    try:
        final = ftp.getresp()
        sys.exit(f"ftps check failed: transfer without session reuse succeeded: {final}")
    except ftplib.error_perm as e:
        check(str(e).startswith("522"), f"522 for a data connection not resuming: {e}")
    ftp.quit()


def read_reply(f):
    line = f.readline()
    code = line[:3]
    while line[3:4] == b"-":
        line = f.readline()
        while not line.startswith(code + b" "):
            line = f.readline()
    return line


def pipelined(host, port):
    sock = socket.create_connection((host, port), timeout=30)
    f = sock.makefile("rb")
    check(read_reply(f).startswith(b"220"), "banner")
    sock.sendall(b"AUTH TLS\r\nUSER anonymous\r\nPASS a@b\r\nMKD evil\r\n")
    reply = read_reply(f)
    check(reply.startswith(b"234"), f"234 for AUTH TLS: {reply!r}")
    tls = context().wrap_socket(sock, server_hostname=host)
    tf = tls.makefile("rb")
    tls.sendall(b"PWD\r\n")
    reply = read_reply(tf)
    check(reply.startswith(b"530"), f"the pipelined login was not run: PWD gave {reply!r}")
    tls.sendall(b"CCC\r\n")
    reply = read_reply(tf)
    check(reply.startswith(b"534"), f"CCC refused: {reply!r}")
    tls.sendall(b"FEAT\r\n")
    feat = b""
    line = tf.readline()
    while not line.startswith(b"211 "):
        feat += line
        line = tf.readline()
    for f_ in (b" AUTH TLS\r\n", b" PBSZ\r\n", b" PROT\r\n"):
        check(f_ in feat, f"FEAT lists {f_!r}: {feat!r}")
    tls.sendall(b"QUIT\r\n")
    check(read_reply(tf).startswith(b"221"), "QUIT")


def alpn(host, port):
    ctx = context()
    ctx.set_alpn_protocols(["ftp"])
    with ctx.wrap_socket(socket.create_connection((host, port), timeout=30)) as tls:
        check(tls.selected_alpn_protocol() == "ftp", f"ALPN {tls.selected_alpn_protocol()}")
        check(tls.makefile("rb").readline().startswith(b"220"), "banner over implicit TLS")
    ctx = context()
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        with ctx.wrap_socket(socket.create_connection((host, port), timeout=30)) as tls:
            line = tls.makefile("rb").readline()
            sys.exit(f"ftps check failed: ALPN http/1.1 accepted, got {line!r}")
    except (ssl.SSLError, ConnectionError):
        pass


def cert(host, port):
    with context().wrap_socket(socket.create_connection((host, port), timeout=30)) as tls:
        der = tls.getpeercert(binary_form=True)
    print(hashlib.sha256(der).hexdigest())


mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "reuse":
    reuse(host, port, sys.argv[4])
elif mode == "no-reuse":
    no_reuse(host, port)
elif mode == "fresh":
    no_reuse(host, port, refused=False)
elif mode == "pipelined":
    pipelined(host, port)
elif mode == "alpn":
    alpn(host, port)
elif mode == "cert":
    cert(host, port)
    sys.exit(0)
else:
    sys.exit(f"unknown mode {mode}")
print("ok")
