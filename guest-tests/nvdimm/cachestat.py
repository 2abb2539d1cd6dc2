#!/usr/bin/env python3
# cachestat.py FILE - print "DIRTY WRITEBACK CACHED" page counts of FILE in
# the host page cache (cachestat(2), Linux 6.5+). Exit 77 if the kernel
# lacks it.
import ctypes
import os
import sys


class Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class Stat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in
                ("cache", "dirty", "writeback", "evicted", "recently_evicted")]


libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
r, st = Range(0, 0), Stat()
if libc.syscall(451, fd, ctypes.byref(r), ctypes.byref(st), 0) != 0:
    print("cachestat: %s" % os.strerror(ctypes.get_errno()))
    sys.exit(77)
print(st.dirty, st.writeback, st.cache)
