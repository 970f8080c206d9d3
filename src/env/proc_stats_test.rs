use super::*;

#[test]
fn stat_fields_are_counted_from_the_last_parenthesis() {
    // A command name with spaces and a parenthesis of its own.
    let line = "4242 (meta store) x) S 1 4242 4242 0 -1 4194560 1862 0 0 0 \
                250 75 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615";
    let f = parse_stat(line).expect("parses");
    assert_eq!(
        f,
        StatFields { utime_ticks: 250, stime_ticks: 75, start_ticks: 123456, vsize_bytes: 987654321 }
    );
    assert_eq!(parse_stat("4242 (cut short) S 1 2"), None);
}

#[test]
fn status_limits_and_boot_time() {
    assert_eq!(
        parse_rss_bytes("Name:\tmetastore\nVmSize:\t  9000 kB\nVmRSS:\t    1234 kB\n"),
        Some(1234 * 1024)
    );
    assert_eq!(parse_rss_bytes("Name:\tkthread\n"), None);
    assert_eq!(parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"), Some(1_700_000_000));
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                  Max open files            1024                 524288               files     \n\
                  Max address space         unlimited            unlimited            bytes     \n";
    assert_eq!(parse_soft_limit(limits, "Max open files"), Some(1024));
    assert_eq!(parse_soft_limit(limits, "Max address space"), Some(u64::MAX));
    assert_eq!(parse_soft_limit(limits, "Max locked memory"), None);
}

#[cfg(not(madsim))]
#[test]
fn this_process_reads_plausibly() {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return; // not Linux: nothing to read
    }
    let s = proc_stats().expect("/proc is readable");
    assert!(s.resident_memory_bytes > 0 && s.virtual_memory_bytes >= s.resident_memory_bytes, "{s:?}");
    assert!(s.open_fds >= 3, "stdin, stdout, stderr at least: {s:?}");
    assert!(s.max_fds.is_some_and(|m| m >= s.open_fds), "{s:?}");
    assert!(s.start_time_seconds > 1.5e9, "started after 2017: {s:?}");
    assert!(s.cpu_seconds >= 0.0);
}
