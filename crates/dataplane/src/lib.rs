//! ringftp-dataplane (in progress).
