//! openraft's `AsyncRuntime` over `tokio::*`, which is madsim-tokio: the real tokio in
//! production and madsim's deterministic executor under `cfg(madsim)`. Written once.
//!
//! Differences from openraft-rt-tokio, all for determinism in simulation:
//! - `Instant` wraps `tokio::time::Instant` (real) or `std::time::Instant` (madsim
//!   intercepts clock_gettime and moves it in virtual time).
//! - `Timeout` is our own pinned {future, sleep} pair: madsim's timeout future cannot
//!   be named.
//! - `thread_rng` is a SmallRng seeded from `env::random` (madsim's global RNG).
//! - `spawn_blocking` runs inline in simulation (madsim refuses OS threads).
//! - The watch channel is openraft-rt-sim's `SimWatch` under madsim: tokio's watch
//!   draws its RNG seed from a process counter and breaks replay.

use std::fmt;
use std::future::Future;
use std::io;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use openraft_rt::{AsyncRuntime, OptionalSend};

#[cfg(madsim)]
type RawInstant = std::time::Instant;
#[cfg(not(madsim))]
type RawInstant = tokio::time::Instant;

/// openraft's clock: the runtime's monotonic instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RtInstant(RawInstant);

impl RtInstant {
    fn sleep_until(self) -> tokio::time::Sleep {
        #[cfg(madsim)]
        {
            tokio::time::sleep_until(self.0)
        }
        #[cfg(not(madsim))]
        {
            tokio::time::sleep_until(self.0)
        }
    }
}

impl Add<Duration> for RtInstant {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        RtInstant(self.0 + rhs)
    }
}
impl AddAssign<Duration> for RtInstant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}
impl Sub<Duration> for RtInstant {
    type Output = Self;
    fn sub(self, rhs: Duration) -> Self {
        RtInstant(self.0 - rhs)
    }
}
impl Sub<RtInstant> for RtInstant {
    type Output = Duration;
    fn sub(self, rhs: RtInstant) -> Duration {
        self.0.saturating_duration_since(rhs.0)
    }
}
impl SubAssign<Duration> for RtInstant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.0 -= rhs;
    }
}

impl openraft_rt::Instant for RtInstant {
    fn now() -> Self {
        #[cfg(madsim)]
        #[allow(clippy::disallowed_methods)]
        {
            RtInstant(std::time::Instant::now())
        }
        #[cfg(not(madsim))]
        {
            RtInstant(tokio::time::Instant::now())
        }
    }
}

/// A deadline ran out before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}
impl std::error::Error for Elapsed {}

/// `future` raced against `sleep`; the future is polled first so a future ready at
/// the deadline wins.
pub struct RtTimeout<F> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<F: Future> Future for RtTimeout<F> {
    type Output = Result<F::Output, Elapsed>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[derive(Debug, Default)]
pub struct Runtime;

impl AsyncRuntime for Runtime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = RtInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = RtTimeout<T>;
    type ThreadLocalRng = rand::rngs::SmallRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        deadline.sleep_until()
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        RtTimeout { future: Box::pin(future), sleep: Box::pin(tokio::time::sleep(duration)) }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        RtTimeout { future: Box::pin(future), sleep: Box::pin(deadline.sleep_until()) }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        crate::env::random::small_rng()
    }

    type Mpsc = openraft_rt_tokio::TokioMpsc;
    #[cfg(madsim)]
    type Watch = openraft_rt_sim::SimWatch;
    #[cfg(not(madsim))]
    type Watch = openraft_rt_tokio::TokioWatch;
    type Oneshot = openraft_rt_tokio::TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = openraft_rt_tokio::TokioMutex<T>;

    fn new(_threads: usize) -> Self {
        Runtime
    }

    fn block_on<F, T>(&mut self, _future: F) -> T
    where
        F: Future<Output = T>,
    {
        // The application owns its runtime (main.rs or the simulator); openraft only
        // calls this from its own test suites.
        panic!("metastore::raft::Runtime::block_on: run inside the application's runtime")
    }

    #[allow(clippy::manual_async_fn)] // the trait's signature: an `impl Future + Send`
    fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T, io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        async move { Ok(crate::env::blocking(f).await) }
    }
}
