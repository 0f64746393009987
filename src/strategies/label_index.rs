//! The snapshot's label index, bound to one snapshot for one strategy run.

use crate::selectors::Selector;
use crate::snapshot::{self, PodId, Snapshot};

/// Built lazily, one (namespace, key) at a time, for the length of one strategy run.
#[derive(Default)]
pub struct LabelIndex(snapshot::LabelIndex);

impl LabelIndex {
    /// The pods of `ns` that `selector` can match, in id order (see
    /// [`snapshot::LabelIndex::candidates`]). The caller still applies the
    /// whole selector.
    pub fn candidates(
        &mut self,
        snap: &Snapshot,
        ns: &str,
        selector: &Selector,
    ) -> Option<Vec<PodId>> {
        // The (namespace, key) that matching the budgets indexed: the same
        // pods in the same order, without reading every pod's labels again.
        if let Some((key, values)) = selector.required_values()
            && let Some(built) = snap.pods_by_label(ns, key)
        {
            return Some(snapshot::gather(built, values, None));
        }
        self.0
            .candidates(&snap.pods, snap.pods_in_namespace(ns), ns, selector)
    }
}
