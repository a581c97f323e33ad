//! Cancelling a transfer: mark it, then shut down the socket it waits on so every
//! in-flight io_uring op on that socket completes at once. Ops are never dropped
//! mid-flight to cancel; they finish and the transfer unwinds normally.

use std::cell::{Cell, RefCell};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;

use crate::net;

/// Why a transfer was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// ABOR from the client.
    Abort,
    /// No progress within the data timeout.
    Stalled,
    /// The control connection closed or the server is stopping.
    Closing,
}

enum Target {
    None,
    Listener(Rc<TcpListener>),
    Stream(Rc<TcpStream>),
}

/// Shared between a transfer task and whoever may cancel it (same thread).
pub struct CancelToken {
    reason: Cell<Option<CancelReason>>,
    target: RefCell<Target>,
    /// Wakes a transfer that waits on no socket (a bandwidth cap's pause).
    woken: tokio::sync::Notify,
}

impl CancelToken {
    /// A token with nothing to cancel yet.
    pub fn new() -> Rc<CancelToken> {
        Rc::new(CancelToken {
            reason: Cell::new(None),
            target: RefCell::new(Target::None),
            woken: tokio::sync::Notify::new(),
        })
    }

    /// Cancel (the first reason wins) and wake the socket the transfer waits on.
    pub fn cancel(&self, reason: CancelReason) {
        if self.reason.get().is_none() {
            self.reason.set(Some(reason));
        }
        match &*self.target.borrow() {
            Target::None => {}
            Target::Listener(l) => net::shutdown(&**l),
            Target::Stream(s) => net::shutdown(&**s),
        }
        self.woken.notify_waiters();
    }

    /// Completes once the transfer is cancelled (for waits that hold no socket op).
    pub async fn cancelled(&self) {
        loop {
            // Registered before the check, so a cancel in between is not missed.
            let woken = self.woken.notified();
            if self.reason.get().is_some() {
                return;
            }
            woken.await;
        }
    }

    /// Why it was cancelled, if it was.
    pub fn reason(&self) -> Option<CancelReason> {
        self.reason.get()
    }

    /// The transfer now waits on this listener; cancels at once if already cancelled.
    pub fn watch_listener(&self, l: &Rc<TcpListener>) {
        *self.target.borrow_mut() = Target::Listener(l.clone());
        if self.reason.get().is_some() {
            net::shutdown(&**l);
        }
    }

    /// The transfer now moves data on this stream; cancels at once if already cancelled.
    pub fn watch_stream(&self, s: &Rc<TcpStream>) {
        *self.target.borrow_mut() = Target::Stream(s.clone());
        if self.reason.get().is_some() {
            net::shutdown(&**s);
        }
    }

    /// Forget the socket (so the token does not keep it open).
    pub fn clear(&self) {
        *self.target.borrow_mut() = Target::None;
    }
}
