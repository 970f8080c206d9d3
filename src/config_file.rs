//! etcd's `--config-file`: a YAML mapping whose keys are etcd 3.4's configuration keys,
//! turned into the same flag → value map the command line gives, so one builder
//! ([`super::build`]) reads both. What etcd does, and so what happens here:
//!
//! ```yaml
//! name: n1                       # a flag's own name is its key (most flags)
//! data-dir: /var/lib/etcd
//! wal-dir:                       # empty (null): etcd's default
//! listen-client-urls: http://127.0.0.1:2379,http://10.0.0.1:2379   # URLs: one string
//! log-outputs: [stderr, /var/log/etcd.log]                         # lists: YAML lists
//! cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
//! experimental-corrupt-check-time: 300000000000    # durations: nanoseconds (Go's JSON)
//! client-transport-security:     # the TLS flags live here, without the prefix:
//!   cert-file: /s.crt            #   cert-file, key-file, client-cert-auth,
//!   client-cert-auth: true       #   trusted-ca-file, auto-tls
//! peer-transport-security:       # --peer-cert-file etc., the same five keys
//!   auto-tls: true
//! ```
//!
//! etcd decodes the file as JSON into its config struct, so keys match without regard
//! to case and keys it does not know are skipped (here: skipped with a warning).
//! MetaStore is more lenient on value types than Go's decoder: a number or a bool
//! where etcd wants a string is taken as its text, a duration may also be written as
//! a Go duration string (`5m`), and a list may also be one comma-separated string.
//! YAML 1.1's `yes`/`no`/`on`/`off` (which etcd's YAML library reads as booleans) are
//! booleans for boolean keys.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use super::flags::{self, Kind};

/// The keys of `client-transport-security` / `peer-transport-security`, and the flag
/// each sets (with `peer-` in front for the peer side).
const SECURITY_KEYS: &[&str] = &["cert-file", "key-file", "client-cert-auth", "trusted-ca-file", "auto-tls"];

/// Flag values (by flag name) from the text of a config file, plus warnings about
/// keys that were skipped.
pub fn flags_from_yaml(text: &str) -> Result<(BTreeMap<String, String>, Vec<String>), String> {
    let docs =
        YamlLoader::load_from_str(text).map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    let mut values = BTreeMap::new();
    let mut warnings = Vec::new();
    let root = match docs.into_iter().next() {
        None | Some(Yaml::Null) => return Ok((values, warnings)),
        Some(Yaml::Hash(root)) => root,
        Some(other) => {
            return Err(format!(
                "error unmarshaling JSON: the config file is a {}, not a mapping",
                kind_name(&other)
            ))
        }
    };
    for (key, value) in root {
        let key = scalar_text(&key).unwrap_or_default().to_ascii_lowercase();
        match key.as_str() {
            "client-transport-security" => security(&value, "", &key, &mut values, &mut warnings)?,
            "peer-transport-security" => security(&value, "peer-", &key, &mut values, &mut warnings)?,
            _ => match flags::find(&key).filter(|f| f.in_file) {
                Some(flag) => set(flag.name, flag.kind, &value, &key, &mut values)?,
                None => warnings
                    .push(format!("config file key {key:?} is not an etcd 3.4 configuration key; ignored")),
            },
        }
    }
    Ok((values, warnings))
}

fn security(
    value: &Yaml,
    prefix: &str,
    section: &str,
    values: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let map = match value {
        Yaml::Null => return Ok(()),
        Yaml::Hash(map) => map,
        other => {
            return Err(format!(
                "error unmarshaling JSON: {section} is a {}, not a mapping",
                kind_name(other)
            ))
        }
    };
    for (key, value) in map {
        let key = scalar_text(key).unwrap_or_default().to_ascii_lowercase();
        if !SECURITY_KEYS.contains(&key.as_str()) {
            warnings.push(format!(
                "config file key {section}.{key} is not an etcd 3.4 configuration key; ignored"
            ));
            continue;
        }
        let name = format!("{prefix}{key}");
        let kind = flags::find(&name).map_or(Kind::Text, |f| f.kind);
        set(&name, kind, value, &format!("{section}.{key}"), values)?;
    }
    Ok(())
}

/// Store `value` (of config key `key`) as the flag `name`'s value, checked as the
/// flag's kind.
fn set(
    name: &str,
    kind: Kind,
    value: &Yaml,
    key: &str,
    values: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let bad = |why: &str| format!("error unmarshaling JSON: config file key {key:?}: {why}");
    let text = match (kind, value) {
        (_, Yaml::Null) => return Ok(()),
        (_, Yaml::Array(items)) if is_list(name) => {
            let parts: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            parts.ok_or_else(|| bad("a list of strings is expected"))?.join(",")
        }
        (Kind::Bool, Yaml::String(s)) => match yaml11_bool(s) {
            Some(b) => b.to_string(),
            None => s.clone(),
        },
        (Kind::Duration, Yaml::Integer(ns)) => format!("{ns}ns"),
        (_, v) => scalar_text(v).ok_or_else(|| bad(&format!("a {} is not a value", kind_name(v))))?,
    };
    if let Some(flag) = flags::find(name) {
        flags::check_value(flag, &text).map_err(|why| bad(&format!("{text:?}: {why}")))?;
    }
    values.insert(name.to_string(), text);
    Ok(())
}

/// Keys whose value etcd's config struct holds as a list of strings.
fn is_list(name: &str) -> bool {
    matches!(name, "log-outputs" | "log-output" | "cipher-suites")
}

fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// YAML 1.1's booleans beyond true/false, which etcd's YAML library (go-yaml v2)
/// resolves as booleans.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn kind_name(v: &Yaml) -> &'static str {
    match v {
        Yaml::Array(_) => "list",
        Yaml::Hash(_) => "mapping",
        Yaml::Alias(_) => "alias",
        Yaml::BadValue => "bad value",
        _ => "scalar",
    }
}
