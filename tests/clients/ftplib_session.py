"""Drive ringftpd with Python's ftplib: MLSD, SIZE, MDTM, REST, RNFR/RNTO, DELE,
MKD/RMD, upload and download. Exits non-zero with a message on the first mismatch.

usage: ftplib_session.py HOST PORT USER PASSWORD ROOT
"""
import ftplib
import io
import os
import sys
import time


def check(cond, what):
    if not cond:
        sys.exit(f"ftplib check failed: {what}")


host, port, user, password, root = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30)
ftp.login(user, password)

facts = dict(ftp.mlsd("/", facts=["type", "size", "modify", "perm", "unique"]))
check("data.bin" in facts, f"MLSD lists data.bin: {sorted(facts)}")
check(facts["data.bin"]["type"] == "file", "MLSD type=file")
check(int(facts["data.bin"]["size"]) == os.path.getsize(os.path.join(root, "data.bin")), "MLSD size")
check(facts["sub dir"]["type"] == "dir", "MLSD type=dir for a name with a space")

size = ftp.size("data.bin")
check(size == os.path.getsize(os.path.join(root, "data.bin")), f"SIZE {size}")
mdtm = ftp.voidcmd("MDTM data.bin")
expected = time.strftime("%Y%m%d%H%M%S", time.gmtime(os.path.getmtime(os.path.join(root, "data.bin"))))
check(mdtm == f"213 {expected}", f"MDTM {mdtm} != {expected}")

with open(os.path.join(root, "data.bin"), "rb") as f:
    original = f.read()
buf = io.BytesIO()
ftp.retrbinary("RETR data.bin", buf.write, rest=1000)
check(buf.getvalue() == original[1000:], "RETR with REST 1000")

ftp.storbinary("STOR new.bin", io.BytesIO(b"x" * 70000))
check(open(os.path.join(root, "new.bin"), "rb").read() == b"x" * 70000, "STOR content")
ftp.storbinary("APPE new.bin", io.BytesIO(b"y" * 10))
check(os.path.getsize(os.path.join(root, "new.bin")) == 70010, "APPE grows the file")

ftp.rename("new.bin", "renamed.bin")
check(os.path.exists(os.path.join(root, "renamed.bin")), "RNTO target exists")
check(not os.path.exists(os.path.join(root, "new.bin")), "RNFR source gone")
try:
    ftp.sendcmd("RNTO x")
    sys.exit("RNTO without RNFR must fail")
except ftplib.error_perm as e:
    check(str(e).startswith("503"), f"RNTO without RNFR: {e}")

ftp.delete("renamed.bin")
check(not os.path.exists(os.path.join(root, "renamed.bin")), "DELE")

made = ftp.mkd("fresh")
check(made == "/fresh", f"MKD answers the path: {made}")
check(os.path.isdir(os.path.join(root, "fresh")), "MKD creates the folder")
ftp.cwd("fresh")
check(ftp.pwd() == "/fresh", "PWD after CWD")
ftp.cwd("..")
ftp.rmd("fresh")
check(not os.path.exists(os.path.join(root, "fresh")), "RMD")

for bad in ["../../etc/passwd", "/../etc/passwd"]:
    try:
        ftp.size(bad)
        sys.exit(f"SIZE {bad} must fail")
    except ftplib.error_perm as e:
        check(str(e).startswith("550"), f"{bad}: {e}")

lines = []
ftp.retrlines("LIST", lines.append)
check(any(line.endswith(" data.bin") for line in lines), f"LIST: {lines}")
names = ftp.nlst()
check(sorted(names) == sorted(os.listdir(root)), f"NLST {names}")
ftp.quit()
print("ok")
