//! A channel between tasks of one worker thread: the events a session's transfers,
//! password checks and HASH jobs send it.
//!
//! tokio's mpsc channels are built for crossing threads: atomics and a semaphore on
//! every message, and each channel allocates a 32-slot block and cache-padded halves
//! when it is made (1.8 KiB for the event channel's block alone) before its first
//! command. A session's tasks never leave their worker, so this is a queue and a waker
//! behind an `Rc`, and the queue grows only as messages wait in it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

struct Shared<T> {
    queue: VecDeque<T>,
    senders: usize,
    receiver_alive: bool,
    receiver: Option<Waker>,
}

impl<T> Shared<T> {
    fn wake_receiver(&mut self) {
        if let Some(w) = self.receiver.take() {
            w.wake();
        }
    }
}

/// A channel whose `send` never waits.
pub fn unbounded<T>() -> (UnboundedSender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(Shared {
        queue: VecDeque::new(),
        senders: 1,
        receiver_alive: true,
        receiver: None,
    }));
    (
        UnboundedSender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending half of [`unbounded`].
pub struct UnboundedSender<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

impl<T> UnboundedSender<T> {
    /// Queue `value`; `Err(value)` if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), T> {
        let mut shared = self.shared.borrow_mut();
        if !shared.receiver_alive {
            return Err(value);
        }
        shared.queue.push_back(value);
        shared.wake_receiver();
        Ok(())
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().senders += 1;
        UnboundedSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.senders -= 1;
        if shared.senders == 0 {
            // `recv` now ends once the queue is empty.
            shared.wake_receiver();
        }
    }
}

/// The receiving half.
pub struct Receiver<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once every sender is gone and the queue is empty.
    /// Cancel-safe: a message is taken only when this returns it.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            if let Some(v) = shared.queue.pop_front() {
                return Poll::Ready(Some(v));
            }
            if shared.senders == 0 {
                return Poll::Ready(None);
            }
            match &shared.receiver {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => shared.receiver = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut shared = self.shared.borrow_mut();
            shared.receiver_alive = false;
            std::mem::take(&mut shared.queue)
        };
        // Dropped outside the borrow: a message may hold a sender of this channel.
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake};

    /// Counts its wake-ups.
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(counter: &CountingWaker) -> usize {
        counter.0.load(Ordering::Relaxed)
    }

    fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn messages_arrive_in_order_and_recv_ends_after_the_last_sender() {
        let (tx, mut rx) = unbounded();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        drop(tx);
        let (_, w) = waker();
        assert_eq!(poll_once(pin!(rx.recv()), &w), Poll::Ready(Some(1)));
        assert_eq!(poll_once(pin!(rx.recv()), &w), Poll::Ready(Some(2)));
        // One sender is left: nothing to read yet, so it waits.
        assert_eq!(poll_once(pin!(rx.recv()), &w), Poll::Pending);
        drop(tx2);
        assert_eq!(poll_once(pin!(rx.recv()), &w), Poll::Ready(None));
    }

    #[test]
    fn a_waiting_receiver_is_woken_by_a_send_and_by_the_last_sender_leaving() {
        let (tx, mut rx) = unbounded::<u8>();
        let (counter, w) = waker();
        {
            let mut recv = pin!(rx.recv());
            assert_eq!(poll_once(recv.as_mut(), &w), Poll::Pending);
            tx.send(7).unwrap();
            assert_eq!(wakes(&counter), 1);
            assert_eq!(poll_once(recv.as_mut(), &w), Poll::Ready(Some(7)));
        }
        let mut recv = pin!(rx.recv());
        assert_eq!(poll_once(recv.as_mut(), &w), Poll::Pending);
        drop(tx);
        assert_eq!(wakes(&counter), 2);
        assert_eq!(poll_once(recv.as_mut(), &w), Poll::Ready(None));
    }

    #[test]
    fn sending_to_a_dropped_receiver_gives_the_message_back() {
        let (tx, rx) = unbounded();
        drop(rx);
        assert_eq!(tx.send("line"), Err("line"));
    }

    #[test]
    fn queued_messages_are_dropped_with_the_receiver_even_if_they_hold_a_sender() {
        struct Holds(#[allow(dead_code)] Option<UnboundedSender<Holds>>);
        let (tx, rx) = unbounded::<Holds>();
        assert!(tx.send(Holds(Some(tx.clone()))).is_ok());
        assert_eq!(tx.shared.borrow().senders, 2);
        // The queued sender of this same channel is dropped outside the borrow.
        drop(rx);
        assert_eq!(tx.shared.borrow().senders, 1);
        assert!(tx.send(Holds(None)).is_err());
    }
}
