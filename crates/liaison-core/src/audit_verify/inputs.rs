//! The bundle's own fields: its format, node and period, its keys, its policy and its calendars.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;

use crate::audit::{BUNDLE_FORMAT, BundleKey, BundlePolicy};
use crate::checkpoint::origin_for;
use crate::clock::format_cst;
use crate::deadline::ReplyRule;
use crate::notice::KeyId;
use crate::{CountyCode, DuePolicy, NoticeKind};

use super::{Key, Verifier, cut, quote, window};

impl Verifier<'_> {
    pub(super) fn check_header(&mut self) {
        let b = self.bundle;
        if b.format != BUNDLE_FORMAT {
            self.fail_bundle(
                "bundle",
                format!(
                    "format is {}, but this verifier reads {BUNDLE_FORMAT}",
                    quote(&b.format)
                ),
            );
        }
        match CountyCode::parse(&b.node.county) {
            Ok(county) => {
                self.node = Some(county);
                let origin = origin_for(county);
                if b.node.origin != origin {
                    self.fail_bundle(
                        "node",
                        format!(
                            "origin is {}, but the log of {county} has the origin {origin:?}",
                            quote(&b.node.origin)
                        ),
                    );
                }
            }
            Err(e) => self.fail_bundle(
                "node",
                format!("county: {e}; the log's owner is unknown, so no checkpoint can be opened"),
            ),
        }
        if b.from_ms > b.to_ms {
            self.fail_bundle(
                "bundle",
                format!(
                    "the period ends ({}) before it starts ({})",
                    format_cst(b.to_ms),
                    format_cst(b.from_ms)
                ),
            );
        }
        if let Some(peer) = self.peer {
            match CountyCode::parse(peer) {
                Err(e) => self.fail_bundle("bundle", format!("peer: {e}")),
                Ok(_) if peer == b.node.county => self.fail_bundle(
                    "bundle",
                    format!(
                        "peer is {peer}, the node itself: a county exchanges no notices with itself"
                    ),
                ),
                Ok(_) => {}
            }
        }
    }

    pub(super) fn load_keys(&mut self) {
        for (i, k) in self.bundle.keys.iter().enumerate() {
            let item = format!("keys[{i}] ({})", cut(&k.county));
            let key = match parse_key(k) {
                Ok(key) => match self.pin_key(key) {
                    Ok(key) => Some(key),
                    Err(problem) => {
                        self.fail_bundle(item, problem);
                        None
                    }
                },
                Err(problem) => {
                    self.fail_bundle(item, problem);
                    None
                }
            };
            self.keys.push(key);
        }
        self.signature_uses = vec![0; self.keys.len()];
        self.checkpoint_uses = vec![0; self.keys.len()];
        let node = self.node_county();
        if !self.bundle.keys.iter().any(|k| k.county == node) {
            self.fail_bundle(
                "keys",
                format!("the bundle lists no key of the node {}", cut(node)),
            );
        }
    }

    /// With a directory, the key must be one the directory gives its county, and its window is the
    /// directory's: a key supplied by the exporter proves nothing on its own.
    fn pin_key(&mut self, key: Key) -> Result<Key, String> {
        let Some(directory) = self.directory else {
            return Ok(key);
        };
        let serial = directory.serial;
        let county = CountyCode::parse(&key.county)
            .ok()
            .and_then(|code| directory.federation.county(code))
            .ok_or_else(|| {
                format!(
                    "county {} is not in the city's directory (serial {serial})",
                    cut(&key.county)
                )
            })?;
        let listed = county
            .keys
            .iter()
            .find(|k| k.key == key.key)
            .ok_or_else(|| {
                format!(
                    "key {} is not one of {}'s keys in the city's directory (serial {serial}): \
                     a key the directory does not vouch for",
                    key.id, county.code
                )
            })?;
        let (from, until) = (Some(listed.valid_from_ms), listed.valid_until_ms);
        if (key.valid_from_ms, key.valid_until_ms) != (from, until) {
            self.notes.push(format!(
                "{}'s key {} is valid {} in the bundle, but {} in the city's directory (serial \
                 {serial}); signatures are checked with the directory's window",
                county.code,
                key.id,
                window(key.valid_from_ms, key.valid_until_ms),
                window(from, until)
            ));
        }
        Ok(Key {
            valid_from_ms: from,
            valid_until_ms: until,
            ..key
        })
    }

    pub(super) fn load_policy(&mut self) {
        let (policy, broken) = self.read_policy(&self.bundle.policy, "policy");
        self.policy = policy;
        self.broken_rules = broken;
        for (i, entry) in self.bundle.peer_policies.iter().enumerate() {
            let at = format!("peer_policies[{i}]");
            let county = match CountyCode::parse(&entry.county) {
                Ok(county) => county,
                Err(e) => {
                    self.fail_bundle(format!("{at}.county"), e.to_string());
                    continue;
                }
            };
            if Some(county) == self.node {
                self.fail_bundle(
                    format!("{at}.county"),
                    "is the node itself, whose rules are `policy`",
                );
                continue;
            }
            let read = self.read_policy(&entry.policy, &format!("{at}.policy"));
            if self.peer_policies.insert(county, read).is_some() {
                self.fail_bundle(
                    format!("{at}.county"),
                    format!("a second entry for {county}"),
                );
            }
        }
    }

    /// The policy a bundle's rules give, and the kinds whose rule is invalid; every problem is a
    /// failure named under `at` (`policy`, `peer_policies[i].policy`).
    fn read_policy(
        &mut self,
        policy: &BundlePolicy,
        at: &str,
    ) -> (DuePolicy, BTreeSet<NoticeKind>) {
        let mut out = DuePolicy::default();
        let mut broken = BTreeSet::new();
        out.set_holiday_extension(policy.holiday_extension);
        let mut given: BTreeMap<NoticeKind, (usize, ReplyRule)> = BTreeMap::new();
        for (i, rule) in policy.rules.iter().enumerate() {
            let item = format!("{at}.rules[{i}]");
            let kind = match rule.kind.parse::<NoticeKind>() {
                Ok(kind) => kind,
                Err(_) => {
                    self.fail_bundle(
                        item,
                        format!("kind {} is not a notice kind", quote(&rule.kind)),
                    );
                    continue;
                }
            };
            let reply_rule = ReplyRule {
                normal: rule.normal,
                urgent: rule.urgent,
            };
            if let Some((first, _)) = given.insert(kind, (i, reply_rule)) {
                self.fail_bundle(
                    item,
                    format!("a second rule for {kind}; {at}.rules[{first}] is the first"),
                );
                broken.insert(kind);
            }
        }
        for kind in NoticeKind::ALL {
            let (index, rule) = match given.get(&kind) {
                Some((i, rule)) => (Some(*i), Some(*rule)),
                None => (None, None),
            };
            if let Err(e) = out.set_rule(kind, rule) {
                let item = index.map_or(at.to_owned(), |i| format!("{at}.rules[{i}]"));
                self.fail_bundle(item, e.to_string());
                broken.insert(kind);
                // Cannot fail: removing a rule is always allowed.
                let _ = out.set_rule(kind, None);
            }
        }
        (out, broken)
    }

    pub(super) fn load_calendars(&mut self) {
        for (i, text) in self.bundle.calendars.iter().enumerate() {
            let label = format!("calendars[{i}]");
            if let Err(e) = self.calendar.add_year_toml(&label, text) {
                let message = e.to_string();
                let problem = message
                    .strip_prefix(&format!("{label}: "))
                    .unwrap_or(&message)
                    .to_owned();
                self.fail_bundle(label, problem);
            }
        }
    }
}

