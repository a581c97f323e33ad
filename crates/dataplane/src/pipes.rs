//! A per-core pool of kernel pipes used as the splice bounce buffer.
//!
//! Pipes are created once, sized with F_SETPIPE_SZ (1 MiB pipes move several
//! times more data per splice than the 64 KiB default), and reused. The pool is
//! bounded because pipe memory counts against a per-user kernel limit.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::sys;
use std::rc::Rc;

/// What a pipe holds before F_SETPIPE_SZ: 16 pages.
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

/// One pipe: splice writes into `write`, reads from `read`.
#[derive(Debug)]
pub struct Pipe {
    pub read: Rc<OwnedFd>,
    pub write: Rc<OwnedFd>,
    capacity: usize,
}

impl Pipe {
    /// Create a non-blocking pipe, asking the kernel for `size` bytes of capacity.
    pub fn new(size: usize) -> io::Result<Pipe> {
        let (read, write) = sys::nonblocking_pipe()?;
        // Past /proc/sys/fs/pipe-max-size (1 MiB by default, binding unless the process
        // has CAP_SYS_RESOURCE) or the user's pipe budget the kernel refuses: ask for half
        // as much until it agrees; the default-sized pipe still works, only slower.
        let mut want = size;
        let capacity = loop {
            match sys::set_pipe_size(write.as_fd(), want) {
                Ok(got) => break got,
                Err(_) if want > DEFAULT_PIPE_SIZE => want /= 2,
                Err(_) => break DEFAULT_PIPE_SIZE,
            }
        };
        Ok(Pipe {
            read: Rc::new(read),
            write: Rc::new(write),
            capacity,
        })
    }

    /// Bytes the pipe holds when full.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drop any bytes left in the pipe (after an aborted transfer) so it can be reused.
    /// Returns false if the pipe could not be emptied and must be discarded.
    fn drain(&self) -> bool {
        let mut scratch = [0u8; 16 * 1024];
        loop {
            match sys::read_fd(self.read.as_fd(), &mut scratch) {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
            }
        }
    }
}

/// Bounded pool of pipes for one core.
#[derive(Debug)]
pub struct PipePool {
    free: RefCell<Vec<Pipe>>,
    pipe_size: usize,
    max_idle: usize,
}

impl PipePool {
    /// A pool that keeps at most `max_idle` idle pipes of `pipe_size` bytes.
    pub fn new(pipe_size: usize, max_idle: usize) -> Rc<PipePool> {
        Rc::new(PipePool {
            free: RefCell::new(Vec::new()),
            pipe_size,
            max_idle,
        })
    }

    /// Take a pipe from the pool (or make one); it returns on drop.
    pub fn take(self: &Rc<Self>) -> io::Result<PooledPipe> {
        let pipe = match self.free.borrow_mut().pop() {
            Some(p) => p,
            None => Pipe::new(self.pipe_size)?,
        };
        Ok(PooledPipe {
            pipe: Some(pipe),
            pool: self.clone(),
        })
    }

    /// Idle pipes held now.
    pub fn idle(&self) -> usize {
        self.free.borrow().len()
    }
}

/// A pipe on loan from a [`PipePool`].
#[derive(Debug)]
pub struct PooledPipe {
    pipe: Option<Pipe>,
    pool: Rc<PipePool>,
}

impl std::ops::Deref for PooledPipe {
    type Target = Pipe;
    fn deref(&self) -> &Pipe {
        self.pipe.as_ref().expect("pipe present until drop")
    }
}

impl Drop for PooledPipe {
    fn drop(&mut self) {
        let Some(pipe) = self.pipe.take() else { return };
        // A pipe still referenced by an in-flight op (Rc count > 1) is not reused:
        // it closes when that op completes.
        let exclusive = Rc::strong_count(&pipe.read) == 1 && Rc::strong_count(&pipe.write) == 1;
        let mut free = self.pool.free.borrow_mut();
        if exclusive && free.len() < self.pool.max_idle && pipe.drain() {
            free.push(pipe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn pipes_are_reused_and_bounded() {
        let pool = PipePool::new(1 << 20, 1);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert!(a.capacity() >= 64 * 1024);
        let a_fd = a.read.as_raw_fd();
        drop(a);
        drop(b);
        assert_eq!(pool.idle(), 1);
        let c = pool.take().unwrap();
        assert_eq!(c.read.as_raw_fd(), a_fd);
    }

    #[test]
    fn leftover_bytes_are_drained_before_reuse() {
        let pool = PipePool::new(64 * 1024, 4);
        let p = pool.take().unwrap();
        assert_eq!(sys::write_fd(p.write.as_fd(), b"leftover").unwrap(), 8);
        drop(p);
        let p = pool.take().unwrap();
        let mut buf = [0u8; 8];
        let err = sys::read_fd(p.read.as_fd(), &mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::WouldBlock,
            "pipe must be empty after reuse"
        );
    }
}
