//! The shape README's Architecture section describes, checked on the source:
//! the top-level modules import each other without a cycle, the pure modules
//! never touch the client, the network or the clock, and the layers point one
//! way (strategies never see the engine or the policy; the ledger never sees a
//! strategy). Test code (`#[cfg(test)]` modules, `*_tests.rs`, `testing/`) is
//! left out: tests may reach across layers.

// Test code may panic on what it built itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Modules that decide, and so must be reproducible: no client, no clock.
const PURE: &[&str] = &[
    "api",
    "engine",
    "placement",
    "plan",
    "policy",
    "report",
    "selectors",
    "snapshot",
    "strategies",
    "validation",
];

/// What a pure module may not mention.
const IMPURE: &[&str] = &[
    "kube::Client",
    "kube::Api",
    "Api<",
    "Api::",
    "Client::",
    "tokio::",
    "reqwest",
    "Utc::now",
    "Local::now",
    "SystemTime::now",
    "Instant::now",
    "std::env::var",
    "std::fs::",
];

/// (module, modules it must not import).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "plan",
        &[
            "strategies",
            "policy",
            "engine",
            "report",
            "evictor",
            "controller",
            "simulate",
        ],
    ),
    (
        "strategies",
        &[
            "engine",
            "policy",
            "report",
            "evictor",
            "controller",
            "simulate",
        ],
    ),
    (
        "snapshot",
        &["plan", "strategies", "policy", "engine", "api"],
    ),
    (
        "placement",
        &[
            "plan",
            "strategies",
            "policy",
            "engine",
            "api",
            "report",
            "evictor",
            "controller",
            "simulate",
        ],
    ),
    (
        "api",
        &[
            "plan",
            "strategies",
            "policy",
            "engine",
            "snapshot",
            "report",
        ],
    ),
    ("engine", &["evictor", "report", "controller", "simulate"]),
    (
        "evictor",
        &["strategies", "policy", "engine", "report", "controller"],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/plan/ledger.rs` -> `plan`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// The file without its test code and comments.
fn production_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules named as `crate::<module>` in the code.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

type Edges = BTreeMap<String, BTreeSet<String>>;
/// Each module's files with their production code.
type Code = BTreeMap<String, Vec<(PathBuf, String)>>;

fn graph() -> (Edges, Code) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = Edges::new();
    let mut code_of = Code::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if module == "testing" || module == "main" || name.ends_with("_tests.rs") {
            continue;
        }
        let code = production_code(&fs::read_to_string(&file).expect("readable"));
        let deps = imports(&code);
        edges
            .entry(module.clone())
            .or_default()
            .extend(deps.into_iter().filter(|d| *d != module));
        code_of.entry(module).or_default().push((file, code));
    }
    (edges, code_of)
}

/// A cycle through `start`, if any, as the list of modules on it.
fn cycle_from(
    edges: &Edges,
    start: &str,
    at: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in edges.get(at).into_iter().flatten() {
        if next == start {
            let mut c = path.clone();
            c.push(start.to_string());
            return Some(c);
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = cycle_from(edges, start, next, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let (edges, _) = graph();
    assert!(edges.contains_key("engine") && edges.contains_key("plan"));
    for start in edges.keys() {
        let mut path = vec![start.clone()];
        let found = cycle_from(&edges, start, start, &mut path, &mut BTreeSet::new());
        assert!(
            found.is_none(),
            "import cycle: {}",
            found.unwrap_or_default().join(" -> ")
        );
    }
}

#[test]
fn layers_point_one_way() {
    let (edges, _) = graph();
    for (module, forbidden) in LAYERS {
        let deps = edges.get(*module).cloned().unwrap_or_default();
        for f in *forbidden {
            assert!(!deps.contains(*f), "{module} must not import {f}");
        }
    }
}

#[test]
fn pure_modules_never_touch_the_client_or_the_clock() {
    let (_, code_of) = graph();
    for module in PURE {
        for (file, code) in code_of.get(*module).into_iter().flatten() {
            for token in IMPURE {
                assert!(
                    !code.contains(token),
                    "{} (module {module}, pure) mentions {token}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_checks_see_violations() {
    // The detector itself: a cycle and an impure token are found.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("a".into());
    let mut path = vec!["a".to_string()];
    assert!(cycle_from(&edges, "a", "a", &mut path, &mut BTreeSet::new()).is_some());
    let code = production_code(
        "use crate::plan::Ledger;\n// crate::engine\n#[cfg(test)]\nuse crate::testing;",
    );
    assert_eq!(imports(&code), BTreeSet::from(["plan".to_string()]));
}
