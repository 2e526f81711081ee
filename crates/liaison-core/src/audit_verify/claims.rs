//! The bundle's signed claims: the node signed what the bundle says it covers (county, period,
//! peer, redaction, creation time, leaf range, checkpoint), so none of it can be changed after
//! export without the change being named.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::audit::CLAIMS_SIGNING_PREFIX;
use crate::clock::format_cst;
use crate::notice::verify_prefixed;

use super::{Verifier, quote};

impl Verifier<'_> {
    /// The claims must be signed by the node, and every claim must still be what it signed.
    pub(super) fn check_claims(&mut self) {
        let b = self.bundle;
        if b.claims.is_empty() && b.claims_signature.is_empty() {
            self.fail_bundle(
                "claims",
                "the bundle's claims are not signed: nothing shows that the node made it as it is",
            );
            return;
        }
        let signed = parse_claims(&b.claims);
        let Some(signed) = signed else {
            self.fail_bundle(
                "claims",
                "the signed claims are not one `name value` line each, ending with a newline",
            );
            return;
        };
        let at_ms = signed
            .iter()
            .find(|(name, _)| name == "created_at_ms")
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .unwrap_or(b.created_at_ms);
        let signature = STANDARD
            .decode(&b.claims_signature)
            .ok()
            .and_then(|s| <[u8; 64]>::try_from(s).ok());
        let Some(signature) = signature else {
            self.fail_bundle("claims", "claims_signature is not 64 bytes of base64");
            return;
        };
        let node = self.node_county();
        let verified = self.keys.iter().flatten().any(|k| {
            k.county == node
                && k.valid_at(at_ms)
                && verify_prefixed(
                    &k.key,
                    CLAIMS_SIGNING_PREFIX,
                    b.claims.as_bytes(),
                    &signature,
                )
        });
        if !verified {
            self.fail_bundle(
                "claims",
                format!(
                    "the claims signature does not verify with any key of the node valid at {}",
                    format_cst(at_ms)
                ),
            );
            return;
        }
        let Some(actual) = parse_claims(&b.claims_text()) else {
            return;
        };
        if signed
            .iter()
            .map(|(n, _)| n)
            .ne(actual.iter().map(|(n, _)| n))
        {
            self.fail_bundle(
                "claims",
                format!(
                    "the signed claims name {}, but this format claims {}",
                    names(&signed),
                    names(&actual)
                ),
            );
            return;
        }
        for ((name, was), (_, now)) in signed.iter().zip(&actual) {
            if was != now {
                self.fail_bundle(
                    "claims",
                    format!(
                        "{name} was changed after the node signed the bundle: the bundle says {}, \
                         the node signed {}",
                        shown(name, now),
                        shown(name, was)
                    ),
                );
            }
        }
    }
}

/// The `name value` lines of a claims text; `None` when it is not in that form.
fn parse_claims(text: &str) -> Option<Vec<(String, String)>> {
    let body = text.strip_suffix('\n')?;
    body.split('\n')
        .map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

fn names(claims: &[(String, String)]) -> String {
    claims
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A claimed value for a person: times also in China Standard Time.
fn shown(name: &str, value: &str) -> String {
    match value.parse::<i64>() {
        Ok(ms) if name.ends_with("_ms") => format!("{} ({ms})", format_cst(ms)),
        _ => quote(value),
    }
}
