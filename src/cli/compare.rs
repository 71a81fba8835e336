//! `riglab compare`: a grid of methods x distributions x sparsities x seeds.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::train::train_to_end;
use super::{BackendKind, CliError, DataDir, parse_config};
use crate::sparse::{Distribution, Method};

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Base configuration (query string or share URL); the grid overrides its fields.
    #[arg(default_value = "")]
    query: String,
    /// Comma-separated methods.
    #[arg(long, value_delimiter = ',', default_value = "static,set,rigl")]
    methods: Vec<String>,
    /// Comma-separated sparsities.
    #[arg(long, value_delimiter = ',', default_value = "0.9,0.95,0.98")]
    sparsities: Vec<f64>,
    /// Comma-separated distributions (default: the query's).
    #[arg(long, value_delimiter = ',')]
    dists: Vec<String>,
    /// Seeds per cell: seed, seed+1, ...
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Also write every run as a CSV row to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    #[command(flatten)]
    data: DataDir,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

pub fn run(args: CompareArgs) -> Result<(), CliError> {
    let base = parse_config(&args.query)?;
    let methods = args
        .methods
        .iter()
        .map(|m| {
            Method::from_name(m).ok_or_else(|| CliError::Usage(format!("unknown method '{m}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dists = if args.dists.is_empty() {
        vec![base.dist]
    } else {
        args.dists
            .iter()
            .map(|d| {
                Distribution::from_name(d)
                    .ok_or_else(|| CliError::Usage(format!("unknown distribution '{d}'")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if let Some(s) = args.sparsities.iter().find(|s| !(0.0..=0.999).contains(*s)) {
        return Err(CliError::Usage(format!(
            "sparsity {s} is outside [0, 0.999]"
        )));
    }
    if args.seeds == 0 {
        return Err(CliError::Usage("--seeds must be at least 1".into()));
    }
    let (train, test) = args.data.load(&base)?;
    let mut csv = String::from(
        "method,dist,sparsity,seed,test_accuracy,test_loss,train_flops_fraction,inference_flops_fraction,wall_s\n",
    );
    let mut table = format!(
        "{}\n\n| method | dist | sparsity | test accuracy (mean ± std, {} seeds) | train FLOPs / dense | inference FLOPs / dense |\n|---|---|---|---|---|---|\n",
        base.to_query(),
        args.seeds
    );
    let mut cells = Vec::new();
    for &dist in &dists {
        for &sparsity in &args.sparsities {
            for &method in &methods {
                // Dense ignores distribution and sparsity: run it once.
                if method == Method::Dense && cells.iter().any(|&(m, _, _)| m == Method::Dense) {
                    continue;
                }
                cells.push((method, dist, sparsity));
            }
        }
    }
    let total = cells.len() as u64 * args.seeds;
    let mut done = 0;
    for (method, dist, sparsity) in cells {
        let mut accs = Vec::new();
        let mut train_frac = 0.0;
        let mut inf_frac = 0.0;
        for s in 0..args.seeds {
            let mut c = base.clone();
            (c.method, c.dist, c.sparsity, c.seed) = (method, dist, sparsity, base.seed + s);
            done += 1;
            eprintln!("[{done}/{total}] {}", c.to_query());
            let r = train_to_end(
                &c,
                train.clone(),
                test.clone(),
                BackendKind::Cpu,
                |_| {},
                |_| {},
            )?;
            accs.push(r.eval.test_accuracy);
            (train_frac, inf_frac) = (r.train_flops_fraction, r.inference_flops_fraction);
            let _ = writeln!(
                csv,
                "{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.1}",
                method.name(),
                dist.name(),
                sparsity,
                c.seed,
                r.eval.test_accuracy,
                r.eval.test_loss,
                r.train_flops_fraction,
                r.inference_flops_fraction,
                r.wall_s
            );
        }
        let (m, sd) = mean_std(&accs);
        let (dist_s, sp_s) = if method == Method::Dense {
            ("-".to_string(), "0".to_string())
        } else {
            (dist.name().to_string(), sparsity.to_string())
        };
        let _ = writeln!(
            table,
            "| {} | {dist_s} | {sp_s} | {:.2} ± {:.2} | {train_frac:.3} | {inf_frac:.3} |",
            method.name(),
            100.0 * m,
            100.0 * sd
        );
    }
    println!("{table}");
    if let Some(path) = args.csv {
        std::fs::write(&path, csv)
            .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
