//! Whether a policy's run is due: a pure function of the policy object (spec,
//! annotations, status) and the clock. Every reconcile asks it first, so the
//! operator's own status writes never cause extra runs.

use chrono::{DateTime, Duration, Utc};

use crate::api::DeschedulerPolicy;
use crate::approval::APPROVE_ANNOTATION;
use crate::policy::DEFAULT_INTERVAL;
use crate::validation::parse_duration;

/// Setting this annotation to a new value triggers one run.
pub const RUN_NOW_ANNOTATION: &str = "descheduler.dev/run-now";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run now; `trigger` is the run-now value being acknowledged, if any.
    Due {
        why: DueReason,
        trigger: Option<String>,
    },
    /// Nothing to do until `at`.
    NotDue { at: DateTime<Utc> },
    /// Carry out the pending plan whose id the approve annotation names.
    Approve { id: String },
    /// `spec.suspend: true`.
    Suspended,
    /// The spec is invalid; wait for it to change.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueReason {
    /// Created, or its spec changed since the last run.
    NewGeneration,
    RunNow,
    IntervalElapsed,
}

/// The policy's interval; an unparseable one (reported by validation) counts as the default.
pub fn interval(policy: &DeschedulerPolicy) -> Duration {
    let d = policy
        .spec
        .interval
        .as_deref()
        .and_then(|s| parse_duration(s).ok())
        .unwrap_or(DEFAULT_INTERVAL);
    Duration::from_std(d).unwrap_or(Duration::minutes(15))
}

pub fn run_now_value(policy: &DeschedulerPolicy) -> Option<&str> {
    annotation(policy, RUN_NOW_ANNOTATION)
}

/// A non-empty annotation of the policy.
fn annotation<'p>(policy: &'p DeschedulerPolicy, key: &str) -> Option<&'p str> {
    policy
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

