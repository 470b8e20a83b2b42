//! The module edges ARCHITECTURE.md writes down, checked on the source: which top-level
//! modules of `src/` may name which (`crate::<module>` paths), and where Kafka message
//! types may be used. A new edge is a design decision: add it here and in
//! ARCHITECTURE.md together, or move the code.
//!
//! Test code (files `tests*.rs`, `*_tests.rs`, `testutil.rs`, and an inline
//! `#[cfg(test)] mod … {` block, which ends the file's production code) is not held to
//! the table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each module and the modules it may use. Lower layers first.
const ALLOWED: &[(&str, &[&str])] = &[
    ("format", &[]),
    ("storage", &["format"]),
    ("controller", &[]),
    ("coordinator", &[]),
    ("protocol", &["format"]),
    ("config", &["storage", "coordinator", "controller"]),
    (
        "replication",
        &["storage", "controller", "protocol", "format"],
    ),
    (
        "broker",
        &[
            "config",
            "controller",
            "coordinator",
            "replication",
            "storage",
            "format",
            // startup starts the listeners
            "net",
        ],
    ),
    (
        "handlers",
        &[
            "broker",
            "config",
            "controller",
            "coordinator",
            "replication",
            "storage",
            "format",
            "protocol",
        ],
    ),
    (
        "net",
        &["broker", "config", "handlers", "protocol", "format"],
    ),
    ("fuzz", &["broker", "handlers", "protocol"]),
];

/// The only modules that may use `kafka_protocol` (its messages, errors and codecs).
const KAFKA_PROTOCOL_USERS: &[&str] = &["protocol", "handlers"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_test_file(name: &str) -> bool {
    let stem = name.trim_end_matches(".rs");
    stem.starts_with("tests") || stem.ends_with("_tests") || stem == "testutil"
}

/// The file's code outside its unit tests, without comment lines.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim();
                next.starts_with("mod ") && next.ends_with('{')
            })
        {
            break;
        }
        if !line.trim_start().starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// `crate::<name>` paths named in `code`.
fn crate_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
        rest = after;
    }
    out
}

#[test]
fn modules_use_only_the_edges_architecture_md_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap();
        let name = rel.file_name().unwrap().to_str().unwrap();
        if rel == Path::new("main.rs") || rel == Path::new("lib.rs") || is_test_file(name) {
            continue;
        }
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs");
        seen_modules.insert(module.to_string());
        let Some(may_use) = allowed.get(module) else {
            violations.push(format!(
                "{}: module `{module}` is not in ALLOWED",
                rel.display()
            ));
            continue;
        };
        let code = production_code(&fs::read_to_string(path).unwrap());
        for used in crate_modules(&code) {
            if used != module && !may_use.contains(&used.as_str()) {
                violations.push(format!(
                    "{}: `{module}` uses `crate::{used}`",
                    rel.display()
                ));
            }
        }
        if code.contains("kafka_protocol") && !KAFKA_PROTOCOL_USERS.contains(&module) {
            violations.push(format!("{}: `{module}` uses kafka_protocol", rel.display()));
        }
    }
    assert!(
        violations.is_empty(),
        "forbidden module edges (see ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
    // The table must not keep modules that no longer exist.
    for (module, _) in ALLOWED {
        assert!(
            seen_modules.contains(*module),
            "ALLOWED names `{module}`, which src/ no longer has"
        );
    }
}

#[test]
fn the_checker_sees_a_forbidden_edge() {
    let code = production_code(
        "#[cfg(test)]\nmod tests_log;\nuse crate::storage::LogManager;\n// crate::net in a comment\nfn f() { crate::broker::now_ms(); }\n#[cfg(test)]\nmod tests {\n    use crate::handlers;\n}\n",
    );
    let used: Vec<String> = crate_modules(&code).into_iter().collect();
    assert_eq!(used, ["broker", "storage"]);
}
