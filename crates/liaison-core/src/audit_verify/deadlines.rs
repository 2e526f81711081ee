//! Reply deadlines: each delivered notice's due time recomputed from the bundle's policy and
//! calendars, checked against what its receipt states, and judged against the earliest reply.

use crate::clock::format_cst;
use crate::cosign::reply_time;
use crate::deadline::{DeadlineState, deadline_state};
use crate::notice::Header;
use crate::receipt::Outcome;
use crate::tlog::LeafKind;

use super::Verifier;
use super::report::{DeadlineLine, DeadlineOutcome, Direction};

impl Verifier<'_> {
    pub(super) fn check_deadlines(&mut self) {
        let mut lines = Vec::new();
        for r in 0..self.items.len() {
            let Some(receipt) = self.items[r].receipt().cloned() else {
                continue;
            };
            if receipt.outcome != Outcome::Accepted {
                continue;
            }
            let (leaf, label, kind) = (
                self.items[r].leaf,
                self.items[r].label.clone(),
                self.items[r].kind,
            );
            let (notice_kind, direction) = if kind == Some(LeafKind::IssuedReceipt) {
                (LeafKind::ReceivedNotice, Direction::Received)
            } else {
                (LeafKind::SentNotice, Direction::Sent)
            };
            let Some(n) = self.find_notice(notice_kind, &receipt) else {
                continue;
            };
            let Some(h) = self.items[n].header().cloned() else {
                continue;
            };
            let stated = receipt.reply_due_at_ms;
            let received = receipt.received_at_ms;
            // The rules of the county that signed the receipt: the city's word for it when the
            // directory gives one, else the bundle's.
            let (policy, broken, source) = self.policy_of(receipt.recipient);
            let recomputed = if broken.contains(&h.kind) {
                Err(format!(
                    "the bundle's rule for {} is invalid (see the policy failure)",
                    h.kind
                ))
            } else {
                policy
                    .due_at(h.kind, h.urgent, received, &self.calendar)
                    .map_err(|e| e.to_string())
            };
            let signer = if direction == Direction::Received {
                "the node's receipt".to_owned()
            } else {
                format!("{}'s receipt", receipt.recipient)
            };
            let due = match &recomputed {
                Ok(due) => {
                    if *due != stated {
                        self.fail_leaf(
                            leaf,
                            &label,
                            format!(
                                "{signer} states that a reply to notice {} is due {}, but {source} and calendars give {}",
                                h.id,
                                due_text(stated),
                                due_text(*due)
                            ),
                        );
                    }
                    Ok(*due)
                }
                Err(why) => {
                    if let Some(s) = stated {
                        self.fail_leaf(
                            leaf,
                            &label,
                            format!(
                                "{signer} states that a reply to notice {} is due {}, but the bundle cannot give a due time: {why}",
                                h.id,
                                format_cst(s)
                            ),
                        );
                    } else {
                        self.notes.push(format!(
                            "notice {} ({}): the reply deadline is unknown: {why}",
                            h.id, h.kind
                        ));
                    }
                    Err(())
                }
            };
            let replied = self.earliest_reply(n, &h);
            let (due_at_ms, outcome) = match due {
                Err(()) => (stated, DeadlineOutcome::Unknown),
                Ok(None) => (None, DeadlineOutcome::NoReplyRequired),
                Ok(Some(due)) => {
                    let outcome =
                        match deadline_state(Some(due), replied, self.bundle.created_at_ms, 0) {
                            DeadlineState::AnsweredOnTime => DeadlineOutcome::OnTime,
                            DeadlineState::AnsweredLate => DeadlineOutcome::Late,
                            DeadlineState::Overdue => DeadlineOutcome::Overdue,
                            DeadlineState::Open | DeadlineState::DueSoon => DeadlineOutcome::Open,
                            DeadlineState::NoReplyRequired => DeadlineOutcome::NoReplyRequired,
                        };
                    (Some(due), outcome)
                }
            };
            let peer = match direction {
                Direction::Received => h.sender,
                Direction::Sent => h.recipient,
            };
            lines.push(DeadlineLine {
                notice_id: h.id.to_string(),
                kind: h.kind.name().to_owned(),
                urgent: h.urgent,
                direction,
                peer: peer.to_string(),
                received_at_ms: received,
                due_at_ms,
                replied_at_ms: replied,
                outcome,
            });
        }
        self.deadlines = lines;
    }

    /// The deadline rules of `county`, the kinds among them that cannot be used, and where they
    /// come from, for messages: the city's directory (when verifying against one that sets the
    /// county's rules), the bundle's `peer_policies`, or the bundle's `policy`.
    fn policy_of(
        &self,
        county: crate::CountyCode,
    ) -> (
        crate::DuePolicy,
        std::collections::BTreeSet<crate::NoticeKind>,
        String,
    ) {
        if let Some(policy) = self
            .directory
            .and_then(|d| d.federation.county(county))
            .and_then(|c| c.policy.as_ref())
        {
            return (
                policy.clone(),
                Default::default(),
                format!("the city's directory's rules for {county}"),
            );
        }
        if let Some((policy, broken)) = self.peer_policies.get(&county) {
            return (
                policy.clone(),
                broken.clone(),
                format!("the bundle's rules for {county} (peer_policies)"),
            );
        }
        (
            self.policy.clone(),
            self.broken_rules.clone(),
            "the bundle's policy".to_owned(),
        )
    }

    /// The time of the earliest reply in the bundle to the notice at item `n`: a notice the other
    /// way between the same two counties, naming it in `in_reply_to`, of a kind that answers it,
    /// accepted by a receipt in the bundle; its time is [`reply_time`] of its issued-at and the
    /// receipt's `existed_by_ms`. A reply without such a receipt has no established time and
    /// answers nothing yet.
    pub(super) fn earliest_reply(&self, n: usize, original: &Header) -> Option<i64> {
        let reply_kind = match self.items[n].kind {
            Some(LeafKind::ReceivedNotice) => LeafKind::SentNotice,
            _ => LeafKind::ReceivedNotice,
        };
        self.replies_to
            .get(&original.id)?
            .iter()
            .filter(|&&r| self.items[r].kind == Some(reply_kind))
            .filter_map(|&r| Some((self.items[r].header()?, r)))
            .filter(|(reply, _)| {
                reply.sender == original.recipient
                    && reply.recipient == original.sender
                    && reply.kind.may_answer(original.kind)
            })
            .filter_map(|(reply, r)| {
                let receipt = self.items[*self.receipt_of.get(&r)?].receipt()?;
                if receipt.outcome != Outcome::Accepted {
                    return None;
                }
                Some(reply_time(reply.issued_at_ms, receipt.existed_by_ms?))
            })
            .min()
    }
}

