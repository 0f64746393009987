//! The human-readable `simulate` table.

use std::fmt::Write;

use crate::report::EvictionEntry;
use crate::report::json::SimulateView;

const BAR_WIDTH: usize = 20;

/// `[####--++....]`: '#' is what stays, '-' what the plan removes, '+' what
/// the replacements add, '.' free.
fn bar(before: f64, after: f64) -> String {
    let cells = |pct: f64| ((pct.clamp(0.0, 100.0) / 100.0) * BAR_WIDTH as f64).round() as usize;
    let (b, a) = (cells(before), cells(after));
    let (stays, gone, added) = (b.min(a), b.saturating_sub(a), a.saturating_sub(b));
    format!(
        "[{}{}{}{}]",
        "#".repeat(stays),
        "-".repeat(gone),
        "+".repeat(added),
        ".".repeat(BAR_WIDTH - stays - gone - added)
    )
}

fn pod_lines(out: &mut String, list: &[EvictionEntry], order: &[String]) {
    let width = list
        .iter()
        .map(|e| e.namespace.len() + e.name.len() + 1)
        .max()
        .unwrap_or(0);
    let node_width = list.iter().map(|e| e.node.len()).max().unwrap_or(0);
    for strategy in order {
        let of_strategy: Vec<&EvictionEntry> =
            list.iter().filter(|e| &e.strategy == strategy).collect();
        if of_strategy.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {strategy} ({})", of_strategy.len());
        for e in of_strategy {
            let pod = format!("{}/{}", e.namespace, e.name);
            let to = match &e.predicted_node {
                None => String::new(),
                Some(Some(n)) if e.predicted_ties > 0 => {
                    format!(" → {n} (+{} tied)", e.predicted_ties)
                }
                Some(Some(n)) => format!(" → {n}"),
                Some(None) => " → Pending".to_string(),
            };
            let _ = writeln!(
                out,
                "    {pod:<width$}  on {:<node_width$}{to}  {}",
                e.node, e.reason
            );
        }
    }
}

pub fn table(policy_name: &str, report: &SimulateView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Policy {policy_name}: {} eviction(s) planned, {} blocked",
        report.evictions.len(),
        report.blocked.len()
    );
    if let Some(reason) = &report.run_skipped {
        let _ = writeln!(out, "Run skipped: {reason}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Planned evictions ({})", report.evictions.len());
    if report.evictions.is_empty() {
        let _ = writeln!(out, "  none");
    }
    pod_lines(&mut out, &report.evictions, &report.strategy_order);
    if !report.blocked.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Blocked by a PodDisruptionBudget ({})",
            report.blocked.len()
        );
        pod_lines(&mut out, &report.blocked, &report.strategy_order);
    }
    if !report.restarts.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Last ready replicas: workloads restarted instead ({})",
            report.restarts.len()
        );
        pod_lines(&mut out, &report.restarts, &report.strategy_order);
    }

    let _ = writeln!(out);
    let name_width = report
        .strategy_order
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(
        out,
        "{:<name_width$}  {:>7}  {:>7}  SKIPPED",
        "STRATEGY", "EVICTED", "BLOCKED"
    );
    for name in &report.strategy_order {
        let Some(s) = report.strategies.get(name) else {
            continue;
        };
        let skipped = if s.skipped.is_empty() {
            "-".to_string()
        } else {
            s.skipped
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "{name:<name_width$}  {:>7}  {:>7}  {skipped}",
            s.evicted, s.blocked
        );
        if let Some(e) = &s.error {
            let _ = writeln!(out, "{:<name_width$}  failed: {e}", "");
        }
    }

    if !report.warnings.is_empty() {
        let _ = writeln!(out);
        let warnings: Vec<String> = report
            .warnings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "Placement warnings (evicted, but the replacement would not help): {}",
            warnings.join(", ")
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Node utilization (requests / allocatable), before -> after  ('-' = freed by the plan, '+' = its replacements)"
    );
    let node_width = report.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4);
    for node in &report.nodes {
        for (i, (resource, before)) in node.before.iter().enumerate() {
            let after = node.after.get(resource).copied().unwrap_or(*before);
            let label = if i == 0 { node.name.as_str() } else { "" };
            let _ = writeln!(
                out,
                "  {label:<node_width$}  {resource:<7} {}  {before:>5.1}% -> {after:>5.1}%",
                bar(*before, after)
            );
        }
    }
    if report.nodes.iter().any(|n| n.usage.is_some()) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Node usage (measured / allocatable) next to requests, before the plan"
        );
        for node in &report.nodes {
            let Some(usage) = &node.usage else {
                let _ = writeln!(out, "  {:<node_width$}  no measurement", node.name);
                continue;
            };
            for (i, (resource, used)) in usage.iter().enumerate() {
                let label = if i == 0 { node.name.as_str() } else { "" };
                let requested = node
                    .before
                    .get(resource)
                    .map_or("      -".to_string(), |r| format!("{r:>6.1}%"));
                let _ = writeln!(
                    out,
                    "  {label:<node_width$}  {resource:<7} used {used:>5.1}%  requested {requested}"
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn bars_show_what_stays_and_what_goes() {
        assert_eq!(bar(50.0, 25.0), "[#####-----..........]");
        assert_eq!(bar(0.0, 0.0), "[....................]");
        assert_eq!(bar(150.0, 150.0), "[####################]");
    }
}
