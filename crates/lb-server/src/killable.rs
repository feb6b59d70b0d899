//! [`until_killed`]: run a connection until it ends or its listener's `kill`
//! token is cancelled.
//!
//! A plain `select!` polls the token's `cancelled()` future on every wake-up
//! of the connection's task (once or more per request), and polling a
//! waiting `Notified` takes the `Notify`'s lock: about 1 % of a proxied
//! request's instructions. Here the token's future is polled with a waker of
//! its own, and again only after that waker fired.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Set when the token woke; wakes the connection's task.
#[derive(Default)]
struct Flag {
    hit: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.hit.store(true, Ordering::Release);
        self.task.wake();
    }
}

pin_project_lite::pin_project! {
    /// The future of [`until_killed`].
    pub(crate) struct UntilKilled<F> {
        #[pin]
        fut: F,
        flag: Arc<Flag>,
        waker: Waker,
        killed: Pin<Box<WaitForCancellationFutureOwned>>,
    }
}

/// Drive `fut` to its end; `false` if `kill` was cancelled first.
///
/// Owns `fut` in place (no second copy of a connection's future): the
/// kill signal costs one small allocation beside it.
pub(crate) fn until_killed<F: Future<Output = ()>>(
    fut: F,
    kill: &CancellationToken,
) -> UntilKilled<F> {
    let flag = Arc::new(Flag::default());
    flag.hit.store(true, Ordering::Relaxed); // poll once to register
    let waker = Waker::from(Arc::clone(&flag));
    UntilKilled {
        fut,
        flag,
        waker,
        killed: Box::pin(kill.clone().cancelled_owned()),
    }
}

impl<F: Future<Output = ()>> Future for UntilKilled<F> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.project();
        if this.fut.poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        this.flag.task.register(cx.waker());
        if this.flag.hit.swap(false, Ordering::AcqRel)
            && this
                .killed
                .as_mut()
                .poll(&mut Context::from_waker(this.waker))
                .is_ready()
        {
            return Poll::Ready(false);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ends_with_the_future_or_when_killed() {
        let kill = CancellationToken::new();
        assert!(until_killed(async {}, &kill).await);

        let never = std::future::pending::<()>();
        let killer = kill.clone();
        tokio::spawn(async move { killer.cancel() });
        assert!(!until_killed(never, &kill).await);
    }
}