pub fn decide(policy: &DeschedulerPolicy, now: DateTime<Utc>) -> Decision {
    if policy.spec.suspend.unwrap_or(false) {
        return Decision::Suspended;
    }
    let status = policy.status.clone().unwrap_or_default();
    let generation = policy.metadata.generation;
    if status.observed_generation != generation || status.observed_generation.is_none() {
        return Decision::Due {
            why: DueReason::NewGeneration,
            trigger: run_now_value(policy).map(str::to_string),
        };
    }
    let invalid = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Valid" && c.status == "False");
    if invalid {
        return Decision::Invalid;
    }
    if let Some(id) = annotation(policy, APPROVE_ANNOTATION)
        && status.handled_approval.as_deref() != Some(id)
    {
        return Decision::Approve { id: id.to_string() };
    }
    if let Some(v) = run_now_value(policy)
        && status.handled_run_now.as_deref() != Some(v)
    {
        return Decision::Due {
            why: DueReason::RunNow,
            trigger: Some(v.to_string()),
        };
    }
    let last_start = status
        .last_run
        .as_ref()
        .and_then(|r| r.start_time.as_ref())
        .and_then(|t| crate::snapshot::to_chrono(t.0))
        // The API keeps whole seconds: the real start lies within the second
        // after a stored one, so counting from its end never runs early.
        .map(|t| {
            if t.timestamp_subsec_nanos() == 0 {
                t + Duration::seconds(1)
            } else {
                t
            }
        });
    match last_start {
        None => Decision::Due {
            why: DueReason::NewGeneration,
            trigger: None,
        },
        Some(start) => {
            let at = start + interval(policy);
            if now >= at {
                Decision::Due {
                    why: DueReason::IntervalElapsed,
                    trigger: None,
                }
            } else {
                Decision::NotDue { at }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DeschedulerPolicySpec, DeschedulerPolicyStatus, LastRun};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("valid time")
    }

    fn time(s: &str) -> Time {
        Time(s.parse().expect("valid timestamp"))
    }

    fn policy(
        generation: i64,
        observed: Option<i64>,
        last_start: Option<&str>,
    ) -> DeschedulerPolicy {
        let mut p = DeschedulerPolicy::new(
            "p",
            DeschedulerPolicySpec {
                interval: Some("10m".into()),
                ..Default::default()
            },
        );
        p.metadata.generation = Some(generation);
        p.status = Some(DeschedulerPolicyStatus {
            observed_generation: observed,
            last_run: last_start.map(|s| LastRun {
                start_time: Some(time(s)),
                ..Default::default()
            }),
            ..Default::default()
        });
        p
    }

    #[test]
    fn schedule_table() {
        let now = t("2026-11-23T12:00:00Z");
        let cases: Vec<(&str, DeschedulerPolicy, Decision)> = vec![
            (
                "never ran",
                policy(1, None, None),
                Decision::Due {
                    why: DueReason::NewGeneration,
                    trigger: None,
                },
            ),
            (
                "spec changed",
                policy(2, Some(1), Some("2026-11-23T11:59:00Z")),
                Decision::Due {
                    why: DueReason::NewGeneration,
                    trigger: None,
                },
            ),
            (
                "ran a minute ago",
                policy(1, Some(1), Some("2026-11-23T11:59:00Z")),
                Decision::NotDue {
                    at: t("2026-11-23T12:09:01Z"),
                },
            ),
            (
                "exact start written by this process",
                policy(1, Some(1), Some("2026-11-23T11:59:00.5Z")),
                Decision::NotDue {
                    at: t("2026-11-23T12:09:00.5Z"),
                },
            ),
            (
                "interval elapsed",
                policy(1, Some(1), Some("2026-11-23T11:49:59Z")),
                Decision::Due {
                    why: DueReason::IntervalElapsed,
                    trigger: None,
                },
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(decide(&p, now), want, "{name}");
        }
    }

    #[test]
    fn suspend_invalid_and_run_now() {
        let now = t("2026-11-23T12:00:00Z");
        let mut p = policy(1, Some(1), Some("2026-11-23T11:59:00Z"));
        p.metadata.annotations = Some([(RUN_NOW_ANNOTATION.to_string(), "a".to_string())].into());
        assert_eq!(
            decide(&p, now),
            Decision::Due {
                why: DueReason::RunNow,
                trigger: Some("a".into())
            }
        );
        p.status.as_mut().expect("status").handled_run_now = Some("a".into());
        assert_eq!(
            decide(&p, now),
            Decision::NotDue {
                at: t("2026-11-23T12:09:01Z")
            },
            "acknowledged"
        );
        p.status.as_mut().expect("status").conditions = vec![Condition {
            type_: "Valid".into(),
            status: "False".into(),
            reason: "Invalid".into(),
            message: String::new(),
            last_transition_time: time("2026-11-23T11:59:00Z"),
            observed_generation: Some(1),
        }];
        assert_eq!(decide(&p, now), Decision::Invalid);
        p.spec.suspend = Some(true);
        assert_eq!(decide(&p, now), Decision::Suspended);
    }

    #[test]
    fn an_approval_is_acted_on_once() {
        let now = t("2026-11-23T12:00:00Z");
        let mut p = policy(1, Some(1), Some("2026-11-23T11:59:00Z"));
        p.metadata.annotations = Some([(APPROVE_ANNOTATION.to_string(), "abc".to_string())].into());
        assert_eq!(decide(&p, now), Decision::Approve { id: "abc".into() });
        p.status.as_mut().expect("status").handled_approval = Some("abc".into());
        assert_eq!(
            decide(&p, now),
            Decision::NotDue {
                at: t("2026-11-23T12:09:01Z")
            },
            "carried out or refused already"
        );
        // A spec change first runs the new spec (which publishes a new plan).
        p.metadata.generation = Some(2);
        p.status.as_mut().expect("status").handled_approval = None;
        assert!(matches!(
            decide(&p, now),
            Decision::Due {
                why: DueReason::NewGeneration,
                ..
            }
        ));
    }
}
