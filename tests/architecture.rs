//! The layering of the library, read from its source: which top-level
//! module (`src/NAME.rs` or `src/NAME/`) names which (`crate::NAME`, or
//! `super::NAME` in a module's root file). A cycle among them fails, naming
//! a line for each of its edges, so the layering stays as DESIGN.md draws
//! it after it was untangled (issue 17). `main.rs` and the binary's
//! `commands/` stand above the library and are not part of the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module to the modules it names, each with one place it does.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's top-level modules, as `lib.rs` declares them.
fn modules(src: &Path) -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

/// The top-level modules a line names after `prefix` (`crate::`, `super::`).
fn named<'a>(line: &'a str, prefix: &str) -> impl Iterator<Item = &'a str> + 'a {
    let prefix = prefix.to_string();
    line.match_indices(prefix.as_str())
        .filter(move |(i, _)| {
            // `crate::` itself, not the end of a longer word.
            !line[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
        .map(move |(i, p)| {
            let rest = &line[i + p.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect::<Vec<_>>()
        .into_iter()
}

fn graph(src: &Path) -> Graph {
    let mods = modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g = Graph::new();
    for m in &mods {
        g.entry(m.clone()).or_default();
    }
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let owner = first.trim_end_matches(".rs").to_string();
        if !mods.contains(&owner) {
            continue; // lib.rs, main.rs, the binary's commands
        }
        // In `src/NAME.rs` and `src/NAME/mod.rs`, `super::` is the crate.
        let root = rel.components().count() == 1
            || rel.ends_with("mod.rs") && rel.components().count() == 2;
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let mut names: Vec<&str> = named(code, "crate::").collect();
            if root {
                names.extend(named(code, "super::"));
            }
            // `use crate::{a::X, b::Y}`: the names inside the braces.
            if let Some(i) = code.find("crate::{") {
                let inner = &code[i + 8..];
                for part in inner.split(',') {
                    let name = part.trim().split("::").next().unwrap_or("");
                    names.push(name.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')));
                }
            }
            for name in names {
                if name != owner && mods.contains(name) {
                    g.get_mut(&owner)
                        .unwrap()
                        .entry(name.to_string())
                        .or_insert_with(|| {
                            format!("src/{}:{}: {}", rel.display(), n + 1, line.trim())
                        });
                }
            }
        }
    }
    g
}

/// A cycle of the graph, if there is one, as the modules along it.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        g: &Graph,
        m: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(m.to_string(), Mark::Open);
        path.push(m.to_string());
        for next in g[m].keys() {
            match marks[next] {
                Mark::Open => {
                    let start = path.iter().position(|p| p == next).unwrap();
                    let mut c = path[start..].to_vec();
                    c.push(next.clone());
                    return Some(c);
                }
                Mark::New => {
                    if let Some(c) = visit(g, next, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(m.to_string(), Mark::Done);
        None
    }
    let mut marks: BTreeMap<String, Mark> = g.keys().map(|k| (k.clone(), Mark::New)).collect();
    for m in g.keys() {
        if marks[m] == Mark::New {
            if let Some(c) = visit(g, m, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    assert!(g.len() >= 10, "modules read from lib.rs: {:?}", g.keys());
    let edges: usize = g.values().map(BTreeMap::len).sum();
    assert!(edges >= 10, "edges read from the source: {g:?}");
    if let Some(c) = cycle(&g) {
        let lines: Vec<String> = c
            .windows(2)
            .map(|w| format!("  {} -> {}: {}", w[0], w[1], g[&w[0]][&w[1]]))
            .collect();
        panic!("the top-level modules form a cycle:\n{}", lines.join("\n"));
    }
    // The layers, bottom up, for the reader of a failure.
    let mut order = Vec::new();
    let mut left = g.clone();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, deps)| deps.keys().all(|d| !left.contains_key(d)))
            .map(|(m, _)| m.clone())
            .collect();
        for m in &ready {
            left.remove(m);
        }
        order.push(ready.join(" "));
    }
    eprintln!("layers, bottom up: {}", order.join(" | "));
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), format!("{a} uses {b}"));
        g.entry(b.into()).or_default();
    }
    g.entry("d".into()).or_default();
    let c = cycle(&g).expect("a cycle");
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4, "{c:?}");
    g.get_mut("c").unwrap().remove("a");
    assert_eq!(cycle(&g), None);
    // The reader finds `super::` in a root file and names in braces.
    let names: Vec<&str> = named(
        "use crate::engine::X; crate::state::Y; notcrate::z",
        "crate::",
    )
    .collect();
    assert_eq!(names, ["engine", "state"]);
}

#[test]
fn config_names_nothing_in_the_crate_but_its_problems() {
    // Settings are read before anything else exists: the configuration
    // types depend on no other module, save the FILE:LINE problems they
    // report, so every layer can take them.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    let deps: Vec<String> = g["config"]
        .iter()
        .filter(|(m, _)| m.as_str() != "problem")
        .map(|(m, why)| format!("config -> {m}: {why}"))
        .collect();
    assert!(
        deps.is_empty(),
        "config names other modules:\n{}",
        deps.join("\n")
    );
    assert!(
        g["problem"].is_empty(),
        "problem is a leaf: {:?}",
        g["problem"]
    );
}
