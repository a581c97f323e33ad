//! Waiting for a full data socket to take bytes again.
//!
//! A slow client's socket is full after every refill, so a download waits for it
//! thousands of times per GiB. An io_uring poll is an op armed, submitted and completed
//! for each of those waits; the runtime's epoll registration (edge-triggered, made once
//! per download, on its first wait) reports the socket's next wake-up with the epoll
//! wait the worker makes anyway, so each wait costs no op of its own.

use std::future::poll_fn;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::task::Poll;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::sys;

/// A data socket, and the wait for it to become writable after a write found it full.
pub(crate) struct Writable {
    sock: Rc<TcpStream>,
    registration: Option<AsyncFd<Rc<TcpStream>>>,
}

impl Writable {
    pub(crate) fn new(sock: &Rc<TcpStream>) -> Writable {
        Writable {
            sock: Rc::clone(sock),
            registration: None,
        }
    }

    /// The socket to write to.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// After a write the socket took only part of: resolves once there is room again.
    ///
    /// A short count does not always mean a full socket. splice(2) also stops between
    /// segments when the thread has work queued for it (an io_uring completion raises
    /// TIF_NOTIFY_SIGNAL, and splice checks for pending signals), and then the kernel
    /// has not marked the socket as waiting for room, so no wake-up would come: a
    /// download waited forever on an empty socket. poll(2) tells whether there is room
    /// now (then the write goes on after a yield) and otherwise marks the socket.
    pub(crate) async fn after_short_write(&mut self) -> io::Result<()> {
        if sys::has_room_now(self.sock.as_fd())? {
            tokio::task::yield_now().await;
            return Ok(());
        }
        self.after_full().await
    }

    /// After a write that failed with EAGAIN (which marks the socket as waiting for
    /// room): resolves once the kernel reports room in the socket (or an error or
    /// hang-up, which the next write reports).
    pub(crate) async fn after_full(&mut self) -> io::Result<()> {
        let registration = match self.registration.take() {
            Some(registration) => registration,
            // SAFETY: the registration owns a reference to the socket, so its fd stays
            // open, and names the same socket, until the registration is dropped.
            None => unsafe {
                AsyncFd::register_with_interest(Rc::clone(&self.sock), Interest::WRITABLE)?
            },
        };
        // Readiness the runtime holds now was reported before the write that found the
        // socket full (the runtime applies epoll's reports only between task polls), so
        // it is stale: clear it once, then wait for the next report.
        let mut cleared = false;
        let ready = poll_fn(|cx| loop {
            match registration.poll_write_ready(cx) {
                Poll::Ready(Ok(mut stale)) if !cleared => {
                    stale.clear_ready();
                    cleared = true;
                }
                Poll::Ready(result) => return Poll::Ready(result.map(|_| ())),
                Poll::Pending => {
                    cleared = true;
                    return Poll::Pending;
                }
            }
        })
        .await;
        self.registration = Some(registration);
        ready
    }
}
