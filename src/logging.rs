//! etcd's logs: every `tracing` event becomes one line as etcd 3.4 writes it, to the
//! `--log-outputs` (stderr, stdout, files; several at once), filtered by `--log-level`.
//!
//! `--logger zap` (our default; etcd 3.5's, and etcd 3.4's with `--logger zap`): one
//! JSON object per line with zap's production keys, then the event's fields, their
//! names in etcd's kebab-case (`data_dir` → `data-dir`):
//!
//! ```text
//! {"level":"info","ts":"2026-12-03T16:10:09.656Z","caller":"metastore/node.rs:304","msg":"starting local member","local-member-id":"bdae9bbc11dd390d"}
//! ```
//!
//! - `level`: `debug`, `info`, `warn`, `error` (a trace event is `debug`).
//! - `ts`: ISO 8601 with milliseconds, as zap's ISO8601 encoder writes it; always in
//!   UTC (`Z`), where etcd uses the machine's zone (`+0900`).
//! - `caller`: the source file's directory and name, and the line, as zap's short
//!   caller: `raft/node.rs:181`; a crate's top directory (`src/`) is named after the
//!   crate (`metastore/main.rs:120`, `openraft/lib.rs:5`).
//! - Field values keep their JSON type: integers and bools as such, the rest strings.
//!
//! `--logger capnslog` (etcd 3.4's deprecated text logger): one line per event,
//! `2026-12-03 16:10:21.057234 I | node: msg key=value ...` (the letter is the level;
//! the package is the event's module below the crate).
//!
//! `--log-level panic`, `fatal` (and `dpanic`) keep error lines: MetaStore logs
//! nothing above error (it exits on fatal errors after logging them at error).
//! `METASTORE_LOG` (a `tracing` filter such as `debug,openraft=info`) overrides the
//! level for debugging. Files are opened through [`Disk::open_append`] (created if
//! missing, appended to, never truncated or synced: as zap's file sink); `/dev/null`
//! among the outputs discards everything, as etcd's zap set-up does.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::config::Config;
use crate::env::{Clock, Disk, DiskFile};

#[cfg(test)]
#[path = "logging_test.rs"]
mod logging_test;

/// The line format (`--logger`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Zap,
    Capnslog,
}

/// Where lines go.
pub enum Sink {
    Stderr,
    Stdout,
    /// A file opened for appending (`--log-outputs /var/log/etcd.log`).
    File(Mutex<Box<dyn DiskFile>>),
    /// Lines kept in memory (tests, embedders).
    Buffer(Arc<Mutex<Vec<String>>>),
}

impl Sink {
    fn write(&self, line: &str) {
        // A log line that cannot be written is dropped: there is nowhere to report it.
        match self {
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Stdout => {
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Sink::File(file) => {
                if let Ok(mut file) = file.lock() {
                    let _ = file.append(line.as_bytes());
                }
            }
            Sink::Buffer(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.trim_end_matches('\n').to_string());
                }
            }
        }
    }
}

/// The `tracing` layer writing etcd's lines.
pub struct EtcdLog {
    format: Format,
    sinks: Vec<Sink>,
    clock: Clock,
}

impl EtcdLog {
    pub fn new(format: Format, sinks: Vec<Sink>) -> EtcdLog {
        EtcdLog { format, sinks, clock: Clock::new() }
    }

    /// The layer `cfg` asks for, its files opened (or created) on `disk`. The error is
    /// etcd's: `open sink "/no/such/dir/x.log": ...`.
    pub fn open(cfg: &Config, disk: &dyn Disk) -> Result<EtcdLog, String> {
        let format = if cfg.logger == "capnslog" { Format::Capnslog } else { Format::Zap };
        let mut sinks = Vec::new();
        if cfg.log_outputs.iter().any(|o| o == "/dev/null") {
            return Ok(EtcdLog::new(format, sinks));
        }
        for output in &cfg.log_outputs {
            let sink = match output.as_str() {
                // systemd captures a unit's stderr into its journal.
                "default" | "stderr" | "systemd/journal" => Sink::Stderr,
                "stdout" => Sink::Stdout,
                path => {
                    let path = path.strip_prefix("file://").unwrap_or(path);
                    let file =
                        disk.open_append(Path::new(path)).map_err(|e| format!("open sink {path:?}: {e}"))?;
                    Sink::File(Mutex::new(file))
                }
            };
            if !sinks
                .iter()
                .any(|s| matches!((s, &sink), (Sink::Stderr, Sink::Stderr) | (Sink::Stdout, Sink::Stdout)))
            {
                sinks.push(sink);
            }
        }
        Ok(EtcdLog::new(format, sinks))
    }

