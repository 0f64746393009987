use std::process::ExitCode;

use clap::Parser;

use descheduler::cli::{Cli, Command, Output, SimulateArgs};
use descheduler::{api, output, simulate};

/// Bad input (files, YAML, policy) exits with 2, as SPEC §7 asks.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Simulate(args) => simulate_cmd(args),
    }
}

fn simulate_cmd(args: SimulateArgs) -> ExitCode {
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let sim = match simulate::run(&args.policy, &args.cluster, now) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    for w in &sim.warnings {
        eprintln!("warning: {w}");
    }
    match args.output {
        Output::Table => print!("{}", output::table(&sim.policy_name, &sim.report)),
        Output::Json => match serde_json::to_string_pretty(&sim.report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    ExitCode::SUCCESS
}
