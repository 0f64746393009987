//! Command-line arguments.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "descheduler",
    version,
    about = "Evicts pods that a DeschedulerPolicy says are badly placed"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what a policy would evict from a cluster dump, without touching any cluster.
    Simulate(SimulateArgs),
    /// Print the DeschedulerPolicy CustomResourceDefinition as YAML.
    Crd,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// A DeschedulerPolicy manifest (YAML or JSON).
    #[arg(long)]
    pub policy: PathBuf,
    /// A cluster dump: `kubectl get nodes,pods,poddisruptionbudgets,priorityclasses,namespaces -A -o yaml`.
    #[arg(long)]
    pub cluster: PathBuf,
    /// The clock for age-based rules (RFC 3339); default: now.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}
