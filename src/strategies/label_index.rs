//! Pods by namespace and label, so that a selector with a `key in (values)`
//! requirement looks at the pods carrying one of those labels instead of every
//! pod of the namespace (a scan per workload was quadratic in large namespaces).

use foldhash::HashMap;

use crate::selectors::Selector;
use crate::snapshot::{PodId, Snapshot};

/// Built lazily, one (namespace, key) at a time, for the length of one strategy run.
#[derive(Default)]
pub struct LabelIndex {
    by_key: HashMap<(String, String), HashMap<String, Vec<PodId>>>,
}

impl LabelIndex {
    /// Pods of `ns` labelled `key=value`, in id order.
    pub fn pods<'s>(
        &'s mut self,
        snap: &Snapshot,
        ns: &str,
        key: &str,
        value: &str,
    ) -> &'s [PodId] {
        let index = self
            .by_key
            .entry((ns.to_string(), key.to_string()))
            .or_insert_with(|| {
                let mut m: HashMap<String, Vec<PodId>> = HashMap::default();
                for &p in snap.pods_in_namespace(ns) {
                    if let Some(v) = snap.pod(p).labels().get(key) {
                        m.entry(v.clone()).or_default().push(p);
                    }
                }
                m
            });
        index.get(value).map_or(&[], Vec::as_slice)
    }

    /// The pods of `ns` that `selector` can match, in id order: those carrying
    /// one of the values of its first `key in (values)` requirement. None when
    /// it has no such requirement (then every pod of the namespace can match).
    /// The caller still applies the whole selector.
    pub fn candidates(
        &mut self,
        snap: &Snapshot,
        ns: &str,
        selector: &Selector,
    ) -> Option<Vec<PodId>> {
        let (key, values) = selector.required_values()?;
        let mut pods: Vec<PodId> = Vec::new();
        for value in values {
            pods.extend_from_slice(self.pods(snap, ns, key, value));
        }
        if values.len() > 1 {
            pods.sort_unstable();
            pods.dedup();
        }
        Some(pods)
    }
}
