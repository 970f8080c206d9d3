//! Linearizable reads share ReadIndex rounds, as etcd's `linearizableReadLoop` does.
//!
//! A read may be served once the member has applied up to a read index obtained *after*
//! the read arrived. One ReadIndex round (leadership confirmed, the commit index taken,
//! applied up to it) therefore serves every read that was waiting when the round began.
//! Reads that arrive while a round is in flight wait for the next one. Under load this
//! turns one pass through raft's core per read into one per batch.
//!
//! ```text
//! reads:   r1 r2      r3 r4 r5         r6
//! rounds:  [--- A: r1 r2 ---][--- B: r3 r4 r5 ---][--- C: r6 ---]
//! ```
//!
//! The rounds run in their own task (started by the first read that finds none
//! running, ending when no read waits), so a read that gives up (its request timed out,
//! its client went away) never strands the others.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::node::RaftNode;
use crate::error::Error;

type Waiter = oneshot::Sender<Result<(), Error>>;

#[derive(Default)]
pub(super) struct ReadBatch {
    state: Mutex<BatchState>,
}

#[derive(Default)]
struct BatchState {
    /// Reads waiting for the next round.
    waiting: Vec<Waiter>,
    /// A task is running rounds.
    running: bool,
    /// How long one round may take (the request timeout of the latest read).
    round_timeout: Duration,
}

/// Waiting reads past which the ones that gave up are dropped.
const PRUNE_AT: usize = 1024;

impl ReadBatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, BatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RaftNode {
    /// Linearizable read barrier through shared rounds of
    /// [`RaftNode::read_index_waiting`] (see the module doc); a round ends after
    /// `round_timeout` at the latest (Err(Timeout) for its reads).
    pub async fn read_barrier_batched(&self, round_timeout: Duration) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut st = self.reads.lock();
            st.round_timeout = round_timeout;
            if st.waiting.len() >= PRUNE_AT {
                // Reads that gave up while a round was stuck leave nothing behind.
                st.waiting.retain(|w| !w.is_closed());
            }
            st.waiting.push(tx);
            !std::mem::replace(&mut st.running, true)
        };
        if start {
            let node = self.clone();
            crate::env::spawn(async move { node.run_read_rounds().await });
        }
        rx.await.unwrap_or(Err(Error::Stopped))
    }

    async fn run_read_rounds(&self) {
        loop {
            let (batch, round_timeout) = {
                let mut st = self.reads.lock();
                if st.waiting.is_empty() {
                    st.running = false;
                    return;
                }
                (std::mem::take(&mut st.waiting), st.round_timeout)
            };
            // A round that cannot finish (no leader, the leader unreachable, this member
            // cut off while catching up) ends with the request timeout, so that the
            // reads after it get a round of their own once the cluster recovers.
            let result = match tokio::time::timeout(round_timeout, self.read_index_waiting()).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout),
            };
            for waiter in batch {
                let _ = waiter.send(result.clone());
            }
        }
    }
}
