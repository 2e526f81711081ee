//! `liaison audit verify`: checks a bundle offline — no node, no network, no store.

use std::path::Path;

use liaison_core::audit_verify::{parse_bundle, verify_bundle};

use crate::{EXIT_BAD_INPUT, EXIT_NOT_VERIFIED, Failure, Output};

pub fn verify(file: &Path, out: Output) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    let bundle = parse_bundle(&text)
        .map_err(|e| Failure::new(EXIT_NOT_VERIFIED, format!("{}: {e}", file.display())))?;
    let report = verify_bundle(&bundle);
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
