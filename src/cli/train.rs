//! `riglab train`: one run, with a progress bar on a terminal or JSON lines.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{BackendKind, CliError, DataDir, gpu_error, parse_config};
use crate::backend::{Backend, block_on};
use crate::config::Config;
use crate::data::Dataset;
use crate::train::{EvalMetrics, Event, Trainer, plan};

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
    #[command(flatten)]
    data: DataDir,
}

/// The end of a run.
pub struct Summary {
    pub eval: EvalMetrics,
    pub train_flops_fraction: f64,
    pub inference_flops_fraction: f64,
    pub wall_s: f64,
}

/// Trains to the end on `backend`, calling `on_event` first with the backend's description,
/// then for every event.
pub fn train_to_end(
    config: &Config,
    train: Dataset,
    test: Dataset,
    backend: BackendKind,
    on_backend: impl FnOnce(&str),
    on_event: impl FnMut(&Event),
) -> Result<Summary, CliError> {
    let started = Instant::now();
    match backend {
        BackendKind::Cpu => {
            let t = Trainer::cpu(config, train, test).map_err(CliError::Usage)?;
            on_backend(&t.backend.describe());
            run_to_end(t, config, started, on_event)
        }
        BackendKind::Gpu => {
            let t = block_on(Trainer::gpu(config, train, test, None)).map_err(gpu_error)?;
            on_backend(&t.backend.describe());
            run_to_end(t, config, started, on_event)
        }
    }
}

fn run_to_end<B: Backend>(
    mut trainer: Trainer<B>,
    config: &Config,
    started: Instant,
    mut on_event: impl FnMut(&Event),
) -> Result<Summary, CliError> {
    let mut events = Vec::new();
    let mut last_eval = None;
    while !trainer.done() {
        block_on(trainer.step(&mut events));
        for e in events.drain(..) {
            if let Event::Eval(m) = &e {
                last_eval = Some(m.clone());
            }
            on_event(&e);
        }
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
    })
}

pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let config = parse_config(&args.query)?;
    let (train, test) = args.data.load(&config)?;
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
    let summary = train_to_end(&config, train, test, args.backend, on_backend, |e| {
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
    let steps_per_s = config.steps as f64 / summary.wall_s;
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
