use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("a valid time")
}

fn owner(name: &str) -> OwnerRef {
    OwnerRef {
        namespace: "shop".into(),
        kind: "ReplicaSet".into(),
        name: name.into(),
    }
}

fn set(names: &[&str]) -> BTreeSet<OwnerRef> {
    names.iter().map(|n| owner(n)).collect()
}

const MIN: Duration = Duration::from_secs(60);

#[test]
fn a_cooldown_holds_until_it_ends_and_is_then_forgotten() {
    let e = update(
        &[],
        at(0),
        &set(&["web"]),
        &set(&[]),
        &set(&[]),
        5 * MIN,
        MIN,
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].owner, "shop/ReplicaSet/web");
    assert_eq!(e[0].reason, COOLDOWN);
    assert_eq!(held(&e, at(299)), set(&["web"]));
    assert!(held(&e, at(300)).is_empty());
    assert!(update(&e, at(301), &set(&[]), &set(&[]), &set(&[]), 5 * MIN, MIN).is_empty());
}

#[test]
fn no_cooldown_no_entry() {
    assert!(
        update(
            &[],
            at(0),
            &set(&["web"]),
            &set(&[]),
            &set(&[]),
            Duration::ZERO,
            MIN
        )
        .is_empty()
    );
}

#[test]
fn back_off_doubles_with_each_strike_up_to_24_times() {
    // Interval 1m, no cooldown: 1m, 2m, 4m, ... capped at 24m.
    let mut e = Vec::new();
    let mut now = at(0);
    let mut holds = Vec::new();
    for _ in 0..7 {
        e = update(
            &e,
            now,
            &set(&[]),
            &set(&["web"]),
            &set(&[]),
            Duration::ZERO,
            MIN,
        );
        let until = until(&e[0]).expect("until");
        holds.push((until - now).num_minutes());
        assert_eq!(held(&e, now), set(&["web"]));
        // The next strike comes after the hold ends.
        now = until + chrono::Duration::seconds(1);
        assert!(held(&e, now).is_empty());
    }
    assert_eq!(holds, [1, 2, 4, 8, 16, 24, 24]);
    assert_eq!(e[0].strikes, 7);
    assert_eq!(e[0].reason, RETURNED);
}

#[test]
fn strikes_are_forgotten_after_a_long_quiet_time() {
    let e = update(
        &[],
        at(0),
        &set(&[]),
        &set(&["web"]),
        &set(&[]),
        Duration::ZERO,
        MIN,
    );
    // Held 1m, remembered 24m after that.
    assert_eq!(
        update(
            &e,
            at(60 + 24 * 60 - 1),
            &set(&[]),
            &set(&[]),
            &set(&[]),
            Duration::ZERO,
            MIN
        )
        .len(),
        1
    );
    assert!(
        update(
            &e,
            at(60 + 24 * 60 + 1),
            &set(&[]),
            &set(&[]),
            &set(&[]),
            Duration::ZERO,
            MIN
        )
        .is_empty()
    );
}

#[test]
fn at_most_100_entries_the_longest_lasting_kept() {
    let mut e = Vec::new();
    for i in 0..150 {
        let name = format!("w{i:03}");
        // Later owners get longer cooldowns.
        e = update(
            &e,
            at(0),
            &set(&[&name]),
            &set(&[]),
            &set(&[]),
            Duration::from_secs(600 + i),
            MIN,
        );
    }
    assert_eq!(e.len(), MAX_ENTRIES);
    assert_eq!(e[0].owner, "shop/ReplicaSet/w050");
    assert!(e.windows(2).all(|w| w[0].owner < w[1].owner));
}

#[test]
fn malformed_entries_hold_nothing() {
    let e = vec![Backoff {
        owner: "not-a-key".into(),
        until: Some(time(at(1000))),
        reason: COOLDOWN.into(),
        strikes: 0,
    }];
    assert!(held(&e, at(0)).is_empty());
}

#[test]
fn flagged_again_is_a_strike_like_returned_to_source() {
    let e = update(
        &[],
        at(0),
        &set(&[]),
        &set(&[]),
        &set(&["web"]),
        Duration::ZERO,
        MIN,
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].reason, FLAGGED_AGAIN);
    assert_eq!(e[0].strikes, 1);
    assert_eq!(held(&e, at(59)), set(&["web"]));
    // Both at once: one strike, reported as the return.
    let e = update(
        &e,
        at(61),
        &set(&[]),
        &set(&["web"]),
        &set(&["web"]),
        Duration::ZERO,
        MIN,
    );
    assert_eq!((e[0].strikes, e[0].reason.as_str()), (2, RETURNED));
}