pub(super) fn parse_key(k: &BundleKey) -> Result<Key, String> {
    CountyCode::parse(&k.county).map_err(|e| format!("county: {e}"))?;
    let mut bytes = [0u8; 32];
    if k.public_key.len() != 64
        || k.public_key.bytes().any(|b| b.is_ascii_uppercase())
        || hex::decode_to_slice(&k.public_key, &mut bytes).is_err()
    {
        return Err(format!(
            "public_key {} is not 64 lowercase hex digits (a raw 32-byte Ed25519 key)",
            quote(&k.public_key)
        ));
    }
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "public_key is not an Ed25519 public key".to_owned())?;
    if key.is_weak() {
        return Err("public_key has small order and cannot be trusted".into());
    }
    if let (Some(from), Some(until)) = (k.valid_from_ms, k.valid_until_ms)
        && from >= until
    {
        return Err(format!(
            "the key is valid from {} until {}: an empty window",
            format_cst(from),
            format_cst(until)
        ));
    }
    Ok(Key {
        county: k.county.clone(),
        key,
        id: KeyId::of(&key),
        valid_from_ms: k.valid_from_ms,
        valid_until_ms: k.valid_until_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, NODE, PEER, problems};
    use super::super::verify_bundle;
    use super::*;
    use crate::audit::Bundle;

    /// The bundle-level failures of a bundle after only its own fields are checked.
    fn header_failures(bundle: &Bundle) -> Vec<(String, String)> {
        let mut v = Verifier::new(bundle, None);
        v.check_header();
        v.load_keys();
        v.load_policy();
        v.load_calendars();
        v.failures
            .into_iter()
            .map(|(_, f)| (f.item, f.problem))
            .collect()
    }

    fn key(public_key: String, from: Option<i64>, until: Option<i64>) -> BundleKey {
        BundleKey {
            county: PEER.into(),
            public_key,
            valid_from_ms: from,
            valid_until_ms: until,
        }
    }

    fn peer_public_key() -> String {
        hex::encode(fixture::peer_key().verifying_key().as_bytes())
    }

    #[test]
    fn the_fixture_bundle_has_sound_fields() {
        assert_eq!(header_failures(&fixture::bundle()), []);
    }

    #[test]
    fn a_node_origin_other_than_its_county_log_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.node.origin = "liaison/county/610603".into();
        assert_eq!(
            header_failures(&bundle),
            [(
                "node".to_owned(),
                "origin is \"liaison/county/610603\", but the log of 610602 has the origin \"liaison/county/610602\"".to_owned()
            )]
        );
    }

    #[test]
    fn a_node_county_that_is_not_a_county_code_leaves_the_log_without_owner() {
        let mut bundle = fixture::bundle();
        bundle.node.county = "61060".into();
        let failures = header_failures(&bundle);
        let (item, problem) = &failures[0];
        assert_eq!(item, "node");
        assert!(
            problem.ends_with("; the log's owner is unknown, so no checkpoint can be opened"),
            "{problem}"
        );
    }

    #[test]
    fn a_period_that_ends_before_it_starts_is_refused() {
        let mut bundle = fixture::bundle();
        std::mem::swap(&mut bundle.from_ms, &mut bundle.to_ms);
        assert_eq!(
            header_failures(&bundle),
            [(
                "bundle".to_owned(),
                "the period ends (2026-03-01 00:00:00 CST) before it starts (2026-04-01 00:00:00 CST)"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn a_peer_that_is_the_node_itself_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.peer = Some(NODE.into());
        assert_eq!(
            header_failures(&bundle),
            [(
                "bundle".to_owned(),
                "peer is 610602, the node itself: a county exchanges no notices with itself"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn a_bundle_without_a_key_of_the_node_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.keys.retain(|k| k.county != NODE);
        assert_eq!(
            header_failures(&bundle),
            [(
                "keys".to_owned(),
                "the bundle lists no key of the node 610602".to_owned()
            )]
        );
    }

    #[test]
    fn a_key_is_named_by_its_index_and_county() {
        let mut bundle = fixture::bundle();
        bundle.keys[1].public_key = "00".into();
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "keys[1] (610603)"),
            ["public_key \"00\" is not 64 lowercase hex digits (a raw 32-byte Ed25519 key)"]
        );
    }

    #[test]
    fn a_public_key_in_uppercase_hex_is_refused() {
        let upper = peer_public_key().to_uppercase();
        let problem = parse_key(&key(upper, None, None)).err().unwrap();
        assert!(
            problem.ends_with("is not 64 lowercase hex digits (a raw 32-byte Ed25519 key)"),
            "{problem}"
        );
    }

    #[test]
    fn a_public_key_of_small_order_is_refused() {
        // The identity point: every signature "verifies" with it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            parse_key(&key(hex::encode(identity), None, None)).err(),
            Some("public_key has small order and cannot be trusted".to_owned())
        );
    }

    #[test]
    fn a_key_with_an_empty_window_is_refused() {
        assert_eq!(
            parse_key(&key(peer_public_key(), Some(0), Some(0))).err(),
            Some(
                "the key is valid from 1970-01-01 08:00:00 CST until 1970-01-01 08:00:00 CST: an empty window"
                    .to_owned()
            )
        );
        assert!(parse_key(&key(peer_public_key(), Some(0), Some(1))).is_ok());
    }

    #[test]
    fn a_sound_key_gets_the_id_of_its_public_key() {
        let parsed = parse_key(&key(peer_public_key(), None, Some(5))).unwrap();
        assert_eq!(parsed.id, fixture::peer_key().key_id());
        assert_eq!(
            (parsed.valid_from_ms, parsed.valid_until_ms),
            (None, Some(5))
        );
    }

    #[test]
    fn a_second_rule_for_a_kind_is_refused_and_breaks_that_kind() {
        let mut bundle = fixture::bundle();
        let first = bundle.policy.rules[0].clone();
        bundle.policy.rules.push(first.clone());
        let last = bundle.policy.rules.len() - 1;
        let mut v = Verifier::new(&bundle, None);
        v.load_policy();
        let kind: NoticeKind = first.kind.parse().unwrap();
        assert!(v.broken_rules.contains(&kind));
        assert_eq!(v.broken_rules.len(), 1);
        let failures: Vec<_> = v.failures.iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].item, format!("policy.rules[{last}]"));
        assert_eq!(
            failures[0].problem,
            format!("a second rule for {kind}; policy.rules[0] is the first")
        );
    }

    #[test]
    fn a_rule_for_no_notice_kind_is_refused() {
        let mut bundle = fixture::bundle();
        bundle.policy.rules[0].kind = "letter".into();
        assert_eq!(
            header_failures(&bundle),
            [(
                "policy.rules[0]".to_owned(),
                "kind \"letter\" is not a notice kind".to_owned()
            )]
        );
    }

    #[test]
    fn a_rule_for_a_kind_that_needs_no_reply_breaks_that_kind() {
        let mut bundle = fixture::bundle();
        let mut rule = bundle.policy.rules[0].clone();
        rule.kind = "bulletin".into();
        bundle.policy.rules.push(rule);
        let mut v = Verifier::new(&bundle, None);
        v.load_policy();
        assert!(v.broken_rules.contains(&NoticeKind::Bulletin));
        assert_eq!(v.policy.rule(NoticeKind::Bulletin), None);
        assert_eq!(v.failures.len(), 1);
    }

    #[test]
    fn a_calendar_that_does_not_read_is_named_by_its_index_once() {
        let mut bundle = fixture::bundle();
        bundle.calendars.push("year = ".into());
        let index = bundle.calendars.len() - 1;
        let failures = header_failures(&bundle);
        assert_eq!(failures.len(), 1, "{failures:?}");
        let (item, problem) = &failures[0];
        assert_eq!(item, &format!("calendars[{index}]"));
        assert!(!problem.starts_with(&format!("{item}: ")), "{problem}");
    }
}
