//! A validated policy with every default applied and every string parsed: what
//! the engine runs. Built from a spec by [`from_spec::validate`], the only
//! place where the wire format becomes the domain model.

pub mod from_spec;

use std::time::Duration;

pub use from_spec::{DEFAULT_INTERVAL, MIN_INTERVAL, validate};

use crate::plan::Rules;
use crate::strategies::StrategyConfig;

#[derive(Clone, Debug)]
pub struct Policy {
    pub interval: Duration,
    /// spec.cooldown; zero is off.
    pub cooldown: Duration,
    pub dry_run: bool,
    /// `approval: Manual`: runs publish a plan; only an approved one is carried out.
    pub manual_approval: bool,
    pub suspend: bool,
    /// What the ledger applies to every strategy's candidates.
    pub rules: Rules,
    pub grace_period_seconds: Option<i64>,
    /// Enabled strategies in run order.
    pub strategies: Vec<StrategyConfig>,
}

impl Policy {
    /// The measured usage sources its strategies read (SPEC §13): what the
    /// client side collects before a run. Empty when every strategy uses requests.
    pub fn usage_sources(&self) -> std::collections::BTreeSet<crate::snapshot::UsageSource> {
        self.strategies
            .iter()
            .map(|s| s.strategy.usage_source())
            .filter(|s| *s != crate::snapshot::UsageSource::Requests)
            .collect()
    }
}
