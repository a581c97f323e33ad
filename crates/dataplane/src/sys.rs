//! The few raw syscalls the data plane needs that std and socket2 do not wrap.
//! Every `unsafe` block outside the io_uring ops lives here.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// pipe2(O_CLOEXEC | O_NONBLOCK): (read end, write end).
pub fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// F_SETPIPE_SZ; returns the capacity the kernel granted.
pub fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    // SAFETY: F_SETPIPE_SZ takes an int argument and only acts on the given fd.
    let got = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    if got < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(got as usize)
    }
}

/// read(2) on a (non-blocking) fd into `buf`.
pub fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// preadv2(2) with RWF_NOWAIT: what the page cache holds of `file` from `offset` now,
/// into `buf`'s spare capacity (appended). Never waits for the disk: EAGAIN when the
/// first page is not cached, EOPNOTSUPP where the filesystem cannot tell.
pub fn read_cached_at(file: BorrowedFd<'_>, buf: &mut Vec<u8>, offset: u64) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    // SAFETY: the iovec names `buf`'s spare capacity, valid for writes of its length for
    // the whole call; the length grows only by what the kernel wrote.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset as i64, libc::RWF_NOWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// write(2) on an fd from `buf`.
#[cfg(test)]
pub fn write_fd(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Pin the calling thread to one CPU; failure only costs locality, so it is reported, not fatal.
pub fn pin_to_cpu(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

/// True when io_uring can be set up in this process (not disabled by sysctl or seccomp).
pub fn io_uring_available() -> io::Result<()> {
    io_uring::IoUring::new(2).map(|_| ())
}

/// splice(2) on the calling thread with SPLICE_F_NONBLOCK: between a pipe and a
/// socket (both non-blocking, so it never blocks: it moves what fits now and fails
/// with WouldBlock otherwise), or from a file at `from_offset` into a pipe, which is
/// only for pages already in the page cache (a miss would block on the disk read).
pub fn splice_nonblocking(
    from: BorrowedFd<'_>,
    from_offset: Option<u64>,
    to: BorrowedFd<'_>,
    len: usize,
) -> io::Result<usize> {
    let mut offset = from_offset;
    let flags = rustix::pipe::SpliceFlags::MOVE | rustix::pipe::SpliceFlags::NONBLOCK;
    Ok(rustix::pipe::splice(
        from,
        offset.as_mut(),
        to,
        None,
        len,
        flags,
    )?)
}

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: a non-blocking connection in one
/// system call. WouldBlock when no connection waits.
pub fn accept_nonblocking(listener: BorrowedFd<'_>) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::SocketFlags;
    let (fd, addr) =
        rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let peer = addr
        .and_then(|a| SocketAddr::try_from(a).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "accepted a non-IP peer"))?;
    Ok((TcpStream::from(fd), peer))
}

/// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL: whatever fits in the socket now, without
/// blocking even on a blocking socket, and EPIPE rather than SIGPIPE on a closed one;
/// with `more`, MSG_MORE too (a last partial segment waits for more data or the FIN).
pub fn send_nonblocking(to: BorrowedFd<'_>, buf: &[u8], more: bool) -> io::Result<usize> {
    use rustix::net::SendFlags;
    let mut flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    if more {
        flags |= SendFlags::MORE;
    }
    Ok(rustix::net::send(to, buf, flags)?)
}

/// cachestat(2) (Linux 6.5+); the number is the same on every architecture that uses
/// the generic syscall table.
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// How many pages of `len` bytes at `offset` of `file` sit in the page cache.
/// Fails with ENOSYS on kernels before 6.5 and EPERM where the kernel only answers
/// for files the caller owns or may write.
pub fn cached_pages(file: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<u64> {
    let range = CachestatRange { off: offset, len };
    let mut stat = Cachestat::default();
    // SAFETY: both structs are repr(C) with the kernel's layout and live for the
    // whole call; flags must be 0.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(stat.nr_cache)
    }
}

/// Set an integer socket option of `size_of::<T>()` bytes.
fn set_sockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and the length passed is its exact size;
    // the kernel only reads that many bytes from the pointer.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// SO_MAX_PACING_RATE: the kernel's TCP pacing sends no faster than `bytes_per_sec`
/// (`u64::MAX` lifts it).
pub fn set_max_pacing_rate(fd: BorrowedFd<'_>, bytes_per_sec: u64) -> io::Result<()> {
    set_sockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_MAX_PACING_RATE,
        bytes_per_sec,
    )
}

/// TCP_NOTSENT_LOWAT: the socket counts as writable, and takes more bytes, only while
/// fewer than `bytes` of what it holds are still unsent.
pub fn set_unsent_max(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, bytes)
}

/// Size `fd`'s receive buffer to `bytes` (SO_RCVBUF: the kernel doubles it for its
/// bookkeeping, clamps it to `net.core.rmem_max`, and stops autotuning it).
pub fn set_receive_buffer(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_sockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
}

/// `net.core.rmem_max`, the largest receive buffer SO_RCVBUF may ask for; 0 if it
/// cannot be read. Read once, first from `Engine::bind`, before a sandbox hides /proc.
pub fn receive_buffer_max() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    })
}

/// The connection's smoothed round-trip time (TCP_INFO's `tcpi_rtt`). On a
/// connection that has only received, it is the handshake's.
pub fn tcp_rtt(fd: BorrowedFd<'_>) -> io::Result<std::time::Duration> {
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` live across the call; `len` is `info`'s size, and the
    // kernel writes at most that many bytes and stores the count it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::time::Duration::from_micros(u64::from(info.tcpi_rtt)))
}

/// True if a socket has room for more bytes now (poll(2) with no wait, POLLOUT). For a
/// TCP socket without room the kernel also marks it as waiting for room
/// (SOCK_NOSPACE), so the wake-up that room brings is then sure to come.
pub fn has_room_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
    let no_wait = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&no_wait))?;
    Ok(fds[0]
        .revents()
        .intersects(PollFlags::OUT | PollFlags::ERR | PollFlags::HUP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn a_cached_read_appends_what_the_page_cache_holds_from_the_offset() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        // Just written, so cached: read without waiting, after what `buf` holds.
        let mut buf = Vec::with_capacity(4);
        buf.push(b'x');
        assert_eq!(read_cached_at(file.as_fd(), &mut buf, 2).unwrap(), 3);
        assert_eq!(buf, b"x234");
        let mut rest = Vec::with_capacity(64);
        assert_eq!(read_cached_at(file.as_fd(), &mut rest, 8).unwrap(), 2);
        assert_eq!(rest, b"89");
        assert_eq!(read_cached_at(file.as_fd(), &mut rest, 10).unwrap(), 0);
    }
}