    /// The line for `event` at wall time `unix_ms`, newline included.
    pub fn line(&self, event: &Event<'_>, unix_ms: i64) -> String {
        let mut record = Record::default();
        event.record(&mut record);
        let meta = event.metadata();
        let (file, line) = match record.log_file.take() {
            Some(f) => (Some(f), record.log_line),
            None => (meta.file().map(str::to_string), meta.line().map(u64::from)),
        };
        let target = record.log_target.take().unwrap_or_else(|| meta.target().to_string());
        match self.format {
            Format::Zap => zap_line(meta.level(), unix_ms, &caller(file.as_deref(), line), &record),
            Format::Capnslog => capnslog_line(meta.level(), unix_ms, &package(&target), &record),
        }
    }
}

impl<S: Subscriber> Layer<S> for EtcdLog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if self.sinks.is_empty() {
            return;
        }
        let line = self.line(event, self.clock.unix_ms());
        for sink in &self.sinks {
            sink.write(&line);
        }
    }
}

/// Install the layer `cfg` asks for as the process's `tracing` subscriber.
pub fn install(cfg: &Config, disk: &dyn Disk) -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let layer = EtcdLog::open(cfg, disk)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("METASTORE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{},openraft=warn", filter_level(&cfg.log_level)))
    });
    tracing_subscriber::registry().with(filter).with(layer).try_init().map_err(|e| e.to_string())
}

/// The `tracing` level that keeps what etcd's `--log-level` keeps.
pub fn filter_level(log_level: &str) -> &'static str {
    match log_level {
        "debug" => "debug",
        "warn" => "warn",
        "error" | "dpanic" | "panic" | "fatal" => "error",
        _ => "info",
    }
}

/// One field's value, with its JSON type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// An event's message and fields, in order. Fields that the `log` crate bridge adds
/// (`log.file`, ...) give the caller instead.
#[derive(Debug, Default)]
pub struct Record {
    pub msg: String,
    pub fields: Vec<(String, Value)>,
    log_file: Option<String>,
    log_line: Option<u64>,
    log_target: Option<String>,
}

impl Record {
    fn push(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::Str(s)) => self.msg = s,
            ("log.file", Value::Str(s)) => self.log_file = Some(s),
            ("log.line", Value::U64(n)) => self.log_line = Some(n),
            ("log.target", Value::Str(s)) => self.log_target = Some(s),
            (name, _) if name.starts_with("log.") => {}
            (name, value) => self.fields.push((name.replace('_', "-"), value)),
        }
    }
}

impl Visit for Record {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, Value::Str(format!("{value:?}")));
    }
}

/// zap's JSON line (see the module doc).
pub fn zap_line(level: &Level, unix_ms: i64, caller: &str, record: &Record) -> String {
    let mut out = String::with_capacity(128 + record.msg.len());
    out.push_str("{\"level\":\"");
    out.push_str(zap_level(level));
    out.push_str("\",\"ts\":\"");
    out.push_str(&iso8601_utc_ms(unix_ms));
    out.push_str("\",\"caller\":");
    json_str(&mut out, caller);
    out.push_str(",\"msg\":");
    json_str(&mut out, &record.msg);
    for (key, value) in &record.fields {
        out.push(',');
        json_str(&mut out, key);
        out.push(':');
        match value {
            Value::Str(s) => json_str(&mut out, s),
            Value::F64(x) if !x.is_finite() => json_str(&mut out, &format!("{x}")),
            Value::I64(n) => push_display(&mut out, n),
            Value::U64(n) => push_display(&mut out, n),
            Value::F64(x) => push_display(&mut out, x),
            Value::Bool(b) => push_display(&mut out, b),
        }
    }
    out.push_str("}\n");
    out
}

