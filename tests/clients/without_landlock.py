"""Run a program as if the kernel had no Landlock: a seccomp filter (python3-seccomp)
answers ENOSYS to the three Landlock system calls, then the program is executed.

Usage: without_landlock.py PROGRAM [ARGS...]
"""
import errno
import os
import sys

import seccomp

rules = seccomp.SyscallFilter(seccomp.ALLOW)
for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
rules.load()
os.execv(sys.argv[1], sys.argv[1:])
