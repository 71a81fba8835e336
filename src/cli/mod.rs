//! The native command line: `riglab <command>`. Every command that trains takes the same
//! query string as the page's share URL (or the whole URL).

mod bench;
mod compare;
mod data;
mod grid;
mod landscape;
mod plan;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::backend::{AnyBackend, block_on};
use crate::config::Config;
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::gpu::{GpuBackend, GpuContext};
use crate::prepare::{load_own, load_prepared};
use crate::train::state::RunState;
use crate::train::{Setup, Trainer};

#[derive(Parser)]
#[command(
    name = "riglab",
    version,
    about = "RigL sparse training lab: the headless engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
    /// Compute the CPU backend's dense products in the page's exact order (no fused
    /// multiply-add): the same numbers as the page for the same link, bit for bit; slower.
    #[arg(long, global = true)]
    exact: bool,
}

#[derive(Subcommand)]
enum Commands {
    /// Prepare the compact, class-balanced data sets the page and the engine load.
    Data(data::DataArgs),
    /// Show per-layer densities, active weights and FLOPs of a configuration, without training.
    Plan(plan::PlanArgs),
    /// Train one configuration and report losses, evaluations, mask updates and a summary.
    Train(train::TrainArgs),
    /// Train a grid of models x methods x distributions x sparsities x seeds; print a table.
    Compare(compare::CompareArgs),
    /// Train a grid of mask-update periods x drop fractions x seeds; print the ΔT x α table.
    Sweep(compare::SweepArgs),
    /// Print the table of a grid trained in shards, from the shards' CSV files.
    Merge(compare::MergeArgs),
    /// Print training speed (steps/s) of the CPU or GPU backend, dense vs sparse (a benchmark).
    Bench(bench::BenchArgs),
    /// Loss along a line between two snapshots, or on a 2D slice around a trained run.
    Landscape(landscape::LandscapeArgs),
    /// Train Static to a plateau, then continue with Static and with RigL from that state.
    Escape(landscape::EscapeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::cpu::fast::set_default_exact(cli.exact);
    // The command runs on a thread of the pool, so a parallel loop's caller works on it as
    // well: from outside, each loop would hand its work to the pool and sleep until it is
    // done (two thread wake-ups per loop, a few dozen loops per training step). The stack of
    // a main thread.
    match rayon::ThreadPoolBuilder::new().stack_size(8 << 20).build() {
        Ok(pool) => pool.install(|| run(cli)),
        Err(_) => run(cli),
    }
}

fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Commands::Data(a) => data::run(a),
        Commands::Plan(a) => plan::run(a),
        Commands::Train(a) => train::run(a),
        Commands::Compare(a) => compare::run_compare(a),
        Commands::Sweep(a) => compare::run_sweep(a),
        Commands::Merge(a) => compare::run_merge(a),
        Commands::Bench(a) => bench::run(a),
        Commands::Landscape(a) => landscape::run_landscape(a),
        Commands::Escape(a) => landscape::run_escape(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
        Err(CliError::Diverged(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(3)
        }
    }
}

pub enum CliError {
    /// Bad arguments or configuration (exit code 2).
    Usage(String),
    /// Something failed while running (exit code 1).
    Failed(String),
    /// The run diverged (exit code 3): the message says where and what to try.
    Diverged(String),
}

/// Parses a query string or share URL strictly: every problem is named. The page's own
/// parameters (`vs`, `backend`, ...) are accepted and ignored with a note, so any share
/// link runs headless.
fn parse_config(query: &str) -> Result<Config, CliError> {
    let (rest, page, notices) = crate::share::split(query);
    if !notices.is_empty() {
        return Err(CliError::Usage(format!(
            "invalid configuration:\n  {}",
            notices.join("\n  ")
        )));
    }
    if !page.versus.is_empty() {
        let names: Vec<String> = page.versus.iter().map(|v| v.name()).collect();
        eprintln!(
            "note: vs={} (comparison runs) is a page feature; this trains the main run (see `riglab compare`)",
            names.join(",")
        );
    }
    Config::parse_strict(&rest).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        CliError::Usage(format!("invalid configuration:\n{}", lines.join("\n")))
    })
}

/// Which compute backend runs the training steps.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// The CPU reference (and real sparse) backend.
    #[default]
    Cpu,
    /// wgpu: Vulkan natively (Mesa lavapipe where there is no GPU).
    Gpu,
}

/// A run of `config` on `kind`'s backend: from its start, or going on from `resume`.
fn trainer(
    kind: BackendKind,
    config: &Config,
    train: Dataset,
    test: Dataset,
    resume: Option<&RunState>,
) -> Result<Trainer<AnyBackend>, CliError> {
    let setup = match resume {
        Some(state) => state.setup(config).map_err(CliError::Usage)?,
        None => Setup::new(config).map_err(CliError::Usage)?,
    };
    let (n_train, n_test) = (train.len(), test.len());
    let backend = match kind {
        BackendKind::Cpu => {
            AnyBackend::from(CpuBackend::new(&setup, train, test).map_err(CliError::Usage)?)
        }
        BackendKind::Gpu => {
            let ctx = block_on(GpuContext::new()).map_err(gpu_error)?;
            AnyBackend::from(GpuBackend::with_context(ctx, &setup, train, test).map_err(gpu_error)?)
        }
    };
    match resume {
        Some(state) => state
            .resume(setup, backend, n_train, n_test)
            .map_err(|e| CliError::Usage(format!("the checkpoint does not fit: {e}"))),
        None => Ok(Trainer::new(setup, backend, n_train, n_test)),
    }
}

/// A GPU backend that cannot start is a failure; a bad configuration, a usage error.
fn gpu_error(e: crate::gpu::GpuError) -> CliError {
    match e {
        crate::gpu::GpuError::InvalidSetup(m) => CliError::Usage(m),
        other => CliError::Failed(other.to_string()),
    }
}

/// Data-set folder option shared by the training commands.
#[derive(clap::Args, Clone)]
struct DataDir {
    /// Folder with the prepared data sets (made by `riglab data`).
    #[arg(long, default_value = "www/data")]
    data_dir: PathBuf,
}

impl DataDir {
    fn load(&self, config: &Config) -> Result<(Dataset, Dataset), CliError> {
        match &config.data {
            crate::config::DataSet::Own(own) => load_own(&self.data_dir, own),
            builtin => load_prepared(&self.data_dir, &builtin.name()),
        }
        .map_err(|e| CliError::Failed(e.to_string()))
    }
}
