//! The dependency invariants of ARCHITECTURE.md, checked against the manifests and the sources.
//!
//! These are the rules that keep the clinical core pure and the FHIR library contained. Breaking
//! one should be a deliberate act that edits ARCHITECTURE.md and this test together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The normal (non-dev) dependencies of a workspace crate, by name.
fn dependencies(krate: &str) -> Vec<String> {
    let path = root().join("crates").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every `.rs` file under a crate's `src/`, with its text.
fn sources(krate: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("crates").join(krate).join("src"), &mut out);
    out
}

fn crates() -> Vec<String> {
    std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_rules_crate_does_no_io_and_names_no_fhir_or_async_library() {
    let deps = dependencies("rules");
    for forbidden in [
        "tokio",
        "reqwest",
        "axum",
        "fhir-sdk",
        "hyper",
        "gravida-fhir",
        "gravida-server",
    ] {
        assert!(
            !deps.iter().any(|d| d == forbidden),
            "rules depends on {forbidden}"
        );
    }
    for (path, text) in sources("rules") {
        for needle in [
            "std::fs",
            "std::net",
            "std::env",
            "std::process",
            "fhir_sdk",
            "tokio",
            "now_utc()",
            "SystemTime::now",
            "async fn",
        ] {
            assert!(!text.contains(needle), "{} uses {needle}", path.display());
        }
    }
}

#[test]
fn only_the_fhir_crate_names_fhir_sdk() {
    for krate in crates() {
        let names_it = dependencies(&krate).iter().any(|d| d == "fhir-sdk")
            || sources(&krate).iter().any(|(_, t)| t.contains("fhir_sdk"));
        assert_eq!(names_it, krate == "fhir", "crate {krate}");
    }
    let root_manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let root_manifest: toml::Table = root_manifest.parse().unwrap();
    let root_deps = root_manifest["dependencies"].as_table().unwrap();
    assert!(!root_deps.contains_key("fhir-sdk"));
}

#[test]
fn only_the_server_reads_the_environment_and_only_knowledge_reads_profiles() {
    for krate in crates() {
        for (path, text) in sources(&krate) {
            if krate != "server" {
                assert!(
                    !text.contains("std::env::var") && !text.contains("env::vars"),
                    "{} reads the environment",
                    path.display()
                );
            }
            if krate != "knowledge" {
                // Comments may mention the folder; code may not read it.
                let reads_it = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .any(|l| l.contains("profiles/"));
                assert!(!reads_it, "{} reads the profile folder", path.display());
            }
        }
    }
}

#[test]
fn the_knowledge_and_cds_hooks_crates_stay_free_of_io_frameworks() {
    for krate in ["knowledge", "cds-hooks"] {
        let deps = dependencies(krate);
        for forbidden in ["tokio", "reqwest", "axum", "hyper"] {
            assert!(
                !deps.iter().any(|d| d == forbidden),
                "{krate} depends on {forbidden}"
            );
        }
    }
}

#[test]
fn the_fhir_layer_needs_nothing_from_the_knowledge_layer() {
    // The searches both read (`PrefetchQuery`, `Need`) live in `gravida_rules::query`, below
    // both: the FHIR layer reads what it is asked for and knows no value set or template.
    assert!(
        !dependencies("fhir").contains(&"gravida-knowledge".to_owned()),
        "crates/fhir must not depend on gravida-knowledge"
    );
    for (path, text) in sources("fhir") {
        assert!(
            !text.contains("gravida_knowledge"),
            "{} names gravida_knowledge",
            path.display()
        );
    }
}

/// The modules of a crate and, for each, the other modules of the same crate it names: every
/// `crate::module` in its production code (comment lines are skipped), whether in a `use` or
/// inline.
///
/// What counts, exactly:
///
/// - A module is a top-level file or folder of `src/` with everything below it (`demo/fhir.rs`
///   belongs to `demo`, `engine/read.rs` to `engine`). The crate root only declares modules, so
///   it is left out. A binary under `src/bin/` is a crate of its own (its `crate::` is not the
///   library's), so it is left out too.
/// - Only `crate::…` paths are imports. A parent that declares `mod child` and a child that uses
///   `super::x` are one module's own tree, the normal shape of Rust, not a circle: the child is
///   part of its parent here, and a `super::` path never leaves the top-level module it is
///   written in.
/// - Test code is left out: a file declared `#[cfg(test)] mod …;` and the rest of a file from a
///   `#[cfg(test)] mod … {` block on (such a block is the last thing in its file). A test module
///   is named by no production module, so it cannot close a circle; it may use whatever it tests
///   (`element/tests.rs` holds both readers to one answer).
fn module_imports(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("crates").join(krate).join("src");
    let tests = test_files(krate);
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources(krate) {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" || module == "bin" {
            continue;
        }
        let named = imports.entry(module.clone()).or_default();
        if tests.contains(&path) {
            continue;
        }
        for line in production_lines(&text) {
            for target in crate_paths(line, &path) {
                if target != module {
                    named.insert(target);
                }
            }
        }
    }
    imports
}