/// capnslog's text line (see the module doc).
pub fn capnslog_line(level: &Level, unix_ms: i64, package: &str, record: &Record) -> String {
    let (date, time) = civil_utc(unix_ms);
    let micros = unix_ms.rem_euclid(1000) * 1000;
    let mut out = format!("{date} {time}.{micros:06} {} | {package}: {}", capnslog_letter(level), record.msg);
    for (key, value) in &record.fields {
        let _ = match value {
            Value::Str(s) => write!(out, " {key}={s}"),
            Value::I64(n) => write!(out, " {key}={n}"),
            Value::U64(n) => write!(out, " {key}={n}"),
            Value::F64(x) => write!(out, " {key}={x}"),
            Value::Bool(b) => write!(out, " {key}={b}"),
        };
    }
    out.push('\n');
    out
}

fn push_display(out: &mut String, value: &dyn std::fmt::Display) {
    let _ = write!(out, "{value}"); // writing to a String cannot fail
}

fn zap_level(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

fn capnslog_letter(level: &Level) -> char {
    match *level {
        Level::ERROR => 'E',
        Level::WARN => 'W',
        Level::INFO => 'I',
        Level::DEBUG => 'D',
        Level::TRACE => 'T',
    }
}

/// zap's short caller: `dir/file.rs:line`, a crate's `src` directory named after the
/// crate (`src/node.rs` → `metastore/node.rs`; a dependency's
/// `.../openraft-0.10.0/src/lib.rs` → `openraft/lib.rs`).
pub fn caller(file: Option<&str>, line: Option<u64>) -> String {
    let Some(file) = file else {
        return "undefined".to_string();
    };
    let mut parts = file.rsplit(['/', '\\']);
    let name = parts.next().unwrap_or(file);
    let dir = match (parts.next(), parts.next()) {
        (Some("src"), Some(krate)) => crate_name(krate),
        (Some("src"), None) => env!("CARGO_PKG_NAME"),
        (Some(dir), _) => dir,
        (None, _) => "",
    };
    let path = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
    match line {
        Some(line) => format!("{path}:{line}"),
        None => path,
    }
}

/// `openraft-0.10.0-alpha.37` → `openraft`: a registry directory without its version.
fn crate_name(dir: &str) -> &str {
    let bytes = dir.as_bytes();
    (1..bytes.len())
        .find(|&i| bytes[i - 1] == b'-' && bytes[i].is_ascii_digit())
        .map_or(dir, |i| &dir[..i - 1])
}

/// capnslog's package: the module below the crate (`metastore::raft::node` → `raft`),
/// the crate itself for its root module.
fn package(target: &str) -> String {
    let mut parts = target.split("::");
    let krate = parts.next().unwrap_or(target);
    parts.next().unwrap_or(krate).to_string()
}

/// `2026-12-03T16:10:09.656Z`.
pub fn iso8601_utc_ms(unix_ms: i64) -> String {
    let (date, time) = civil_utc(unix_ms);
    format!("{date}T{time}.{:03}Z", unix_ms.rem_euclid(1000))
}

/// (`YYYY-MM-DD`, `hh:mm:ss`) of a Unix time in ms, in UTC (proleptic Gregorian).
fn civil_utc(unix_ms: i64) -> (String, String) {
    let secs = unix_ms.div_euclid(1000);
    let (days, sec_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 → civil date, counting in 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (sec_of_day / 3600, sec_of_day % 3600 / 60, sec_of_day % 60);
    (format!("{year:04}-{month:02}-{day:02}"), format!("{h:02}:{m:02}:{s:02}"))
}

/// `s` as a JSON string, quotes included.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
