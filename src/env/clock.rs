//! Clock: monotonic time and wall time for one node, with a per-node offset and
//! drift that the simulator sets (madsim has one clock for every node, so skew must
//! come from here or lease safety is never tested).
//!
//! `now_ms()` = base + (elapsed since creation) × (1 + drift_ppm / 10⁶) + offset_ms.
//! With offset 0 and drift 0 it is the runtime's monotonic clock in milliseconds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    origin: tokio::time::Instant,
    offset_ms: AtomicI64,
    drift_ppm: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            inner: Arc::new(Inner {
                #[allow(clippy::disallowed_methods)] // env/ is the door to the clock
                origin: tokio::time::Instant::now(),
                offset_ms: AtomicI64::new(0),
                drift_ppm: AtomicI64::new(0),
            }),
        }
    }

    /// Shift this node's clock by `offset_ms` (simulation: skew).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.inner.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Make this node's clock run fast (positive) or slow (negative) by parts per million.
    pub fn set_drift_ppm(&self, drift_ppm: i64) {
        self.inner.drift_ppm.store(drift_ppm, Ordering::Relaxed);
    }

    /// Monotonic milliseconds since this clock was made, skewed as configured.
    pub fn now_ms(&self) -> i64 {
        let elapsed_ms = self.inner.origin.elapsed().as_millis() as i64;
        let drift = self.inner.drift_ppm.load(Ordering::Relaxed);
        let skewed = elapsed_ms + elapsed_ms * drift / 1_000_000;
        skewed + self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Wall-clock time in Unix milliseconds (for log lines and stats only: never for
    /// decisions, which use `now_ms`).
    pub fn unix_ms(&self) -> i64 {
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}
