//! `riglab train`: one run, with a progress bar on a terminal or JSON lines.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{BackendKind, CliError, DataDir, parse_config, trainer};
use crate::backend::{AnyBackend, Backend, block_on};
use crate::checkpoint;
use crate::config::Config;
use crate::data::Dataset;
use crate::train::state::RunState;
use crate::train::{Divergence, EvalMetrics, Event, Trainer, plan};

impl RunOptions {
    fn checkpoint_every_is_zero(&self) -> bool {
        matches!(self.checkpoint, Some((_, Some(0))))
    }
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Configuration: a query string (`method=rigl&sparsity=0.9`) or a share URL.
    #[arg(default_value = "")]
    query: String,
    /// Print JSON lines (steps, evaluations, mask updates as counts, a summary).
    #[arg(long)]
    json: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
    /// Write a checkpoint (safetensors) here at the end, and every --checkpoint-every steps;
    /// `{step}` in the path is replaced by the step.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (with --checkpoint).
    #[arg(long, requires = "checkpoint")]
    checkpoint_every: Option<usize>,
    /// Go on from this checkpoint (its configuration; no query then).
    #[arg(long, conflicts_with = "query")]
    resume: Option<PathBuf>,
    /// With --resume: train to this many steps in all instead of the checkpoint's own.
    #[arg(long, requires = "resume")]
    steps: Option<usize>,
    #[command(flatten)]
    data: DataDir,
}

/// The end of a run.
pub struct Summary {
    pub eval: EvalMetrics,
    pub train_flops_fraction: f64,
    pub inference_flops_fraction: f64,
    pub wall_s: f64,
    /// Steps trained in this process (fewer than the run's when it resumed).
    pub steps: usize,
    /// Where the run diverged, when it did (it stopped there).
    pub diverged: Option<Divergence>,
}

/// How a run starts, where it trains and what it leaves behind.
#[derive(Default)]
pub struct RunOptions {
    pub backend: BackendKind,
    /// Go on from this state instead of starting.
    pub resume: Option<RunState>,
    /// Checkpoints: the path (`{step}` replaced) and the steps between them (None: only at
    /// the end).
    pub checkpoint: Option<(PathBuf, Option<usize>)>,
}

/// The path of the checkpoint at `step`.
fn checkpoint_path(pattern: &Path, step: usize) -> PathBuf {
    PathBuf::from(
        pattern
            .to_string_lossy()
            .replace("{step}", &step.to_string()),
    )
}

