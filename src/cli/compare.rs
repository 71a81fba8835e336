//! `riglab compare` (models x methods x distributions x sparsities x seeds), `riglab sweep`
//! (ΔT x α x seeds: the paper's Figure 5) and `riglab merge` (the table of a grid run in
//! shards). The grids and their tables: `experiment::grid`; running, CSV and figures:
//! `grid.rs`.

use std::path::PathBuf;

use super::grid::{from_csv, plot_compare, plot_sweep, run_all, to_csv, write_file};
use super::{BackendKind, CliError, DataDir, parse_config};
use crate::experiment::grid::{
    CompareGrid, GridKind, Planned, Row, SweepGrid, parse_models, parse_shard, shard, table,
};
use crate::model::ModelSpec;
use crate::sparse::{Distribution, Method};

/// What every grid command takes besides its grid.
#[derive(clap::Args)]
pub struct GridArgs {
    /// Seeds per cell: seed, seed+1, ...
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Train only part i of n of the grid (1 <= i <= n; runs i, i + n, ...), e.g. for a job
    /// array; `riglab merge` makes the whole table from the parts' CSV files.
    #[arg(long)]
    shard: Option<String>,
    /// Also write every run as a CSV row to this file (`riglab merge` reads it).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Draw the results as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
    #[command(flatten)]
    data: DataDir,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Base configuration (query string or share URL); the grid overrides its fields.
    #[arg(default_value = "")]
    query: String,
    /// Models, comma-separated (`mlp:300,100,mlp:600,200`); default: the query's.
    #[arg(long)]
    models: Option<String>,
    /// Comma-separated methods.
    #[arg(long, value_delimiter = ',', default_value = "static,set,rigl")]
    methods: Vec<String>,
    /// Comma-separated sparsities.
    #[arg(long, value_delimiter = ',', default_value = "0.9,0.95,0.98")]
    sparsities: Vec<f64>,
    /// Comma-separated distributions (default: the query's).
    #[arg(long, value_delimiter = ',')]
    dists: Vec<String>,
    /// Big-Sparse: train this model dense, and every other model of --models at the sparsity
    /// that holds its parameter count (instead of --sparsities).
    #[arg(long)]
    match_params: Option<String>,
    #[command(flatten)]
    grid: GridArgs,
}

