//! [`until_killed`]: run a connection until it ends or its listener's `kill`
//! token is cancelled.
//!
//! A plain `select!` polls the token's `cancelled()` future on every wake-up
//! of the connection's task (once or more per request), and polling a
//! waiting `Notified` takes the `Notify`'s lock: about 1 % of a proxied
//! request's instructions. Here the token's future is polled with a waker of
//! its own, and again only after that waker fired.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

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

/// Drive `fut` to its end; `false` if `kill` was cancelled first.
///
/// Takes the future pinned where the caller built it: moving a connection's
/// future (several KiB) into this one would copy it, and an `async fn`
/// holding it by value would reserve room for it twice.
pub(crate) fn until_killed<'a, F: Future<Output = ()>>(
    mut fut: Pin<&'a mut F>,
    kill: &'a CancellationToken,
) -> impl Future<Output = bool> + 'a {
    let flag = Arc::new(Flag::default());
    flag.hit.store(true, Ordering::Relaxed); // poll once to register
    let waker = Waker::from(Arc::clone(&flag));
    let mut killed = Box::pin(kill.cancelled());
    poll_fn(move |cx| {
        if fut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        flag.task.register(cx.waker());
        if flag.hit.swap(false, Ordering::AcqRel)
            && killed
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
        {
            return Poll::Ready(false);
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ends_with_the_future_or_when_killed() {
        let kill = CancellationToken::new();
        assert!(until_killed(std::pin::pin!(async {}), &kill).await);

        let never = std::pin::pin!(std::future::pending::<()>());
        let killer = kill.clone();
        tokio::spawn(async move { killer.cancel() });
        assert!(!until_killed(never, &kill).await);
    }
}
