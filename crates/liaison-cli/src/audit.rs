//! `liaison audit verify`: checks a bundle offline — no node, no network, no store.

use std::path::Path;

use liaison_core::audit_verify::{parse_bundle, verify_bundle, verify_bundle_with_directory};
use liaison_core::checkpoint::NoteVerifierKey;
use liaison_core::directory::SignedDirectory;

use crate::{EXIT_BAD_INPUT, EXIT_NOT_VERIFIED, Failure, Output};

/// Verifies `file`; with `trust` (a directory file and the city's vkey), every signature is checked
/// with the directory's keys.
pub fn verify(file: &Path, trust: Option<(&Path, &str)>, out: Output) -> Result<(), Failure> {
    let directory = trust
        .map(|(path, city_key)| open_directory(path, city_key))
        .transpose()?;
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    let bundle = parse_bundle(&text)
        .map_err(|e| Failure::new(EXIT_NOT_VERIFIED, format!("{}: {e}", file.display())))?;
    let report = match &directory {
        Some(directory) => verify_bundle_with_directory(&bundle, directory),
        None => verify_bundle(&bundle),
    };
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.to_text());
    }
    if report.ok {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_NOT_VERIFIED,
            format!(
                "{} does not verify: {} problem(s)",
                file.display(),
                report.failures.len()
            ),
        ))
    }
}

fn open_directory(path: &Path, city_key: &str) -> Result<SignedDirectory, Failure> {
    let vkey = NoteVerifierKey::parse(city_key.trim())
        .map_err(|e| Failure::new(EXIT_BAD_INPUT, format!("--city-key: {e}")))?;
    let note = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    SignedDirectory::open(&note, &vkey).map_err(|e| {
        Failure::new(
            EXIT_NOT_VERIFIED,
            format!("{}: the directory does not verify: {e}", path.display()),
        )
    })
}
