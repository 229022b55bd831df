//! The dependency invariants of ARCHITECTURE.md, checked against the manifests and the sources.
//!
//! These are the rules that keep the clinical core pure and the FHIR library contained. Breaking
//! one should be a deliberate act that edits ARCHITECTURE.md and this test together.

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