/// The lines of a file before its inline `#[cfg(test)] mod … {` block, comment lines left out.
fn production_lines(text: &str) -> impl Iterator<Item = &str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| {
            let next = pair[1].trim();
            pair[0].trim() == "#[cfg(test)]"
                && next.ends_with('{')
                && next.trim_start_matches("pub(crate) ").starts_with("mod ")
        })
        .unwrap_or(lines.len());
    lines
        .into_iter()
        .take(end)
        .filter(|l| !l.trim_start().starts_with("//"))
}

/// The files of a crate that are test modules: each `#[cfg(test)] mod name;` declared in a file,
/// found where Rust looks for it (`name.rs` beside `lib.rs`, or in the folder named after the
/// declaring file).
fn test_files(krate: &str) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for (path, text) in sources(krate) {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = if ["lib", "main", "mod"].contains(&stem.as_str()) {
            path.parent().unwrap().to_path_buf()
        } else {
            path.with_extension("")
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let declared = pair[1].trim_start_matches("pub(crate) ");
            if pair[0] == "#[cfg(test)]"
                && let Some(name) = declared
                    .strip_prefix("mod ")
                    .and_then(|d| d.strip_suffix(';'))
            {
                found.insert(dir.join(format!("{name}.rs")));
                found.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    found
}

/// The first segment of each `crate::…` path on one line of code. A group
/// (`use crate::{a::X, b::Y}`) gives each of its members' first segments; it must close on the
/// same line, so that no member goes unseen.
fn crate_paths(line: &str, path: &Path) -> Vec<String> {
    let segment = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        // `gravida_crate::x` or `my_crate::x` is not this crate.
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &line[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let end = group.find('}').unwrap_or_else(|| {
                    panic!(
                        "{}: a `crate::{{…}}` group across lines; write it on one line",
                        path.display()
                    )
                });
                found.extend(group[..end].split(',').map(segment));
            }
            None => found.push(segment(rest)),
        }
    }
    found.retain(|s| !s.is_empty());
    found
}

/// A cycle of module imports, as the modules along it (the first repeated at the end), if any.
fn import_cycle(imports: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // A depth-first walk: a module met again while it is still on the walk's path closes a cycle.
    fn walk(
        module: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in imports.get(module).into_iter().flatten() {
            if let Some(cycle) = walk(next, imports, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    imports
        .keys()
        .find_map(|module| walk(module, imports, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_of_any_crate_import_each_other_even_through_others() {
    // A cycle means neither module can be read, tested or moved without the other: the shared
    // item belongs in a lower module that both import (as `card.rs`, `command.rs`,
    // `cds-hooks/src/error.rs`, `fhir/src/fetch_error.rs` and `knowledge/src/error.rs` are).
    let all = crates();
    assert!(all.len() >= 8, "too few crates found: {all:?}");
    for krate in all {
        let imports = module_imports(&krate);
        assert!(imports.len() > 5, "{krate}: too few modules found");
        if let Some(cycle) = import_cycle(&imports) {
            panic!("{krate}: modules import each other: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    // The check itself, on a made-up crate: a -> b -> c -> a, with d outside it.
    let imports: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a", "d"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(m, to)| (m.to_owned(), to.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(
        import_cycle(&imports),
        Some(["a", "b", "c", "a"].map(str::to_owned).to_vec())
    );
    let path = Path::new("x.rs");
    assert_eq!(
        crate_paths("use crate::{audit::Audit, card::rule_of};", path),
        ["audit", "card"]
    );
    assert_eq!(
        crate_paths("let x = crate::metrics::rule_of(gravida_crate::y);", path),
        ["metrics"]
    );
    // Test code is left out from the `#[cfg(test)]` of its `mod … {` on, and not before.
    let file = "use crate::a::X;\n// use crate::b::Y;\n#[cfg(test)]\nmod tests {\n    use crate::c::Z;\n}\n";
    assert_eq!(
        production_lines(file).collect::<Vec<_>>(),
        ["use crate::a::X;"]
    );
    let fhir = root().join("crates/fhir/src");
    let tests = test_files("fhir");
    assert!(tests.contains(&fhir.join("element/tests.rs")), "{tests:?}");
    assert!(tests.contains(&fhir.join("client/tests.rs")), "{tests:?}");
    assert!(!tests.contains(&fhir.join("element.rs")), "{tests:?}");
}
