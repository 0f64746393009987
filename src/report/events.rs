//! The Events a run publishes (SPEC §8), as text: one per evicted pod and a
//! summary on the policy. Pure; the controller publishes them.

use super::RunReport;
use crate::evictor::EvictOutcome;
use crate::snapshot::PodId;

/// Event notes are capped well below the API's 1 KiB limit on `note`.
const MAX_NOTE: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regarding {
    Pod(PodId),
    Policy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventText {
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
    pub regarding: Regarding,
}

/// `Descheduled` on every pod actually evicted, then `RunCompleted` on the policy.
pub fn run_events(policy: &str, report: &RunReport) -> Vec<EventText> {
    let mut events: Vec<EventText> = report
        .attempts
        .iter()
        .filter(|a| matches!(a.outcome, EvictOutcome::Evicted | EvictOutcome::Restarted))
        .map(|a| EventText {
            warning: false,
            reason: "Descheduled",
            action: if a.restart { "RolloutRestart" } else { "Evict" },
            note: truncate(&if a.restart {
                format!(
                    "Last ready replica: its workload restarted by policy {policy} instead, strategy {}: {}",
                    a.entry.strategy, a.entry.reason
                )
            } else {
                format!(
                    "Evicted by policy {policy}, strategy {}: {}",
                    a.entry.strategy, a.entry.reason
                )
            }),
            regarding: Regarding::Pod(a.pod),
        })
        .collect();
    events.push(EventText {
        warning: false,
        reason: "RunCompleted",
        action: "Run",
        note: format!(
            "{} run {}: evicted {}, would evict {}, blocked {}, failed {}",
            report.mode.as_str(),
            report.result.as_str(),
            report.total(|c| c.evicted),
            report.total(|c| c.would_evict),
            report.total(|c| c.blocked),
            report.total(|c| c.failed)
        ),
        regarding: Regarding::Policy,
    });
    events
}

/// `Descheduled` on every pod actually evicted, then `PlanApproved` on the policy.
pub fn approved_events(policy: &str, id: &str, report: &RunReport, stale: usize) -> Vec<EventText> {
    let mut events = run_events(policy, report);
    if let Some(summary) = events.last_mut() {
        summary.reason = "PlanApproved";
        summary.action = "Approve";
        summary.note = format!(
            "approved plan {id}: evicted {}, stale {stale}, blocked {}, failed {}",
            report.total(|c| c.evicted),
            report.total(|c| c.blocked),
            report.total(|c| c.failed)
        );
    }
    events
}

/// `ApprovalRefused`: an unknown or expired plan id.
pub fn approval_refused(message: &str) -> EventText {
    EventText {
        warning: true,
        reason: "ApprovalRefused",
        action: "Approve",
        note: truncate(message),
        regarding: Regarding::Policy,
    }
}

/// `InvalidPolicy` with every field error.
pub fn invalid_policy(message: &str) -> EventText {
    EventText {
        warning: true,
        reason: "InvalidPolicy",
        action: "Validate",
        note: truncate(message),
        regarding: Regarding::Policy,
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_NOTE {
        return s.to_string();
    }
    let mut end = MAX_NOTE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_NOTE);
        let cut = truncate(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= MAX_NOTE + '…'.len_utf8());
        assert_eq!(truncate("short"), "short");
    }
}
