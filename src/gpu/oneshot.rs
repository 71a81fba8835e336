//! A one-value channel whose receiver is a future: a buffer-mapping callback sends, the
//! read-back awaits. Natively the callback runs inside `device.poll`; in a browser, from the
//! event loop. `try_take` lets a caller look without waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct Shared<T> {
    value: Option<T>,
    /// The sender went away without sending.
    closed: bool,
    waker: Option<Waker>,
}

pub struct Sender<T>(Arc<Mutex<Shared<T>>>);
pub struct Receiver<T>(Arc<Mutex<Shared<T>>>);

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Shared {
        value: None,
        closed: false,
        waker: None,
    }));
    (Sender(shared.clone()), Receiver(shared))
}

fn lock<T>(m: &Mutex<Shared<T>>) -> std::sync::MutexGuard<'_, Shared<T>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Sender<T> {
    pub fn send(self, value: T) {
        let waker = {
            let mut s = lock(&self.0);
            s.value = Some(value);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.0);
            s.closed = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The value if it has arrived; `Some(None)` if it never will.
    pub fn try_take(&mut self) -> Option<Option<T>> {
        let mut s = lock(&self.0);
        match s.value.take() {
            Some(v) => Some(Some(v)),
            None if s.closed => Some(None),
            None => None,
        }
    }
}

impl<T> Future for Receiver<T> {
    /// `None` when the sender was dropped without sending.
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.0);
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn delivers_once_and_reports_a_dropped_sender() {
        let (tx, mut rx) = channel();
        assert_eq!(rx.try_take(), None);
        tx.send(7);
        assert_eq!(pollster::block_on(rx), Some(7));
        let (tx, rx) = channel::<u8>();
        let waiter = std::thread::spawn(move || pollster::block_on(rx));
        drop(tx);
        assert_eq!(waiter.join().unwrap(), None);
    }
}
