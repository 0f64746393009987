//! Not doing harm twice (SPEC §11): which workloads a policy leaves alone for
//! a while, kept in `status.backoff` so the memory survives restarts. Pure:
//! the caller passes the clock.
//!
//! Three reasons put a workload (its pods' controller owner) on hold:
//! `Cooldown`, after the policy evicted one of its pods (`spec.cooldown`);
//! `ReturnedToSource`, when a replacement landed back on the node its
//! predecessor was evicted from; and `FlaggedAgain`, when the strategy that
//! moved a replacement would evict it again at the next run. The last two are
//! strikes: held for max(cooldown, interval), doubling with each strike up to
//! 24 times that, whatever `cooldown` says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::Backoff;
use crate::snapshot::OwnerRef;
use crate::status::time;

/// At most this many entries are kept (the longest-lasting).
pub const MAX_ENTRIES: usize = 100;
/// The back-off doubles at most this many times (x24 is under 2^5).
const MAX_FACTOR: u32 = 24;

pub const COOLDOWN: &str = "Cooldown";
pub const RETURNED: &str = "ReturnedToSource";
pub const FLAGGED_AGAIN: &str = "FlaggedAgain";

/// `namespace/Kind/name`, the key of an entry.
pub fn key(o: &OwnerRef) -> String {
    format!("{}/{}/{}", o.namespace, o.kind, o.name)
}

fn parse(key: &str) -> Option<OwnerRef> {
    let mut parts = key.splitn(3, '/');
    let (namespace, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
    if namespace.is_empty() || kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(OwnerRef {
        namespace: namespace.into(),
        kind: kind.into(),
        name: name.into(),
    })
}

fn until(e: &Backoff) -> Option<DateTime<Utc>> {
    let t = e.until.as_ref()?.0;
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

/// The owners still on hold at `now`.
pub fn held(entries: &[Backoff], now: DateTime<Utc>) -> BTreeSet<OwnerRef> {
    entries
        .iter()
        .filter(|e| until(e).is_some_and(|u| u > now))
        .filter_map(|e| parse(&e.owner))
        .collect()
}

fn add(d: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| d.checked_add_signed(by))
        .unwrap_or(d)
}

/// The entries after a run at `now`: a Cooldown for every owner in
/// `evicted` (when `cooldown` is not zero), a strike (ReturnedToSource or
/// FlaggedAgain) for every owner in `returned` and `flagged`; at most [`MAX_ENTRIES`], the longest-lasting
/// kept; sorted by owner. A Cooldown is forgotten when it ends; a back-off is
/// remembered, for its strikes, until 24 x max(cooldown, interval) after it
/// ends (a hold stops evictions, so a strike can only follow its end).
pub fn update(
    entries: &[Backoff],
    now: DateTime<Utc>,
    evicted: &BTreeSet<OwnerRef>,
    returned: &BTreeSet<OwnerRef>,
    flagged: &BTreeSet<OwnerRef>,
    cooldown: Duration,
    interval: Duration,
) -> Vec<Backoff> {
    let base = cooldown.max(interval);
    let memory = base.saturating_mul(MAX_FACTOR);
    let mut by_owner: BTreeMap<String, Backoff> = entries
        .iter()
        .filter(|e| until(e).is_some_and(|u| u > now || (e.strikes > 0 && add(u, memory) > now)))
        .map(|e| (e.owner.clone(), e.clone()))
        .collect();
    let mut hold = |o: &OwnerRef, reason: &str, to: DateTime<Utc>, strike: bool| {
        let k = key(o);
        let e = by_owner.entry(k.clone()).or_insert_with(|| Backoff {
            owner: k,
            until: None,
            reason: reason.into(),
            strikes: 0,
        });
        let to = if strike {
            e.strikes += 1;
            let doublings = u32::try_from(e.strikes - 1).unwrap_or(u32::MAX);
            let factor = 2u32.saturating_pow(doublings).min(MAX_FACTOR);
            add(now, base.saturating_mul(factor))
        } else {
            to
        };
        if until(e).is_none_or(|u| u <= now || u < to) {
            e.until = Some(time(to));
            e.reason = reason.into();
        }
    };
    if !cooldown.is_zero() {
        for o in evicted {
            hold(o, COOLDOWN, add(now, cooldown), false);
        }
    }
    for o in returned {
        hold(o, RETURNED, now, true);
    }
    for o in flagged.difference(returned) {
        hold(o, FLAGGED_AGAIN, now, true);
    }
    let mut all: Vec<Backoff> = by_owner.into_values().collect();
    if all.len() > MAX_ENTRIES {
        all.sort_by_key(|e| std::cmp::Reverse(until(e)));
        all.truncate(MAX_ENTRIES);
        all.sort_by(|a, b| a.owner.cmp(&b.owner));
    }
    all
}

#[cfg(test)]
#[path = "backoff_tests.rs"]
mod tests;