/// Writes the run's state to `path` (to a neighbour first, then renamed: a crash never
/// leaves half a file).
fn write_checkpoint(
    t: &mut Trainer<AnyBackend>,
    config: &Config,
    path: &Path,
    events: &mut Vec<Event>,
) -> Result<(), CliError> {
    let state = block_on(t.snapshot(config, events));
    let bytes = checkpoint::to_bytes(&state).map_err(CliError::Failed)?;
    let tmp = path.with_extension("partial");
    let fail = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

/// Trains to the end, calling `on_backend` first with the backend's description, then
/// `on_event` for every event.
pub fn train_to_end(
    config: &Config,
    train: Dataset,
    test: Dataset,
    opts: &RunOptions,
    on_backend: impl FnOnce(&str),
    mut on_event: impl FnMut(&Event),
) -> Result<Summary, CliError> {
    let started = Instant::now();
    let mut trainer = trainer(opts.backend, config, train, test, opts.resume.as_ref())?;
    on_backend(&trainer.backend.describe());
    let first = trainer.step;
    let mut events = Vec::new();
    let mut last_eval = None;
    let mut emit = |events: &mut Vec<Event>, last: &mut Option<EvalMetrics>| {
        for e in events.drain(..) {
            if let Event::Eval(m) = &e {
                *last = Some(m.clone());
            }
            on_event(&e);
        }
    };
    while !trainer.done() {
        block_on(trainer.step(&mut events));
        if let Some((path, Some(every))) = &opts.checkpoint
            && trainer.step.is_multiple_of(*every)
            && !trainer.done()
        {
            let p = checkpoint_path(path, trainer.step);
            write_checkpoint(&mut trainer, config, &p, &mut events)?;
        }
        emit(&mut events, &mut last_eval);
    }
    block_on(trainer.wait_for_losses(&mut events));
    emit(&mut events, &mut last_eval);
    if let Some((path, _)) = &opts.checkpoint {
        let p = checkpoint_path(path, trainer.step);
        write_checkpoint(&mut trainer, config, &p, &mut events)?;
        eprintln!("wrote {}", p.display());
    }
    let f_dense = plan(config).totals.flops_fwd_dense;
    Ok(Summary {
        eval: match last_eval {
            Some(e) => e,
            None => block_on(trainer.evaluate()),
        },
        train_flops_fraction: trainer.train_flops().1,
        inference_flops_fraction: trainer.inference_flops() / f_dense,
        wall_s: started.elapsed().as_secs_f64(),
        steps: trainer.step - first,
        diverged: trainer.diverged().cloned(),
    })
}

pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let (config, resume) = match &args.resume {
        Some(path) => {
            let name = path.display();
            let bytes =
                std::fs::read(path).map_err(|e| CliError::Failed(format!("{name}: {e}")))?;
            let state = checkpoint::from_bytes(&bytes)
                .map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
            let config = state
                .config(args.steps)
                .map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
            if state.step >= config.steps {
                return Err(CliError::Usage(format!(
                    "{name} is at step {} of {}: nothing to train (--steps sets a longer run)",
                    state.step, config.steps
                )));
            }
            eprintln!("resuming from {name} at step {}", state.step);
            (config, Some(state))
        }
        None => (parse_config(&args.query)?, None),
    };
    let (train, test) = args.data.load(&config)?;
    let opts = RunOptions {
        backend: args.backend,
        resume,
        checkpoint: args.checkpoint.clone().map(|p| (p, args.checkpoint_every)),
    };
    if opts.checkpoint_every_is_zero() {
        return Err(CliError::Usage(
            "--checkpoint-every must be at least 1".into(),
        ));
    }
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(config.steps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {per_sec} {msg}")
            .expect("valid template"),
    );
    let mut last_loss = f64::NAN;
    let on_backend = |name: &str| {
        if !args.json {
            eprintln!("training {} on {name}", config.to_query_full());
        }
    };
    let summary = train_to_end(&config, train, test, &opts, on_backend, |e| {
        if args.json {
            let line = match e {
                Event::MaskUpdate(m) => json!({
                    "type": "mask_update", "step": m.step, "layer": m.layer, "layer_name": m.layer_name,
                    "dropped": m.dropped.len(), "grown": m.grown.len(), "k": m.k, "drop_fraction": m.drop_fraction,
                    "active": m.active,
                }),
                other => serde_json::to_value(other).expect("events serialise"),
            };
            println!("{line}");
            return;
        }
        match e {
            Event::Step(s) => {
                last_loss = s.loss;
                bar.inc(1);
                if s.step % 10 == 0 {
                    bar.set_message(format!("loss {last_loss:.4}"));
                }
            }
            Event::Eval(m) => {
                let line = format!(
                    "step {:>6}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}%",
                    m.step,
                    m.train_loss,
                    100.0 * m.train_accuracy,
                    m.test_loss,
                    100.0 * m.test_accuracy
                );
                if bar.is_hidden() {
                    eprintln!("{line}")
                } else {
                    bar.println(line)
                }
            }
            Event::MaskUpdate(_) => {}
        }
    })?;
    bar.finish_and_clear();
    if let Some(d) = &summary.diverged {
        let message = d.message(config.lr, config.momentum);
        if args.json {
            println!(
                "{}",
                json!({"type": "diverged", "step": d.step, "loss": d.loss, "first_loss": d.first_loss, "message": message})
            );
        }
        return Err(CliError::Diverged(message));
    }
    let steps_per_s = summary.steps as f64 / summary.wall_s;
    if args.json {
        println!(
            "{}",
            json!({
                "type": "summary", "config": config.to_query_full(),
                "test_accuracy": summary.eval.test_accuracy, "test_loss": summary.eval.test_loss,
                "train_accuracy": summary.eval.train_accuracy, "train_loss": summary.eval.train_loss,
                "train_flops_fraction": summary.train_flops_fraction,
                "inference_flops_fraction": summary.inference_flops_fraction,
                "wall_s": summary.wall_s, "steps_per_s": steps_per_s,
            })
        );
    } else {
        println!(
            "test accuracy {:.2}% (loss {:.4}); training FLOPs {:.3} of dense, inference {:.3}; {:.1} s, {:.0} steps/s",
            100.0 * summary.eval.test_accuracy,
            summary.eval.test_loss,
            summary.train_flops_fraction,
            summary.inference_flops_fraction,
            summary.wall_s,
            steps_per_s
        );
    }
    Ok(())
}
