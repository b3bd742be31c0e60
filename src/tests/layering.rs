//! The layering rule of `src/`, checked by reading the code: a module may use its own layer's
//! modules and the layers below it, never one above, and no two modules may depend on each
//! other, directly or through others. The layers, from the bottom:
//!
//! | rank | layer |
//! |---|---|
//! | 0 | `postgres` (PostgreSQL helpers) |
//! | 1 | `platform` (One Vault facts) |
//! | 2 | `pipeline::model`, `pipeline::user_agent`, `pipeline::sites` (what the stages share) |
//! | 3 | `pipeline::rows` (the typed rows handed between stages) |
//! | 4 | `pipeline::raw`, `pipeline::staging`, `pipeline::vault`, `pipeline::rollups` (the stages: never each other) |
//! | 5 | `pipeline::process` (the orchestration above the stages) |
//! | 6 | `privacy`, `worker` (background processing) |
//! | 7 | `api`, `lifecycle` (never each other) |
//!
//! Inside `postgres`, `platform`, `privacy`, `worker`, `api` and `lifecycle`, modules may use each other
//! (the cycle check still applies); each pipeline module is a layer of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layer a module belongs to (its name and rank), from its path below `crate::`.
fn layer(module: &[&str]) -> Option<(String, u8)> {
    let rank = match module {
        ["postgres", ..] => 0,
        ["platform", ..] => 1,
        ["pipeline", "model" | "user_agent" | "sites", ..] => 2,
        ["pipeline", "rows", ..] => 3,
        ["pipeline", "raw" | "staging" | "vault" | "rollups", ..] => 4,
        ["pipeline", "process", ..] => 5,
        ["privacy" | "worker", ..] => 6,
        ["api" | "lifecycle", ..] => 7,
        _ => return None,
    };
    let name = match module {
        ["pipeline", stage, ..] => format!("pipeline::{stage}"),
        [top, ..] => (*top).to_owned(),
        [] => return None,
    };
    Some((name, rank))
}

/// The modules (as `a::b`) that `source` names through `crate::` paths, including grouped
/// imports such as `crate::pipeline::{raw, staging}`.
fn used_modules(source: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let prefix: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        let after = &rest[path.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let mut module = prefix.clone();
                module.extend(item.split("::").map(str::trim).filter(|p| !p.is_empty()));
                used.insert(module_of(&module));
            }
        } else {
            used.insert(module_of(&prefix));
        }
    }
    used.retain(|m| !m.is_empty());
    used
}

/// The module part of a path: the first two segments (`pipeline::raw`, `postgres::spi`), which
/// is where every module of the crate lives.
fn module_of(parts: &[&str]) -> String {
    parts.iter().take(2).copied().collect::<Vec<_>>().join("::")
}

/// Every broken rule in `files` (module path → source), as sentences.
fn violations(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in files {
        let segments: Vec<&str> = module.split("::").collect();
        let Some((own_layer, own_rank)) = layer(&segments) else {
            // A layer's `mod.rs` only declares its modules.
            if !used_modules(source).is_empty() {
                problems.push(format!("{module} is in no layer"));
            }
            continue;
        };
        for used in used_modules(source) {
            if &used == module {
                continue;
            }
            let used_segments: Vec<&str> = used.split("::").collect();
            let Some((used_layer, used_rank)) = layer(&used_segments) else {
                problems.push(format!("{module} uses {used}, which is in no layer"));
                continue;
            };
            if used_layer != own_layer && used_rank >= own_rank {
                problems.push(format!(
                    "{module} (layer {own_layer}, rank {own_rank}) uses {used} (layer {used_layer}, rank {used_rank})"
                ));
            }
            if files.contains_key(&used) {
                graph.entry(module).or_default().insert(used);
            }
        }
    }
    // A cycle: a module reachable from itself.
    for start in files.keys() {
        let mut stack: Vec<String> = graph
            .get(start.as_str())
            .map(|next| next.iter().cloned().collect())
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        while let Some(module) = stack.pop() {
            if &module == start {
                problems.push(format!("{start} depends on itself through a cycle"));
                break;
            }
            if seen.insert(module.clone()) {
                if let Some(next) = graph.get(module.as_str()) {
                    stack.extend(next.iter().cloned());
                }
            }
        }
    }
    problems
}

/// The crate's modules (`src/` without `lib.rs` and the tests), by module path.
fn crate_modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("directory entry").path();
            let relative = path.strip_prefix(&src).expect("below src").to_path_buf();
            if relative.starts_with("tests") || relative == Path::new("lib.rs") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module: Vec<String> = relative
                    .with_extension("")
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if module.last().is_some_and(|m| m == "mod") {
                    module.pop();
                }
                let source = std::fs::read_to_string(&path).expect("read module");
                modules.insert(module.join("::"), source);
            }
        }
    }
    modules
}

#[test]
fn modules_use_only_their_layer_and_the_layers_below() {
    let modules = crate_modules();
    assert!(modules.len() > 20, "found only {modules:?}");
    let problems = violations(&modules);
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(module, source)| ((*module).to_owned(), (*source).to_owned()))
        .collect()
}

#[test]
fn a_stage_that_uses_another_stage_is_reported() {
    let problems = violations(&tree(&[
        ("pipeline::raw", "use crate::pipeline::staging::prepare;"),
        ("pipeline::staging", "use crate::postgres::spi;"),
        ("postgres::spi", ""),
    ]));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("pipeline::raw"), "{problems:?}");
}

#[test]
fn a_layer_that_uses_one_above_it_is_reported_through_grouped_and_inline_paths() {
    let problems = violations(&tree(&[
        (
            "postgres::spi",
            "use crate::{platform::audit, postgres::error};",
        ),
        (
            "postgres::error",
            "fn f() { crate::api::tracking::track(); }",
        ),
        ("platform::audit", ""),
        ("api::tracking", ""),
    ]));
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn a_cycle_inside_a_layer_is_reported() {
    let problems = violations(&tree(&[
        ("privacy::salts", "use crate::privacy::erasure::erase;"),
        ("privacy::erasure", "use crate::privacy::salts;"),
    ]));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.contains("cycle")), "{problems:?}");
}
