//! That the bundle holds every leaf the node logged in its period: the node logs leaves in time
//! order, so the leaf just before the range (logged before the period) and the leaf just after it
//! (logged at or after the period's end), both proven in the checkpoint's tree, show that no leaf
//! of the period lies outside the range.

use crate::clock::format_cst;

use super::Verifier;

impl Verifier<'_> {
    pub(super) fn check_completeness(&mut self) {
        let b = self.bundle;
        let (first, last) = (b.first_leaf, b.last_leaf);
        // An empty range (first = last + 1) still needs its two neighbours; any other inverted
        // range is a failure of its own (see the range check).
        if first > last && last.checked_add(1) != Some(first) {
            return;
        }
        let mut times: Vec<(u64, i64, String)> = Vec::new();
        match (&b.leaf_before, first) {
            (None, 0) => {}
            (None, _) => self.fail_bundle(
                "leaf_before",
                format!(
                    "missing: first_leaf is {first}, so the bundle must show leaf {} to prove \
                     that no leaf of the period was logged before its range",
                    first - 1
                ),
            ),
            (Some(before), _) => {
                let label = format!("leaf {} (leaf_before)", before.leaf_index);
                if first == 0 || before.leaf_index != first - 1 {
                    self.fail_bundle(
                        "leaf_before",
                        format!(
                            "it is leaf {}, not the leaf just before first_leaf {first}",
                            before.leaf_index
                        ),
                    );
                }
                if let Some(leaf) = self.check_shown_leaf(before, &label) {
                    if leaf.logged_at_ms >= b.from_ms {
                        self.fail_bundle(
                            "leaf_before",
                            format!(
                                "it was logged at {}, inside the period (from {}): the range \
                                 leaves out leaves of the period logged before first_leaf {first}",
                                format_cst(leaf.logged_at_ms),
                                format_cst(b.from_ms)
                            ),
                        );
                    }
                    times.push((before.leaf_index, leaf.logged_at_ms, label));
                }
            }
        }
        let size = self.checkpoint.as_ref().map(|c| c.size);
        match (&b.leaf_after, size) {
            (_, None) => {}
            (None, Some(size)) if last.checked_add(1) == Some(size) => {}
            (None, Some(size)) => self.fail_bundle(
                "leaf_after",
                format!(
                    "missing: the checkpoint's tree has {size} leaves and last_leaf is {last}, \
                     so the bundle must show leaf {} to prove that no leaf of the period was \
                     logged after its range",
                    last.saturating_add(1)
                ),
            ),
            (Some(after), Some(_)) => {
                let label = format!("leaf {} (leaf_after)", after.leaf_index);
                if last.checked_add(1) != Some(after.leaf_index) {
                    self.fail_bundle(
                        "leaf_after",
                        format!(
                            "it is leaf {}, not the leaf just after last_leaf {last}",
                            after.leaf_index
                        ),
                    );
                }
                if let Some(leaf) = self.check_shown_leaf(after, &label) {
                    if leaf.logged_at_ms < b.to_ms {
                        self.fail_bundle(
                            "leaf_after",
                            format!(
                                "it was logged at {}, inside the period (to {}): the range leaves \
                                 out leaves of the period logged after last_leaf {last}",
                                format_cst(leaf.logged_at_ms),
                                format_cst(b.to_ms)
                            ),
                        );
                    }
                    times.push((after.leaf_index, leaf.logged_at_ms, label));
                }
            }
        }
        for item in &b.items {
            times.push((
                item.leaf_index,
                item.logged_at_ms,
                format!("leaf {} ({})", item.leaf_index, item.kind),
            ));
        }
        for o in &b.omitted {
            times.push((
                o.leaf_index,
                o.logged_at_ms,
                format!("leaf {} (omitted)", o.leaf_index),
            ));
        }
        times.sort_by_key(|(index, _, _)| *index);
        for pair in times.windows(2) {
            let ((_, earlier, earlier_label), (index, later, label)) = (&pair[0], &pair[1]);
            if later < earlier {
                self.fail_leaf(
                    *index,
                    label.clone(),
                    format!(
                        "logged at {}, before {earlier_label} at {}: the node logs leaves in \
                         time order, so a bundle's times never go backwards",
                        format_cst(*later),
                        format_cst(*earlier)
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, as_omitted, node_key, problems};
    use super::super::verify_bundle;

    #[test]
    fn a_whole_log_in_its_period_needs_no_edge_leaves() {
        let report = verify_bundle(&fixture::bundle());
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }

    #[test]
    fn a_tail_cut_from_the_period_is_shown_by_the_leaf_after_the_range() {
        let mut bundle = fixture::bundle();
        let cut = bundle.items.pop().unwrap();
        bundle.last_leaf -= 1;
        bundle.sign_claims(&node_key());
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "leaf_after"),
            [
                "missing: the checkpoint's tree has 4 leaves and last_leaf is 2, so the bundle must show leaf 3 to prove that no leaf of the period was logged after its range"
            ]
        );
        bundle.leaf_after = Some(as_omitted(&cut));
        let report = verify_bundle(&bundle);
        let found = problems(&report, "leaf_after");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("it was logged at 2026-03-05 10:00:03")
                && found[0].ends_with(
                    "the range leaves out leaves of the period logged after last_leaf 2"
                ),
            "{found:?}"
        );
    }

    #[test]
    fn a_head_cut_from_the_period_is_shown_by_the_leaf_before_the_range() {
        let mut bundle = fixture::bundle();
        let cut = bundle.items.remove(0);
        bundle.first_leaf = 1;
        bundle.sign_claims(&node_key());
        let report = verify_bundle(&bundle);
        assert_eq!(
            problems(&report, "leaf_before"),
            [
                "missing: first_leaf is 1, so the bundle must show leaf 0 to prove that no leaf of the period was logged before its range"
            ]
        );
        bundle.leaf_before = Some(as_omitted(&cut));
        let report = verify_bundle(&bundle);
        let found = problems(&report, "leaf_before");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("inside the period"), "{found:?}");
        // Once the period starts after it, the same leaf is a true edge.
        bundle.from_ms = bundle.items[0].logged_at_ms;
        bundle.sign_claims(&node_key());
        let report = verify_bundle(&bundle);
        assert!(problems(&report, "leaf_before").is_empty());
    }

    #[test]
    fn an_edge_leaf_must_be_the_neighbour_of_the_range_and_in_the_log() {
        let mut bundle = fixture::bundle();
        bundle.items.pop();
        let wrong = as_omitted(&bundle.items[0]);
        bundle.last_leaf -= 1;
        bundle.sign_claims(&node_key());
        bundle.leaf_after = Some(wrong);
        let report = verify_bundle(&bundle);
        assert!(
            problems(&report, "leaf_after")
                .contains(&"it is leaf 0, not the leaf just after last_leaf 2".to_owned())
        );
        let mut forged = as_omitted(&fixture::bundle().items[3]);
        forged.logged_at_ms = bundle.to_ms;
        bundle.leaf_after = Some(forged);
        let report = verify_bundle(&bundle);
        assert!(problems(&report, "leaf_after").is_empty());
        assert_eq!(
            problems(&report, "leaf 3 (leaf_after)"),
            [
                "its inclusion proof does not lead to the checkpoint's root: the node's log does not hold these bytes at leaf 3"
            ]
        );
    }

    #[test]
    fn times_that_go_backwards_in_the_log_are_refused() {
        let mut bundle = fixture::bundle();
        bundle.items[2].logged_at_ms = bundle.items[0].logged_at_ms - 1;
        let report = verify_bundle(&bundle);
        let found = fixture::leaf_problems(&report, 2);
        assert!(
            found
                .iter()
                .any(|p| p.contains("so a bundle's times never go backwards")),
            "{found:?}"
        );
    }

    #[test]
    fn an_empty_range_between_two_neighbours_outside_the_period_verifies() {
        // A period after the whole log: nothing in it, the last leaf before it.
        let mut bundle = fixture::bundle();
        let last = bundle.items.last().unwrap().clone();
        bundle.from_ms = last.logged_at_ms + 1;
        bundle.to_ms = last.logged_at_ms + 86_400_000;
        bundle.items.clear();
        bundle.first_leaf = 4;
        bundle.last_leaf = 3;
        bundle.leaf_before = Some(as_omitted(&last));
        bundle.sign_claims(&node_key());
        let report = verify_bundle(&bundle);
        assert!(report.ok, "{}", report.to_text());
        assert!(report.to_text().contains("none in the period"));

        // The same empty range claimed for a period that holds that leaf is refused.
        bundle.from_ms = last.logged_at_ms;
        bundle.sign_claims(&node_key());
        let report = verify_bundle(&bundle);
        assert!(
            problems(&report, "leaf_before")
                .iter()
                .any(|p| p.contains("inside the period")),
            "{}",
            report.to_text()
        );
    }
}
