//! `env`: the one door to the world. Time ([`clock`]), persistent bytes ([`disk`]),
//! randomness ([`random`]), task spawning ([`spawn`], [`blocking`]) and the process's
//! own resource figures ([`proc_stats`]) go through here; the network goes through
//! `tonic` (madsim-tonic). Under `cfg(madsim)` each of them is the simulator's;
//! otherwise the real thing. Everything outside this module is forbidden (clippy
//! `disallowed-methods`) from touching std::fs, threads, wall clocks or OS randomness.

pub mod clock;
pub mod disk;
pub mod fs_disk;
pub mod proc_stats;
pub mod random;
pub mod sim_disk;

pub use clock::Clock;
pub use disk::{Disk, DiskFile};

use std::future::Future;

/// Spawn a task on the current runtime (tokio, or the madsim node's executor).
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

/// Run a blocking closure (an fsync, say) without stalling the async workers. In
/// simulation there are no threads: it runs inline, which is what the simulated disk
/// expects (its operations are instantaneous).
pub async fn blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    #[cfg(madsim)]
    {
        f()
    }
    #[cfg(not(madsim))]
    {
        match tokio::task::spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
