//! `armsim`: serve a fleet file as a local Azure Resource Manager for Azure ML compute instances.
//!
//! `armsim --fleet FILE --listen 127.0.0.1:PORT [--page-size N] [--faults SPEC] [--transition-ms N]`
//! prints `listening on http://ADDR` as its first line of stdout, then the managed-identity
//! settings to use, and logs every request to stderr.

use anyhow::Context;
use armsim::fleet::{DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, DEFAULT_WORKSPACE};
use armsim::{FaultSpec, LroStyle, SimConfig, SimFleet, WorkspacePath};
use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "armsim",
    about = "A local Azure Resource Manager simulator for Azure ML compute instances."
)]
struct Args {
    /// Fleet JSON: one compute resource, an array of them, or an ARM list `{"value": [...]}`.
    #[arg(long)]
    fleet: Option<PathBuf>,
    /// Generate a fleet instead: SUBS,WORKSPACES_PER_SUB,INSTANCES_PER_WORKSPACE (e.g. 10,50,20).
    #[arg(long, value_name = "S,W,I")]
    synthetic: Option<String>,
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Items per list page before `nextLink`.
    #[arg(long, default_value_t = armsim::sim::DEFAULT_PAGE_SIZE)]
    page_size: usize,
    /// Workspaces per list page before `nextLink`.
    #[arg(long, default_value_t = armsim::sim::DEFAULT_WORKSPACE_PAGE_SIZE)]
    workspace_page_size: usize,
    /// Faults, e.g. `429=0.1,503=0.02,drop=0.01,slow=0.05,slow-ms=2000,latency-ms=50,seed=7`.
    #[arg(long, default_value = "")]
    faults: String,
    /// How long start/stop/restart take, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    transition_ms: u64,
    /// LRO headers on a 202: async, location or both.
    #[arg(long, default_value = "both")]
    lro: String,
    /// Subscription for computes whose `id` is not a full ARM id.
    #[arg(long, default_value = DEFAULT_SUBSCRIPTION)]
    subscription: String,
    /// Resource group for computes whose `id` is not a full ARM id.
    #[arg(long, default_value = DEFAULT_RESOURCE_GROUP)]
    resource_group: String,
    /// Workspace for computes whose `id` is not a full ARM id.
    #[arg(long, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    /// Secret expected in `X-IDENTITY-HEADER` by the managed-identity endpoint.
    #[arg(long, default_value = "armsim-identity-header")]
    identity_header: String,
    /// Accept any request without a bearer token.
    #[arg(long)]
    no_auth: bool,
    /// Also accept this bearer token (repeatable).
    #[arg(long = "static-token")]
    static_tokens: Vec<String>,
    /// Answer 403 for this role action (repeatable), e.g. `Microsoft.MachineLearningServices/workspaces/computes/stop/action`.
    #[arg(long = "deny")]
    denied_actions: Vec<String>,
    /// Enforce ARM's per-subscription token buckets (250 reads +25/s, 200 writes +10/s).
    #[arg(long)]
    arm_buckets: bool,
    /// Do not print the request log to stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let default_ws = WorkspacePath {
        subscription: args.subscription.clone(),
        resource_group: args.resource_group.clone(),
        workspace: args.workspace.clone(),
    };
    let fleet = match (&args.fleet, &args.synthetic) {
        (Some(path), None) => SimFleet::load(path, &default_ws)?,
        (None, Some(spec)) => {
            let n: Vec<usize> = spec
                .split(',')
                .map(|x| x.trim().parse())
                .collect::<Result<_, _>>()
                .context("--synthetic expects three whole numbers S,W,I")?;
            anyhow::ensure!(
                n.len() == 3,
                "--synthetic expects three whole numbers S,W,I"
            );
            SimFleet::synthetic(n[0], n[1], n[2])
        }
        _ => anyhow::bail!("give exactly one of --fleet FILE or --synthetic S,W,I"),
    };
    let lro = match args.lro.as_str() {
        "async" => LroStyle::AsyncOperation,
        "location" => LroStyle::Location,
        "both" => LroStyle::Both,
        other => anyhow::bail!("--lro must be async, location or both, not `{other}`"),
    };
    let config = SimConfig {
        page_size: args.page_size.max(1),
        workspace_page_size: args.workspace_page_size.max(1),
        transition: Duration::from_millis(args.transition_ms),
        faults: FaultSpec::parse(&args.faults).map_err(anyhow::Error::msg)?,
        lro,
        require_auth: !args.no_auth,
        identity_header: args.identity_header.clone(),
        static_tokens: args.static_tokens.clone(),
        denied_actions: args.denied_actions.clone(),
        enforce_arm_buckets: args.arm_buckets,
        ..SimConfig::default()
    };
    let computes = fleet.computes.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sim = if args.quiet {
            armsim::Simulator::start(args.listen, fleet, config).await?
        } else {
            armsim::start_echoing(args.listen, fleet, config).await?
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", sim.base_url())?;
        writeln!(out, "computes: {computes}")?;
        writeln!(out, "IDENTITY_ENDPOINT={}", sim.identity_endpoint())?;
        writeln!(out, "IDENTITY_HEADER={}", args.identity_header)?;
        out.flush()?;
        drop(out);
        tokio::signal::ctrl_c().await?;
        drop(sim);
        Ok(())
    })
}
