//! The bundle's creation time against the time other counties cosigned its checkpoint: the node
//! has its checkpoint cosigned when it makes the bundle, so a creation time later than every
//! cosignature (by more than the allowed skew) was not the time the bundle was made. The latest
//! cosignature bounds it, so that one cosigner whose clock is slow does not fail an honest bundle.

use crate::clock::format_cst;
use crate::cosign::{REPLY_TIME_SKEW_MS, cosignatures};

use super::Verifier;

impl Verifier<'_> {
    pub(super) fn check_cosigned_time(&mut self) {
        let Some(checkpoint) = self.checkpoint.clone() else {
            return;
        };
        let body = checkpoint.to_body();
        let node = self.bundle.node.county.clone();
        let latest = cosignatures(&self.bundle.checkpoint)
            .into_iter()
            .filter(|c| c.county.as_str() != node)
            .filter(|c| {
                self.keys.iter().flatten().any(|k| {
                    k.county == c.county.as_str()
                        && k.valid_at(c.time_ms())
                        && c.verifies(&body, &k.key)
                })
            })
            .max_by_key(|c| c.time_s);
        let created = self.bundle.created_at_ms;
        self.cosigned = latest.as_ref().map(|c| (c.county.to_string(), c.time_ms()));
        match latest {
            None => {}
            Some(c) if created > c.time_ms().saturating_add(REPLY_TIME_SKEW_MS) => self.fail(
                (0, 0),
                "created_at_ms",
                format!(
                    "the bundle says it was made at {}, but {} cosigned its checkpoint at {}, the latest of its cosigners: a bundle is made before its checkpoint is cosigned (allowed skew {} s)",
                    format_cst(created),
                    c.county,
                    format_cst(c.time_ms()),
                    REPLY_TIME_SKEW_MS / 1000
                ),
            ),
            Some(_) => {}
        }
    }
}
