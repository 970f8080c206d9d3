//! Results of a run: per-client [`Stats`] (latencies in microseconds, cheap to
//! record), merged into one [`Report`] printed as text or as one flat JSON line.
//!
//! Percentiles are by nearest rank over the successful requests: of n sorted
//! latencies, the p-th percentile is the ⌈p/100 · n⌉-th (computed in integers). For [1, 2, 3, 4, 5] µs, p50
//! is the 3rd (3 µs), p90 the 5th (5 µs), p99.9 the 5th.

use std::time::Duration;

use super::args::Args;

/// What one client saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Latency of each successful request, µs (saturating at u32::MAX ≈ 71 min).
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Stats {
    pub fn record(&mut self, result: Result<u32, String>) {
        match result {
            Ok(us) => self.latencies_us.push(us),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// Fold `other` into `self` (the first error of the earlier client wins).
    pub fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Microseconds in `d`, saturating.
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The nearest-rank percentile of ascending `sorted` at `per_mille` thousandths
/// (500 = p50, 999 = p99.9; at most 1000); 0 if empty. Integer arithmetic: in
/// floating point 99.9 / 100 · 1000 is 999.0000000000001, whose ceiling is 1000.
pub fn percentile(sorted: &[u32], per_mille: u64) -> u32 {
    debug_assert!(per_mille <= 1000, "a percentile is at most 100%, got {per_mille}‰");
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (per_mille * n).div_ceil(1000);
    sorted[(rank.clamp(1, n) - 1) as usize]
}

/// The summary of a whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub op: &'static str,
    /// Requests completed, successful or not.
    pub total: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Successful requests per second.
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub conns: usize,
    pub clients: usize,
    pub key_size: usize,
    pub val_size: usize,
    pub key_space: u64,
    pub first_error: Option<String>,
}

impl Report {
    pub fn new(args: &Args, mut stats: Stats, elapsed: Duration) -> Report {
        stats.latencies_us.sort_unstable();
        let lat = &stats.latencies_us;
        let ok = lat.len() as u64;
        let seconds = elapsed.as_secs_f64();
        let ms = |us: u32| f64::from(us) / 1000.0;
        Report {
            op: args.op.name(),
            total: ok + stats.errors,
            errors: stats.errors,
            seconds,
            ops_per_s: if seconds > 0.0 { ok as f64 / seconds } else { 0.0 },
            p50_ms: ms(percentile(lat, 500)),
            p90_ms: ms(percentile(lat, 900)),
            p99_ms: ms(percentile(lat, 990)),
            p999_ms: ms(percentile(lat, 999)),
            max_ms: ms(lat.last().copied().unwrap_or(0)),
            conns: args.conns,
            clients: args.clients,
            key_size: args.key_size,
            val_size: args.val_size,
            key_space: args.key_space,
            first_error: stats.first_error,
        }
    }

    /// One JSON object on one line, no trailing newline.
    pub fn json(&self) -> String {
        let mut s = format!(
            "{{\"op\":{},\"total\":{},\"errors\":{},\"seconds\":{},\"ops_per_s\":{},\"p50_ms\":{},\
             \"p90_ms\":{},\"p99_ms\":{},\"p999_ms\":{},\"max_ms\":{},\"conns\":{},\"clients\":{},\
             \"key_size\":{},\"val_size\":{},\"key_space\":{}",
            json_string(self.op),
            self.total,
            self.errors,
            json_number(self.seconds),
            json_number(self.ops_per_s),
            json_number(self.p50_ms),
            json_number(self.p90_ms),
            json_number(self.p99_ms),
            json_number(self.p999_ms),
            json_number(self.max_ms),
            self.conns,
            self.clients,
            self.key_size,
            self.val_size,
            self.key_space,
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!(",\"first_error\":{}", json_string(e)));
        }
        s.push('}');
        s
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        let mut s = format!(
            "{}: {} requests ({} errors) in {:.3} s: {:.1} ops/s\n\
             latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n\
             conns {}, clients {}, key-size {}, val-size {}, key-space {}\n",
            self.op,
            self.total,
            self.errors,
            self.seconds,
            self.ops_per_s,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            self.conns,
            self.clients,
            self.key_size,
            self.val_size,
            self.key_space,
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!("first error: {e}\n"));
        }
        s
    }
}

/// A finite number with at most 3 decimals (JSON has no NaN or infinity: 0 then).
fn json_number(x: f64) -> String {
    if !x.is_finite() {
        return "0".into();
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "report_test.rs"]
mod report_test;
