//! `riglab landscape` and `riglab escape`: the loss-landscape numbers behind the page's views.

use std::fmt::Write as _;
use std::path::PathBuf;

use indicatif::ProgressBar;

use super::{BackendKind, CliError, DataDir, parse_config, trainer};
use crate::backend::{AnyBackend, Backend, block_on};
use crate::landscape::compute::{MapProgress, PlaneSpec, line, plane, trajectory_map};
use crate::landscape::trajectory::{TRAJECTORY_LIMIT, Trajectory};
use crate::sparse::Method;
use crate::train::escape::escape;
use crate::train::record::train_recording;
use crate::train::{Setup, Trainer};

#[derive(clap::Args)]
pub struct LandscapeArgs {
    /// Configuration (query string or share URL) of the run to look at.
    #[arg(default_value = "")]
    query: String,
    /// `interp`: the line from snapshot A to the end of the run; `plane`: a 2D slice around it.
    #[arg(long, default_value = "interp")]
    mode: String,
    /// The plane of `--mode plane` (implied by this flag): `random` (two filter-normalised
    /// random directions around the end of the run) or `pca` (the first two principal
    /// components of the run's trajectory, with the trajectory projected onto it).
    #[arg(long)]
    plane: Option<String>,
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
    /// With `--plane pca`: also write the grid, the projected trajectory and the explained
    /// variance as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Compute backend of the training and of the landscape.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
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
    /// Print JSON (with both loss curves, and the map unless --grid 0) instead of a summary.
    #[arg(long)]
    json: bool,
    /// Grid size (per side) of the loss map on the PCA plane of both continuations' paths
    /// (0: no map).
    #[arg(long, default_value_t = crate::train::escape::ESCAPE_MAP_GRID)]
    grid: usize,
    /// Write the map (grid losses, both paths, explained variance) as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    #[command(flatten)]
    data: DataDir,
}

/// Trains `config` on `backend`, recording its trajectory.
fn train(
    config: &crate::config::Config,
    data: &DataDir,
    backend: BackendKind,
) -> Result<(Trainer<AnyBackend>, Trajectory), CliError> {
    let (train, test) = data.load(config)?;
    let setup = Setup::new(config).map_err(CliError::Usage)?;
    let start = setup.initial_point();
    let mut t = trainer(backend, config, train, test, None)?;
    let mut trajectory = Trajectory::new(start, TRAJECTORY_LIMIT, None);
    let bar = ProgressBar::new(config.steps as u64);
    train_recording(&mut t, &mut trajectory, |_| bar.inc(1));
    bar.finish_and_clear();
    Ok((t, trajectory))
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
    let mode = match (args.mode.as_str(), args.plane.as_deref()) {
        (m, None) => m.to_string(),
        ("interp" | "plane", Some(p @ ("random" | "pca"))) => format!("plane-{p}"),
        (_, Some(p)) => {
            return Err(CliError::Usage(format!(
                "--plane {p}: random or pca (with --mode plane)"
            )));
        }
    };
    if args.json.is_some() && mode != "plane-pca" {
        return Err(CliError::Usage("--json goes with --plane pca".into()));
    }
    eprintln!("training {}", config.to_query_full());
    let (mut run, trajectory) = train(&config, &args.data, args.backend)?;
    eprintln!("on {}", run.backend.describe());
    let b_point = block_on(run.backend.read_point());
    let b_masks = run.masks.clone();
    let bar = ProgressBar::new(0);
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let mut out = String::new();
    match mode.as_str() {
        "interp" => {
            let (a_point, a_masks) = if args.from == "init" {
                let s = Setup::new(&config).map_err(CliError::Usage)?;
                (s.initial_point(), s.masks)
            } else {
                let m = Method::from_name(&args.from).ok_or_else(|| {
                    CliError::Usage(format!("--from {}: not init or a method", args.from))
                })?;
                let mut c = config.clone();
                c.method = m;
                eprintln!("training snapshot A: {}", c.to_query_full());
                let (mut a, _) = train(&c, &args.data, args.backend)?;
                (block_on(a.backend.read_point()), a.masks.clone())
            };
            let rows = block_on(line(
                &mut run.backend,
                (&a_point, &a_masks),
                (&b_point, &b_masks),
                args.points,
                args.samples,
                async |rows, total| progress(rows.len(), total),
            ));
            out.push_str("c,loss_mask_a,loss_mask_b,loss_union\n");
            for r in rows {
                let _ = writeln!(
                    out,
                    "{},{:.6},{:.6},{:.6}",
                    r.c, r.mask_a, r.mask_b, r.union
                );
            }
        }
        "plane-pca" => {
            let path = trajectory.path_to(run.step, &b_point);
            let map = block_on(trajectory_map(
                &mut run.backend,
                &[("trajectory".to_string(), path)],
                &b_point,
                args.grid,
                args.samples,
                async |p| {
                    if let MapProgress::Grid(_, done, total) = p {
                        progress(done, total)
                    }
                },
            ))
            .map_err(CliError::Failed)?;
            eprintln!(
                "trajectory plane: {} snapshots; the two components explain {:.1}% and {:.1}% of the movement",
                map.paths[0].points.len(),
                100.0 * map.explained[0],
                100.0 * map.explained[1]
            );
            if let Some(path) = &args.json {
                let json = serde_json::to_string(&map).expect("the map serialises");
                write_out(&Some(path.clone()), &json)?;
            }
            out = map.csv();
        }
        "plane" | "plane-random" => {
            let spec = PlaneSpec {
                grid: args.grid,
                span: args.span,
                samples: args.samples,
                dense_directions: args.dense_directions,
                seed: crate::landscape::direction_seed(config.seed, run.step),
            };
            let p = block_on(plane(
                &mut run.backend,
                &b_point,
                &b_masks,
                spec,
                async |p, total| progress(p.losses.len(), total),
            ));
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
    if args.grid == 1 || args.grid > 101 || (args.grid == 0 && args.csv.is_some()) {
        return Err(CliError::Usage(
            "--grid in [2, 101] (0: no map, then no --csv)".into(),
        ));
    }
    let grid = (args.grid > 0).then_some(args.grid);
    let e = escape(&config, train, test, args.more, grid).map_err(CliError::Usage)?;
    if let (Some(map), Some(_)) = (&e.map, &args.csv) {
        write_out(&args.csv, &map.csv())?;
    }
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
        if let Some(map) = &e.map {
            println!(
                "on the PCA plane of both paths (about the Static solution; {:.1}% and {:.1}% of their movement): {}",
                100.0 * map.explained[0],
                100.0 * map.explained[1],
                map.paths
                    .iter()
                    .map(|p| {
                        let end = p.points.last().map_or((0.0, 0.0), |q| (q.x, q.y));
                        format!("{} ends at ({:.2}, {:.2})", p.name, end.0, end.1)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}
