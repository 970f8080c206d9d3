//! What the OS says about this process, for the `process_*` metrics: CPU time,
//! memory, file descriptors and start time, read from Linux's `/proc` on every scrape.
//!
//! Elsewhere (another OS, `/proc` not mounted) and in simulation there are no
//! figures: [`proc_stats`] answers `None` and the metrics leave the `process_*`
//! families out rather than report zeros as if they were measured.
//!
//! Where each figure comes from (`proc(5)`):
//! - `/proc/self/stat`: after the `(comm)` field, fields 14 and 15 (`utime`, `stime`)
//!   and 22 (`starttime`) in clock ticks, 23 (`vsize`) in bytes. A tick is
//!   `USER_HZ` = 1/100 s, fixed by the kernel ABI on every Linux architecture.
//! - `/proc/self/status`: `VmRSS` in kB (no page size to know).
//! - `/proc/stat`: `btime`, the boot time in Unix seconds (`starttime` counts from it).
//! - `/proc/self/fd`: one entry per open descriptor (the directory read itself
//!   holds one while it runs, as every reader of it counts).
//! - `/proc/self/limits`: the soft limits "Max open files" and "Max address space"
//!   (`unlimited` is `u64::MAX`, as the Go client reports it).

/// One reading of the process's resource use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcStats {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: f64,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    /// Soft limit on the address space (`u64::MAX` when unlimited), if known.
    pub virtual_memory_max_bytes: Option<u64>,
    pub open_fds: u64,
    /// Soft limit on open descriptors (`u64::MAX` when unlimited), if known.
    pub max_fds: Option<u64>,
    /// When the process started, Unix seconds.
    pub start_time_seconds: f64,
}

/// Clock ticks per second of `/proc`'s times (`USER_HZ`).
#[cfg(not(madsim))]
const TICKS_PER_SECOND: f64 = 100.0;

/// Read the figures now; `None` where the OS does not give them (see the module
/// header).
#[cfg(not(madsim))]
pub fn proc_stats() -> Option<ProcStats> {
    #[allow(clippy::disallowed_methods)] // env/ is the door to the OS
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let stat = parse_stat(&read("/proc/self/stat")?)?;
    let boot_time_s = parse_boot_time(&read("/proc/stat")?)?;
    let resident_memory_bytes = parse_rss_bytes(&read("/proc/self/status")?)?;
    #[allow(clippy::disallowed_methods)]
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let limits = read("/proc/self/limits").unwrap_or_default();
    Some(ProcStats {
        cpu_seconds: (stat.utime_ticks + stat.stime_ticks) as f64 / TICKS_PER_SECOND,
        resident_memory_bytes,
        virtual_memory_bytes: stat.vsize_bytes,
        virtual_memory_max_bytes: parse_soft_limit(&limits, "Max address space"),
        open_fds,
        max_fds: parse_soft_limit(&limits, "Max open files"),
        start_time_seconds: boot_time_s as f64 + stat.start_ticks as f64 / TICKS_PER_SECOND,
    })
}

/// Simulation: a simulated node is no OS process.
#[cfg(madsim)]
pub fn proc_stats() -> Option<ProcStats> {
    None
}

/// The fields of `/proc/self/stat` the metrics use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFields {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub start_ticks: u64,
    pub vsize_bytes: u64,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<StatFields> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first one after the name: field n is at index n - 3.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(StatFields {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
    })
}

/// `btime` of `/proc/stat`.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("btime")).and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` of `/proc/self/status`, in bytes.
pub fn parse_rss_bytes(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft limit on the line of `/proc/self/limits` that starts with `name`.
pub fn parse_soft_limit(text: &str, name: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(name))?;
    match rest.split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
#[path = "proc_stats_test.rs"]
mod proc_stats_test;
