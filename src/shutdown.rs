//! A one-shot shutdown signal shared by a node's servers. Built on `Notify` and an
//! atomic flag rather than tokio's watch channel, whose internal randomness breaks
//! madsim's determinism check (simulation-notes.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<(AtomicBool, Notify)>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Signal every current and future waiter.
    pub fn trigger(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Resolve once [`Shutdown::trigger`] has been called.
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_before_and_after_trigger_resolve() {
        let s = Shutdown::new();
        let early = {
            let s = s.clone();
            tokio::spawn(async move { s.wait().await })
        };
        tokio::task::yield_now().await;
        s.trigger();
        early.await.unwrap();
        s.wait().await;
        assert!(s.is_triggered());
    }
}
