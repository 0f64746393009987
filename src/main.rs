use std::process::ExitCode;

use clap::Parser;

use descheduler::cli::{Cli, Command, ConvertArgs, LogFormat, Output, RunArgs, SimulateArgs};
use descheduler::cluster::live;
use descheduler::snapshot::UsageSource;
use descheduler::{api, convert, dump, output, simulate};

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
        Command::Convert(args) => convert_cmd(args),
        Command::Run(args) => run_cmd(args),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for people at a terminal, not for log files and collectors.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn run_cmd(args: RunArgs) -> ExitCode {
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(descheduler::controller::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %chain(&e), "descheduler stopped");
            ExitCode::FAILURE
        }
    }
}

/// The error and every cause under it, outermost first; a cause whose text
/// the message already quotes is not repeated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

fn simulate_cmd(args: SimulateArgs) -> ExitCode {
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let result = match (&args.policy, &args.cluster) {
        (Some(policy), Some(cluster)) => {
            simulate::run(policy, cluster, args.metrics.as_deref(), now).map_err(Into::into)
        }
        _ => simulate_live(&args, now),
    };
    let sim = match result {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                SimulateFailure::Cluster(_) => 1,
                SimulateFailure::Input(_) => EXIT_BAD_INPUT,
            });
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

#[derive(Debug, thiserror::Error)]
enum SimulateFailure {
    /// Bad files or an invalid policy: exit 2.
    #[error(transparent)]
    Input(#[from] simulate::SimulateError),
    /// The cluster could not be read: exit 1.
    #[error(transparent)]
    Cluster(#[from] live::LiveError),
}

/// Whatever is not a file comes from the cluster, read once.
fn simulate_live(
    args: &SimulateArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<simulate::Simulation, SimulateFailure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| live::LiveError::Config(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let client = live::client(args.kubeconfig.as_deref()).await?;
        let (manifest, source) = match (&args.policy, &args.policy_name) {
            (Some(path), _) => (
                dump::load_policy(path).map_err(simulate::SimulateError::from)?,
                path.display().to_string(),
            ),
            (None, Some(name)) => (
                live::policy(&client, name).await?,
                format!("DeschedulerPolicy {name}"),
            ),
            // clap requires one of them.
            (None, None) => {
                return Err(live::LiveError::Config(
                    "--policy or --policy-name is required".into(),
                )
                .into());
            }
        };
        let (objects, warnings) = match &args.cluster {
            Some(path) => {
                let d = dump::load_cluster(path).map_err(simulate::SimulateError::from)?;
                (d.objects, d.warnings)
            }
            None => (live::cluster_objects(&client).await?, Vec::new()),
        };
        let mut usage = simulate::metrics_file(args.metrics.as_deref())?;
        let prometheus = args
            .prometheus
            .client()
            .map_err(|e| live::LiveError::Config(e.to_string()))?;
        // Only the sources the policy reads are asked, and only when no file gave them.
        for source in simulate::usage_sources(&manifest, &objects) {
            match source {
                UsageSource::KubernetesMetrics
                    if usage.kubernetes.is_none() && args.cluster.is_none() =>
                {
                    usage.kubernetes = Some(live::kube_metrics(&client).await);
                }
                UsageSource::Prometheus { query } => {
                    if let Some(p) = &prometheus {
                        let r = p.query(&query).await.map_err(|e| e.to_string());
                        usage.prometheus.insert(query, r);
                    }
                }
                _ => {}
            }
        }
        Ok(simulate::plan(
            manifest, &source, objects, warnings, usage, now,
        )?)
    })
}

fn convert_cmd(args: ConvertArgs) -> ExitCode {
    let source = args.file.display().to_string();
    let text = if source == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(&args.file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {source}: cannot read: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let opts = convert::ConvertOptions {
        name: args.name,
        interval: args.interval,
    };
    let yaml = convert::convert(&text, &opts)
        .and_then(|c| convert::to_yaml_stream(&c.policies).map(|yaml| (yaml, c.notes)));
    match yaml {
        Ok((yaml, notes)) => {
            for n in &notes {
                eprintln!("note: {n}");
            }
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {source}: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
