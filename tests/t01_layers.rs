//! The layering of `../shared/docs/architecture.md`, checked on the source: the
//! modules below the faces (raft, tls, apply, the sans-IO cores, storage, env) never
//! reach up into `server` (the faces) or `node` (the process that wires them).

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

const BELOW: &[&str] = &["raft", "tls", "apply", "mvcc", "lease", "auth", "watch", "storage", "env"];
const ABOVE: &[&str] = &["crate::server", "crate::node::", "crate::node;", "crate::node}"];

fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for entry in entries {
            sources(&entry, out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn lower_layers_do_not_import_the_faces_or_the_node() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in BELOW {
        sources(&src.join(module), &mut files);
        sources(&src.join(format!("{module}.rs")), &mut files);
    }
    assert!(files.len() > 20, "found the modules' sources: {files:?}");
    let mut found = Vec::new();
    for file in files {
        // Tests of a module may build what they need from anywhere.
        if file.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_test.rs")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if ABOVE.iter().any(|a| line.contains(a)) {
                found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "imports that run back up the layers:\n{}", found.join("\n"));
}
