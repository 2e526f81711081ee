//! Tidy checks on the source tree: the boundaries ARCHITECTURE.md promises hold, and every module
//! says what it is for.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(
        files.len() > 20,
        "found only {} source files under {}",
        files.len(),
        root.display()
    );
    files
}

fn manifest(krate: &str) -> String {
    let path = workspace().join("crates").join(krate).join("Cargo.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn depends_on(manifest: &str, dependency: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with(&format!("{dependency} "))
            || line.starts_with(&format!("{dependency}."))
            || line.starts_with(&format!("{dependency}="))
    })
}

const CRATES: [&str; 5] = [
    "liaison-proto",
    "liaison-core",
    "liaison-store",
    "liaison-node",
    "liaison-cli",
];

#[test]
fn only_liaison_store_depends_on_rusqlite() {
    for krate in CRATES {
        assert_eq!(
            depends_on(&manifest(krate), "rusqlite"),
            krate == "liaison-store",
            "{krate} and rusqlite"
        );
    }
}

#[test]
fn no_crate_of_the_workspace_is_built_with_sled() {
    let lock = std::fs::read_to_string(workspace().join("Cargo.lock")).expect("Cargo.lock");
    assert!(
        !lock.contains("name = \"sled\""),
        "sled lost acknowledged notices at a power cut; the store is SQLite"
    );
}

#[test]
fn only_liaison_proto_holds_generated_code() {
    for file in sources() {
        let text = std::fs::read_to_string(&file).expect("source");
        let in_proto = file.components().any(|c| c.as_os_str() == "liaison-proto");
        if !in_proto {
            let include = concat!("include_", "proto!");
            assert!(
                !text.contains(include),
                "{} includes generated code",
                file.display()
            );
        }
    }
    for krate in CRATES {
        assert_eq!(
            depends_on(&manifest(krate), "tonic-prost-build"),
            krate == "liaison-proto",
            "{krate} builds protos"
        );
    }
}

#[test]
fn liaison_core_does_no_io_and_has_no_runtime() {
    let core = manifest("liaison-core");
    for forbidden in [
        "tokio",
        "rusqlite",
        "tonic",
        "liaison-store",
        "liaison-node",
    ] {
        assert!(
            !depends_on(&core, forbidden),
            "liaison-core depends on {forbidden}"
        );
    }
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/liaison-core/src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for forbidden in ["std::fs", "std::net", "SystemTime::now", "Instant::now"] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}",
                file.display()
            );
        }
    }
}

#[test]
fn dependencies_point_one_way() {
    assert!(!depends_on(&manifest("liaison-store"), "liaison-node"));
    assert!(!depends_on(&manifest("liaison-proto"), "liaison-core"));
    assert!(!depends_on(&manifest("liaison-node"), "liaison-cli"));
}

#[test]
fn every_source_file_starts_by_saying_what_it_is_for() {
    for file in sources() {
        let text = std::fs::read_to_string(&file).expect("source");
        assert!(
            text.starts_with("//!"),
            "{} does not start with a //! line",
            file.display()
        );
    }
}

#[test]
fn no_placeholders_are_left_in_code() {
    for file in sources() {
        if file.ends_with("tidy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source");
        for placeholder in [concat!("todo", "!("), concat!("unimplemented", "!(")] {
            assert!(
                !text.contains(placeholder),
                "{} contains {placeholder}",
                file.display()
            );
        }
    }
}

/// The text of `file` without its `#[cfg(test)]` module and without comments, so that checks
/// look at shipped code only.
fn shipped_code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("source");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn files_under(dir: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&workspace().join(dir), &mut files);
    assert!(!files.is_empty(), "no source files under {dir}");
    files
}

#[test]
fn only_the_application_layer_touches_the_store_from_the_nodes_front_doors() {
    let mut front_doors = files_under("crates/liaison-node/src/console");
    front_doors.push(workspace().join("crates/liaison-node/src/admin.rs"));
    for file in front_doors {
        let code = shipped_code(&file);
        for forbidden in ["liaison_store", ".store.", ".store(", "Store::"] {
            assert!(
                !code.contains(forbidden),
                "{} uses {forbidden}: the admin service and the console go through ops",
                file.display()
            );
        }
    }
}

#[test]
fn no_public_function_of_a_library_crate_returns_a_bare_string_error() {
    for krate in [
        "liaison-proto",
        "liaison-core",
        "liaison-store",
        "liaison-node",
    ] {
        for file in files_under(&format!("crates/{krate}/src")) {
            let code = shipped_code(&file);
            let mut rest = code.as_str();
            while let Some(at) = ["pub fn ", "pub async fn "]
                .iter()
                .filter_map(|start| rest.find(start))
                .min()
            {
                let signature = &rest[at..];
                let end = signature.find(['{', ';']).unwrap_or(signature.len());
                let signature: String = signature[..end]
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                assert!(
                    !(signature.contains("Result<") && signature.contains(",String>")),
                    "{}: {signature} returns Result<_, String>; give it an error type that says \
                     what is wrong",
                    file.display()
                );
                rest = &rest[at + 4..];
            }
        }
    }
}

#[test]
fn statuses_are_named_by_their_enums_not_by_string_literals() {
    // The names live once, beside the enums in liaison-core (outbox.rs, deadline.rs).
    let names = [
        "queued",
        "in_flight",
        "delivered",
        "rejected",
        "cancelled",
        "due_soon",
        "overdue",
        "answered_on_time",
        "answered_late",
        "no_reply_required",
    ];
    for krate in ["liaison-store", "liaison-node", "liaison-cli"] {
        for file in files_under(&format!("crates/{krate}/src")) {
            let code = shipped_code(&file);
            for name in names {
                assert!(
                    !code.contains(&format!("\"{name}\"")),
                    "{} spells the status {name:?} as a string; use the enum's name()",
                    file.display()
                );
            }
        }
    }
}