#[derive(clap::Args)]
pub struct SweepArgs {
    /// Base configuration (query string or share URL): the method, model, sparsity, ...
    #[arg(default_value = "")]
    query: String,
    /// Comma-separated mask-update periods ΔT.
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,200,500")]
    dt: Vec<usize>,
    /// Comma-separated initial drop fractions α.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.3,0.5")]
    alpha: Vec<f64>,
    #[command(flatten)]
    grid: GridArgs,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// CSV files written by `compare --csv` or `sweep --csv` (the shards of one grid).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also write the merged rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Draw the merged results as SVG here.
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn usage(e: String) -> CliError {
    CliError::Usage(e)
}

/// Trains the shard of `runs` that `args` asks for; prints the table; writes CSV and plot.
fn run_grid(
    kind: GridKind,
    base: &crate::config::Config,
    runs: Vec<Planned>,
    args: &GridArgs,
) -> Result<(), CliError> {
    if args.seeds == 0 {
        return Err(usage("--seeds must be at least 1".into()));
    }
    for p in &runs {
        if let Some(e) = p.config.validate().first() {
            return Err(usage(format!("{}: {e}", p.config.to_query())));
        }
    }
    let of = runs.len();
    let runs = match &args.shard {
        Some(s) => {
            let (i, n) = parse_shard(s).map_err(usage)?;
            let part = shard(runs, i, n);
            eprintln!("shard {i}/{n}: {} of the grid's {of} runs", part.len());
            part
        }
        None => runs,
    };
    let rows = run_all(
        kind,
        base,
        &runs,
        of,
        &args.data,
        args.backend,
        args.csv.as_deref(),
    )?;
    finish(&rows, args.csv.as_deref(), args.plot.as_deref())
}

/// Prints the table of `rows` (made from their CSV form, as `merge` makes it from files).
fn finish(
    rows: &[Row],
    csv: Option<&std::path::Path>,
    plot: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let text = to_csv(rows);
    let rows = from_csv("the results", &text).map_err(CliError::Failed)?;
    println!("{}", table(&rows));
    if let Some(path) = csv {
        write_file(path, &text)?;
    }
    if let Some(path) = plot {
        match rows.first().map(|r| r.kind) {
            Some(GridKind::Sweep) => plot_sweep(path, &rows)?,
            _ => plot_compare(path, &rows)?,
        }
    }
    Ok(())
}

pub fn run_compare(args: CompareArgs) -> Result<(), CliError> {
    let base = parse_config(&args.query)?;
    let methods = args
        .methods
        .iter()
        .map(|m| Method::from_name(m).ok_or_else(|| usage(format!("unknown method '{m}'"))))
        .collect::<Result<Vec<_>, _>>()?;
    let dists = if args.dists.is_empty() {
        vec![base.dist]
    } else {
        args.dists
            .iter()
            .map(|d| {
                Distribution::from_name(d)
                    .ok_or_else(|| usage(format!("unknown distribution '{d}'")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if let Some(s) = args.sparsities.iter().find(|s| !(0.0..=0.999).contains(*s)) {
        return Err(usage(format!("sparsity {s} is outside [0, 0.999]")));
    }
    let mut models = match &args.models {
        Some(m) => parse_models(m).map_err(usage)?,
        None => vec![base.model.clone()],
    };
    let match_params = match &args.match_params {
        Some(m) => {
            let r = ModelSpec::parse(m).map_err(|e| usage(format!("--match-params: {e}")))?;
            if !models.contains(&r) {
                models.insert(0, r.clone());
            }
            Some(r)
        }
        None => None,
    };
    let grid = CompareGrid {
        models,
        methods,
        dists,
        sparsities: args.sparsities.clone(),
        seeds: args.grid.seeds,
        match_params,
    };
    run_grid(GridKind::Compare, &base, grid.runs(&base), &args.grid)
}

pub fn run_sweep(args: SweepArgs) -> Result<(), CliError> {
    let base = parse_config(&args.query)?;
    if !base.method.is_dynamic() {
        return Err(usage(format!(
            "method={} has no mask updates to sweep: use rigl, set or snfs",
            base.method.name()
        )));
    }
    let grid = SweepGrid {
        dts: args.dt.clone(),
        alphas: args.alpha.clone(),
        seeds: args.grid.seeds,
    };
    run_grid(GridKind::Sweep, &base, grid.runs(&base), &args.grid)
}

pub fn run_merge(args: MergeArgs) -> Result<(), CliError> {
    let mut rows: Vec<Row> = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| CliError::Failed(format!("{name}: {e}")))?;
        let part = from_csv(&name, &text).map_err(CliError::Failed)?;
        if let (Some(a), Some(b)) = (rows.first(), part.first())
            && (a.kind, &a.base, a.of) != (b.kind, &b.base, b.of)
        {
            return Err(CliError::Failed(format!(
                "{name} holds another grid ({} of {} runs on {}) than the files before it ({} of {} runs on {})",
                b.kind.name(),
                b.of,
                b.base,
                a.kind.name(),
                a.of,
                a.base
            )));
        }
        for r in part {
            if rows.iter().any(|x| x.index == r.index) {
                return Err(CliError::Failed(format!(
                    "{name}: run {} is also in an earlier file",
                    r.index + 1
                )));
            }
            rows.push(r);
        }
    }
    let Some(first) = rows.first() else {
        return Err(CliError::Failed("the files hold no run".into()));
    };
    if rows.len() < first.of {
        let missing: Vec<String> = (0..first.of)
            .filter(|i| !rows.iter().any(|r| r.index == *i))
            .map(|i| (i + 1).to_string())
            .collect();
        eprintln!(
            "note: {} of the grid's {} runs are missing (runs {}): the table shows the others",
            missing.len(),
            first.of,
            missing.join(", ")
        );
    }
    rows.sort_by_key(|r| r.index);
    finish(&rows, args.csv.as_deref(), args.plot.as_deref())
}
