//! `riglab landscape` and `riglab escape`: the loss-landscape numbers behind the page's views.

use std::fmt::Write as _;
use std::path::PathBuf;

use indicatif::ProgressBar;

use super::{CliError, DataDir, parse_config};
use crate::backend::block_on;
use crate::landscape::Point;
use crate::sparse::Method;
use crate::train::escape::escape;
use crate::train::landscape_run::{interpolate, plane};
use crate::train::{Event, Setup, Trainer};

#[derive(clap::Args)]
pub struct LandscapeArgs {
    /// Configuration (query string or share URL) of the run to look at.
    #[arg(default_value = "")]
    query: String,
    /// `interp`: the line from snapshot A to the end of the run; `plane`: a 2D slice around it.
    #[arg(long, default_value = "interp")]
    mode: String,
    /// Snapshot A for `interp`: `init` (the run's initial weights) or a method trained from
    /// the same initialisation (e.g. `static`).
    #[arg(long, default_value = "init")]
    from: String,
    /// Points along the line, from -0.2 to 1.2.
    #[arg(long, default_value_t = 29)]
    points: usize,
    /// Grid size (per side) for `plane`.
    #[arg(long, default_value_t = 21)]
    grid: usize,
    /// The plane spans [-span, span] times each direction.
    #[arg(long, default_value_t = 1.0)]
    span: f64,
    /// Training images the loss is measured on.
    #[arg(long, default_value_t = 512)]
    samples: usize,
    /// Random directions over every weight, not only the active ones.
    #[arg(long)]
    dense_directions: bool,
    /// Write the numbers as CSV here (else to standard output).
    #[arg(long)]
    csv: Option<PathBuf>,
    #[command(flatten)]
    data: DataDir,
}

#[derive(clap::Args)]
pub struct EscapeArgs {
    /// Static phase configuration (method is forced to static). Default: the page's preset.
    #[arg(default_value = crate::train::escape::ESCAPE_PRESET)]
    query: String,
    /// Steps of each continuation.
    #[arg(long, default_value_t = 1000)]
    more: usize,
    /// Print JSON (with both loss curves) instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataDir,
}

fn train(
    config: &crate::config::Config,
    data: &DataDir,
) -> Result<Trainer<crate::cpu::CpuBackend>, CliError> {
    let (train, test) = data.load(config)?;
    let mut t = Trainer::cpu(config, train, test).map_err(CliError::Usage)?;
    let bar = ProgressBar::new(config.steps as u64);
    let mut events: Vec<Event> = Vec::new();
    while !t.done() {
        block_on(t.step(&mut events));
        events.clear();
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(t)
}

fn write_out(csv: &Option<PathBuf>, text: &str) -> Result<(), CliError> {
    match csv {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub fn run_landscape(args: LandscapeArgs) -> Result<(), CliError> {
    let config = parse_config(&args.query)?;
    if args.points < 2
        || !(3..=101).contains(&args.grid)
        || args.samples == 0
        || args.span.is_nan()
        || args.span <= 0.0
    {
        return Err(CliError::Usage(
            "--points >= 2, --grid in [3, 101], --samples >= 1, --span > 0".into(),
        ));
    }
    eprintln!("training {}", config.to_query_full());
    let mut run = train(&config, &args.data)?;
    let b_point = run.backend.point();
    let b_masks = run.masks.clone();
    let bar = ProgressBar::new(0);
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let mut out = String::new();
    match args.mode.as_str() {
        "interp" => {
            let (a_point, a_masks) = if args.from == "init" {
                let s = Setup::new(&config).map_err(CliError::Usage)?;
                let biases = b_point.biases.iter().map(|b| vec![0.0; b.len()]).collect();
                (
                    Point {
                        weights: s.weights,
                        biases,
                    },
                    s.masks,
                )
            } else {
                let m = Method::from_name(&args.from).ok_or_else(|| {
                    CliError::Usage(format!("--from {}: not init or a method", args.from))
                })?;
                let mut c = config.clone();
                c.method = m;
                eprintln!("training snapshot A: {}", c.to_query_full());
                let a = train(&c, &args.data)?;
                (a.backend.point(), a.masks.clone())
            };
            let rows = interpolate(
                &mut run.backend,
                (&a_point, &a_masks),
                (&b_point, &b_masks),
                args.points,
                args.samples,
                progress,
            );
            out.push_str("c,loss_mask_a,loss_mask_b,loss_union\n");
            for r in rows {
                let _ = writeln!(
                    out,
                    "{},{:.6},{:.6},{:.6}",
                    r.c, r.mask_a, r.mask_b, r.union
                );
            }
        }
        "plane" => {
            let rows: Vec<usize> = run.layers.iter().map(|l| l.n_out).collect();
            let p = plane(
                &mut run.backend,
                &b_point,
                &b_masks,
                &rows,
                args.grid,
                args.span,
                args.samples,
                args.dense_directions,
                crate::landscape::direction_seed(config.seed, run.step),
                progress,
            );
            eprintln!(
                "loss at the centre (the trained parameters): {:.6}",
                p.center_loss
            );
            out.push_str("x,y,loss\n");
            for (r, row) in p.losses.iter().enumerate() {
                for (c, l) in row.iter().enumerate() {
                    let _ = writeln!(out, "{},{},{:.6}", p.coords[c], p.coords[r], l);
                }
            }
        }
        other => return Err(CliError::Usage(format!("--mode {other}: interp or plane"))),
    }
    bar.finish_and_clear();
    write_out(&args.csv, &out)
}

pub fn run_escape(args: EscapeArgs) -> Result<(), CliError> {
    let config = parse_config(&args.query)?;
    if args.more == 0 {
        return Err(CliError::Usage("--more must be at least 1".into()));
    }
    let (train, test) = args.data.load(&config)?;
    eprintln!(
        "static phase: {} steps, then {} more with Static and with RigL",
        config.steps, args.more
    );
    let e = escape(&config, train, test, args.more).map_err(CliError::Usage)?;
    if args.json {
        println!("{}", serde_json::to_string(&e).expect("escape serialises"));
    } else {
        println!("{}", e.summary());
        println!(
            "test accuracy: static {:.2}%, rigl {:.2}% ({} mask updates)",
            100.0 * e.static_run.test_accuracy,
            100.0 * e.rigl_run.test_accuracy,
            e.rigl_run.mask_updates
        );
    }
    Ok(())
}
