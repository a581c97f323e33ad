//! The io_uring operations tokio-uring does not offer: splice, poll, recv, reads and
//! writes on raw fds. Each op keeps every fd it names alive (an `Rc` in the op's stored
//! data) until the kernel posts its completion, even if the future is dropped.
//!
//! All are single-completion opcodes, the only kind `UnsubmittedOneshot` supports.

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{cqueue, opcode, squeue, types};
use tokio_uring::{OneshotOutputTransform, UnsubmittedOneshot};

/// Turns a CQE into `io::Result<usize>`; the stored data is dropped only after it.
struct ResultTransform<D>(std::marker::PhantomData<fn() -> D>);

impl<D> OneshotOutputTransform for ResultTransform<D> {
    type Output = io::Result<usize>;
    type StoredData = D;

    fn transform_oneshot_output(self, _data: D, cqe: cqueue::Entry) -> io::Result<usize> {
        cqe_result(&cqe)
    }
}

async fn submit<D: Unpin + 'static>(data: D, sqe: squeue::Entry) -> io::Result<usize> {
    UnsubmittedOneshot::new(data, ResultTransform(std::marker::PhantomData), sqe)
        .submit()
        .await
}

fn offset(off: Option<u64>) -> i64 {
    // -1 tells splice to use (and advance) the fd's own position, required for pipes.
    off.map_or(-1, |o| o as i64)
}

/// IORING_OP_SPLICE: move up to `len` bytes from `input` to `output`, one of which
/// must be a pipe. `None` offsets mean "current position" (pipes, sockets).
pub async fn splice<A, B>(
    input: &Rc<A>,
    off_in: Option<u64>,
    output: &Rc<B>,
    off_out: Option<u64>,
    len: u32,
) -> io::Result<usize>
where
    A: AsRawFd + 'static,
    B: AsRawFd + 'static,
{
    let sqe = opcode::Splice::new(
        types::Fd(input.as_raw_fd()),
        offset(off_in),
        types::Fd(output.as_raw_fd()),
        offset(off_out),
        len,
    )
    .flags(libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK)
    .build();
    submit((input.clone(), output.clone()), sqe).await
}

/// IORING_OP_POLL_ADD (one shot): wait until `fd` reports one of `events`
/// (`libc::POLLIN`, `libc::POLLOUT`). Returns the revents mask.
pub async fn poll<A: AsRawFd + 'static>(fd: &Rc<A>, events: i16) -> io::Result<i16> {
    let sqe = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), events as u16 as u32).build();
    submit(fd.clone(), sqe).await.map(|r| r as i16)
}

/// IORING_OP_WRITE of `buf[from..]` at file `offset`; returns bytes written. The
/// buffer travels with the op.
pub async fn write_at<A: AsRawFd + 'static>(
    fd: &Rc<A>,
    buf: Rc<Vec<u8>>,
    from: usize,
    offset: u64,
) -> io::Result<usize> {
    let rest = &buf[from.min(buf.len())..];
    let sqe = opcode::Write::new(types::Fd(fd.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
        .offset(offset)
        .build();
    // The Vec's heap block does not move while the Rc keeps it alive in the op data.
    submit((fd.clone(), buf), sqe).await
}

/// IORING_OP_RECV into a whole buffer (its capacity is the length used).
/// The buffer is handed back with the byte count.
pub async fn recv<A: AsRawFd + 'static>(fd: &Rc<A>, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
    into_buffer(fd, buf, |ptr, cap| {
        opcode::Recv::new(types::Fd(fd.as_raw_fd()), ptr, cap).build()
    })
    .await
}

/// IORING_OP_READ at `offset` into a whole buffer (its capacity is the length used).
pub async fn read_at<A: AsRawFd + 'static>(
    fd: &Rc<A>,
    buf: Vec<u8>,
    offset: u64,
) -> (io::Result<usize>, Vec<u8>) {
    into_buffer(fd, buf, |ptr, cap| {
        opcode::Read::new(types::Fd(fd.as_raw_fd()), ptr, cap)
            .offset(offset)
            .build()
    })
    .await
}

/// Submit an op that fills `buf` from its start (built by `sqe` from the buffer's
/// pointer and capacity); the buffer and the fd travel with the op until it completes.
async fn into_buffer<A: AsRawFd + 'static>(
    fd: &Rc<A>,
    mut buf: Vec<u8>,
    sqe: impl FnOnce(*mut u8, u32) -> squeue::Entry,
) -> (io::Result<usize>, Vec<u8>) {
    let cap = buf.capacity();
    // Bytes beyond the count returned are never read, so exposing the spare capacity
    // as the target is sound; the length is set from the result below.
    buf.clear();
    let sqe = sqe(buf.as_mut_ptr(), cap as u32);
    let holder = BufferData {
        _fd: fd.clone(),
        buf,
    };
    let (res, holder) =
        UnsubmittedOneshot::new(holder, BufferTransform(std::marker::PhantomData), sqe)
            .submit()
            .await;
    let mut buf = holder.buf;
    if let Ok(n) = res {
        // SAFETY: the kernel wrote exactly `n <= cap` bytes into the buffer's
        // allocation from its start, which the op data kept alive and unmoved.
        unsafe { buf.set_len(n.min(cap)) };
    }
    (res, buf)
}

struct BufferData<A> {
    _fd: Rc<A>,
    buf: Vec<u8>,
}

struct BufferTransform<A>(std::marker::PhantomData<fn() -> A>);

impl<A> OneshotOutputTransform for BufferTransform<A> {
    type Output = (io::Result<usize>, BufferData<A>);
    type StoredData = BufferData<A>;

    fn transform_oneshot_output(self, data: BufferData<A>, cqe: cqueue::Entry) -> Self::Output {
        (cqe_result(&cqe), data)
    }
}

fn cqe_result(cqe: &cqueue::Entry) -> io::Result<usize> {
    let res = cqe.result();
    if res >= 0 {
        Ok(res as usize)
    } else {
        Err(io::Error::from_raw_os_error(-res))
    }
}