pub(super) fn due_text(due: Option<i64>) -> String {
    match due {
        Some(ms) => format!("{} ({ms})", format_cst(ms)),
        None => "never (no due time)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{
        self, CONTACT_RECEIPT, Log, NODE, PEER, contact, contact_due_at, contact_receipt,
        leaf_problems, node_key, notice,
    };
    use super::super::verify_bundle;
    use super::*;
    use crate::body::{NoticeBody, ReplyLetter};

    /// The fixture's log, with the node's receipt for the reply stating `existed_by_ms` and the
    /// receipt time `received_at_ms`.
    fn reply_vouched_at(received_at_ms: i64, existed_by_ms: Option<i64>) -> Log {
        use crate::receipt::{Outcome, Receipt};
        use crate::tlog::LeafKind;
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        log.receipt(
            LeafKind::ReceivedReceipt,
            &contact_receipt(&contact, Some(contact_due_at())),
        );
        let reply = fixture::reply(&contact);
        log.notice(LeafKind::ReceivedNotice, &reply);
        let checkpoint = fixture::node_checkpoint(&node_key(), &log.hashes);
        let receipt = crate::SignedReceipt::sign(
            &node_key(),
            Receipt {
                notice_id: Some(reply.header.id),
                envelope_sha256: reply.envelope_sha256(),
                recipient: reply.header.recipient,
                sender: Some(reply.header.sender),
                received_at_ms,
                outcome: Outcome::Accepted,
                reply_due_at_ms: None,
                key_id: node_key().key_id(),
                checkpoint: Some(checkpoint),
                existed_by_ms,
            },
        );
        log.receipt(LeafKind::IssuedReceipt, &receipt);
        log
    }

    #[test]
    fn a_reply_dated_in_time_but_vouched_for_only_after_the_deadline_is_late() {
        let due = contact_due_at();
        // The replier's clock said a day early; the node saw it, and nobody vouched earlier, two
        // days after the deadline.
        let report = verify_bundle(
            &reply_vouched_at(due + 2 * 86_400_000, Some(due + 2 * 86_400_000))
                .bundle(Some(fixture::REPLY_RECEIPT)),
        );
        assert!(report.ok, "{}", report.to_text());
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Late);
        assert_eq!(
            report.deadlines[0].replied_at_ms,
            Some(due + 2 * 86_400_000 - crate::cosign::REPLY_TIME_SKEW_MS)
        );
        // Vouched for (cosigned) before the deadline, received after it: on time.
        let report = verify_bundle(
            &reply_vouched_at(due + 2 * 86_400_000, Some(due - 1_000))
                .bundle(Some(fixture::REPLY_RECEIPT)),
        );
        assert!(report.ok, "{}", report.to_text());
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::OnTime);
        assert_eq!(
            report.deadlines[0].replied_at_ms,
            Some(due - 1_000 - crate::cosign::REPLY_TIME_SKEW_MS)
        );
    }

    #[test]
    fn a_reply_receipt_without_or_with_a_later_existed_by_is_a_failure_and_answers_nothing() {
        let received = fixture::reply_issued_at() + 3_000;
        for existed_by in [None, Some(received + 1)] {
            let report = verify_bundle(
                &reply_vouched_at(received, existed_by).bundle(Some(fixture::REPLY_RECEIPT)),
            );
            assert!(!report.ok);
            let problems = leaf_problems(&report, fixture::REPLY_RECEIPT);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains("existed_by_ms"), "{problems:?}");
            if existed_by.is_none() {
                assert_eq!(
                    report.deadlines[0].replied_at_ms, None,
                    "no established time"
                );
            }
        }
    }

    #[test]
    fn the_fixture_letter_was_answered_on_time() {
        let report = verify_bundle(&fixture::bundle());
        let contact = contact();
        assert_eq!(
            report.deadlines[0],
            DeadlineLine {
                notice_id: contact.header.id.to_string(),
                kind: "contact_letter".into(),
                urgent: false,
                direction: Direction::Sent,
                peer: PEER.into(),
                received_at_ms: fixture::contact_received_at(),
                due_at_ms: Some(contact_due_at()),
                replied_at_ms: Some(fixture::reply_issued_at()),
                outcome: DeadlineOutcome::OnTime,
            }
        );
        assert_eq!(report.deadlines[1].direction, Direction::Received);
        assert_eq!(report.deadlines[1].peer, PEER);
        assert_eq!(
            report.deadlines[1].outcome,
            DeadlineOutcome::NoReplyRequired
        );
        assert_eq!(report.deadlines[1].due_at_ms, None);
        assert_eq!(report.deadlines.len(), 2);
    }

    /// The contact letter and 610603's receipt stating `due`, and nothing else.
    fn unanswered(due: Option<i64>) -> Log {
        let mut log = Log::new();
        let contact = contact();
        log.notice(LeafKind::SentNotice, &contact);
        log.receipt(LeafKind::ReceivedReceipt, &contact_receipt(&contact, due));
        log
    }

    #[test]
    fn an_unanswered_notice_is_open_until_its_due_time_and_overdue_after() {
        let mut bundle = unanswered(Some(contact_due_at())).bundle(None);
        bundle.created_at_ms = contact_due_at() - 1;
        let report = verify_bundle(&bundle);
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Open);
        assert_eq!(report.deadlines[0].replied_at_ms, None);
        bundle.created_at_ms = contact_due_at();
        let report = verify_bundle(&bundle);
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Overdue);
    }

    #[test]
    fn a_stated_due_time_that_disagrees_with_the_policy_is_refused() {
        let due = contact_due_at();
        let report = verify_bundle(&unanswered(Some(due + 1)).bundle(None));
        assert_eq!(
            leaf_problems(&report, CONTACT_RECEIPT),
            [format!(
                "610603's receipt states that a reply to notice {} is due {}, but the bundle's policy and calendars give {}",
                contact().header.id,
                due_text(Some(due + 1)),
                due_text(Some(due))
            )]
        );
        // The report still judges by the recomputed due time.
        assert_eq!(report.deadlines[0].due_at_ms, Some(due));
    }

    #[test]
    fn a_peer_receipt_is_judged_by_the_peers_own_rules_when_the_bundle_carries_them() {
        let mut seven = crate::DuePolicy::default();
        let days = crate::Period::CalendarDays(7);
        seven
            .set_rule(
                crate::NoticeKind::ContactLetter,
                Some(crate::ReplyRule {
                    normal: days,
                    urgent: days,
                }),
            )
            .unwrap();
        let due = seven
            .due_at(
                crate::NoticeKind::ContactLetter,
                false,
                fixture::contact_received_at(),
                &crate::HolidayCalendar::builtin(),
            )
            .unwrap();
        assert_ne!(due, Some(contact_due_at()));
        let mut bundle = unanswered(due).bundle(None);
        let report = verify_bundle(&bundle);
        assert_eq!(leaf_problems(&report, CONTACT_RECEIPT).len(), 1);

        bundle.peer_policies = vec![crate::audit::CountyPolicy {
            county: PEER.into(),
            policy: crate::audit::BundlePolicy::from(&seven),
        }];
        let report = verify_bundle(&bundle);
        assert!(report.ok, "{}", report.to_text());
        assert_eq!(report.deadlines[0].due_at_ms, due);

        // The node's own rules are `policy`, never an entry of `peer_policies`.
        bundle.peer_policies[0].county = fixture::NODE.into();
        let report = verify_bundle(&bundle);
        assert_eq!(
            fixture::problems(&report, "peer_policies[0].county"),
            ["is the node itself, whose rules are `policy`"]
        );
    }

    #[test]
    fn a_stated_due_time_for_a_notice_that_needs_no_reply_is_refused() {
        let mut log = fixture::log();
        let report = verify_bundle(&log.bundle(Some(3)));
        assert!(report.ok);
        // The node's receipt for the reply letter states a due time.
        log.leaves.pop();
        log.hashes.pop();
        let reply = fixture::reply(&contact());
        let checkpoint = fixture::node_checkpoint(&node_key(), &log.hashes);
        log.receipt(
            LeafKind::IssuedReceipt,
            &fixture::receipt(
                &node_key(),
                &reply,
                fixture::reply_received_at(),
                Some(contact_due_at()),
                Some(checkpoint),
            ),
        );
        let report = verify_bundle(&log.bundle(Some(3)));
        assert_eq!(
            leaf_problems(&report, 3),
            [format!(
                "the node's receipt states that a reply to notice {} is due {}, but the bundle's policy and calendars give never (no due time)",
                reply.header.id,
                due_text(Some(contact_due_at()))
            )]
        );
    }

    #[test]
    fn without_calendars_a_stated_due_time_cannot_be_confirmed() {
        let mut bundle = unanswered(Some(contact_due_at())).bundle(None);
        bundle.calendars.clear();
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT_RECEIPT);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(" is due 2026-")
                && problems[0].contains(", but the bundle cannot give a due time: "),
            "{problems:?}"
        );
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Unknown);
        assert_eq!(report.deadlines[0].due_at_ms, Some(contact_due_at()));
    }

    #[test]
    fn without_calendars_an_unstated_due_time_is_only_noted() {
        let mut bundle = unanswered(None).bundle(None);
        bundle.calendars.clear();
        let report = verify_bundle(&bundle);
        assert!(report.ok, "{}", report.to_text());
        assert!(
            report.notes[0].starts_with(&format!(
                "notice {} (contact_letter): the reply deadline is unknown: ",
                contact().header.id
            )),
            "{:?}",
            report.notes
        );
        assert_eq!(report.deadlines[0].due_at_ms, None);
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Unknown);
    }

    #[test]
    fn a_broken_rule_leaves_its_deadlines_unknown() {
        let mut bundle = unanswered(Some(contact_due_at())).bundle(None);
        let rule = bundle
            .policy
            .rules
            .iter()
            .find(|r| r.kind == "contact_letter")
            .unwrap()
            .clone();
        bundle.policy.rules.push(rule);
        let report = verify_bundle(&bundle);
        let problems = leaf_problems(&report, CONTACT_RECEIPT);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].ends_with(
                "but the bundle cannot give a due time: the bundle's rule for contact_letter is invalid (see the policy failure)"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn only_a_reply_from_the_other_county_counts() {
        // The node "answers" its own letter: that is no reply from 610603.
        let mut log = unanswered(Some(contact_due_at()));
        let own = notice(
            &node_key(),
            NODE,
            PEER,
            &NoticeBody::ReplyLetter(ReplyLetter {
                text: "补充说明。".into(),
            }),
            fixture::reply_issued_at(),
            Some(contact().header.id),
        );
        log.notice(LeafKind::SentNotice, &own);
        let report = verify_bundle(&log.bundle(None));
        assert_eq!(report.deadlines[0].replied_at_ms, None);
        assert_eq!(report.deadlines[0].outcome, DeadlineOutcome::Overdue);
    }

    #[test]
    fn a_due_time_is_shown_with_its_milliseconds_or_as_never() {
        assert_eq!(due_text(Some(0)), "1970-01-01 08:00:00 CST (0)");
        assert_eq!(due_text(None), "never (no due time)");
    }
}
