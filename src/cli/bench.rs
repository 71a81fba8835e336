//! `riglab bench`: training speed of the CPU or GPU backend, dense vs sparse. A benchmark: it
//! prints figures and asserts nothing.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::{BackendKind, CliError, gpu_error};
use crate::backend::{Backend, block_on};
use crate::config::{Config, DataSet};
use crate::data::Dataset;
use crate::gpu::GpuContext;
use crate::model::ModelSpec;
use crate::sparse::{DropSchedule, Method};
use crate::train::Trainer;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Timed steps per configuration (after warm-up; a tenth of them for the CNN).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendKind,
    /// Which models to time.
    #[arg(long, value_enum, default_value = "all")]
    models: Models,
    /// GPU: also print the time of each kernel of a regular step.
    #[arg(long)]
    kernels: bool,
    /// One JSON object per line and configuration instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Models {
    All,
    Mlp,
    Cnn,
}

/// Random images: speed does not depend on pixel values.
fn random_data(config: &Config, n: usize, rng: &mut Pcg64) -> Dataset {
    let (shape, classes) = config.data.shape();
    let images = (0..n * shape.len()).map(|_| rng.random()).collect();
    let labels = (0..n).map(|i| (i % classes) as u8).collect();
    Dataset::new(shape, classes, images, labels).expect("consistent data")
}

/// Update steps timed per configuration (the median is printed).
const UPDATES: usize = 7;

/// Seconds of the first step (from creating the backend: a GPU compiles its pipelines), per
/// regular step, per update step, and of its mask update alone (medians).
struct Timing {
    first: f64,
    step: f64,
    update_step: Option<f64>,
    mask_update: Option<f64>,
}

/// Times `steps` regular steps, then `UPDATES` update steps (RigL: dense gradient, read-back
/// of weights and gradients where needed, drop and grow, new masks), each after a regular
/// step. Each timing ends when the backend has finished (a GPU runs steps asynchronously).
fn time_steps<B: Backend>(
    trainer: &mut Trainer<B>,
    created: Instant,
    steps: usize,
    update: bool,
) -> Timing {
    let mut events = Vec::new();
    // Step 0 (a mask update for RigL) and a few more: pipelines, caches, allocations warm up.
    block_on(trainer.step(&mut events));
    block_on(trainer.wait_for_losses(&mut events));
    let first = created.elapsed().as_secs_f64();
    for _ in 0..2 {
        block_on(trainer.step(&mut events));
    }
    block_on(trainer.wait_for_losses(&mut events));
    let t0 = Instant::now();
    for _ in 0..steps {
        block_on(trainer.step(&mut events));
        events.clear();
    }
    block_on(trainer.wait_for_losses(&mut events));
    let step = t0.elapsed().as_secs_f64() / steps as f64;
    if !update {
        return Timing {
            first,
            step,
            update_step: None,
            mask_update: None,
        };
    }
    let (mut update_steps, mut mask_updates) = (Vec::new(), Vec::new());
    for _ in 0..UPDATES {
        // A regular step first, so that the last update's grown weights have moved.
        block_on(trainer.step(&mut events));
        block_on(trainer.wait_for_losses(&mut events));
        let t1 = Instant::now();
        block_on(trainer.update_step(&mut events));
        block_on(trainer.wait_for_losses(&mut events));
        update_steps.push(t1.elapsed().as_secs_f64());
        mask_updates.push(trainer.last_mask_update_seconds().expect("a mask update"));
        events.clear();
    }
    Timing {
        first,
        step,
        update_step: Some(median(update_steps)),
        mask_update: Some(median(mask_updates)),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The time of each kernel of a regular step (sparse gradients, SGD), one line per model.
fn print_kernels(t: &Trainer<crate::gpu::GpuBackend>, config: &Config) {
    let o = crate::backend::StepOptions {
        lr: 0.0,
        momentum: 0.0,
        wd: 0.0,
        dense_grad: false,
        sgd: true,
        snfs_decay: None,
        augment: None,
    };
    let times = t.backend.time_step_dispatches(&o, 5);
    let total: f64 = times.iter().map(|(_, ms)| ms).sum();
    let list: Vec<String> = times
        .iter()
        .map(|(what, ms)| format!("{what} {ms:.2}"))
        .collect();
    println!(
        "  kernels of {} {} {} (ms, {total:.1} in all): {}",
        config.model,
        config.method.name(),
        config.sparsity,
        list.join(", ")
    );
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    if args.steps == 0 || args.batch == 0 {
        return Err(CliError::Usage(
            "--steps and --batch must be at least 1".into(),
        ));
    }
    let gpu = match args.backend {
        BackendKind::Cpu => None,
        BackendKind::Gpu => Some(block_on(GpuContext::new()).map_err(gpu_error)?),
    };
    let backend = match &gpu {
        Some(c) => format!("GPU backend ({})", c.describe()),
        None => format!(
            "CPU backend, {} rayon threads",
            rayon::current_num_threads()
        ),
    };
    let mode = if crate::cpu::fast::default_exact() {
        "exact"
    } else {
        "fast"
    };
    if !args.json {
        println!(
            "riglab bench: {backend} ({mode} mode), batch {}, {} timed steps (MLP), {} (CNN)",
            args.batch,
            args.steps,
            (args.steps / 10).max(5)
        );
        println!(
            "| model | data | method | sparsity | steps/s | ms/step | update step ms | mask update ms (host) | update share at dT=100 | first step s |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
    }
    let mut rng = Pcg64::seed_from_u64(0);
    let mlp = (ModelSpec::default(), DataSet::Mnist);
    let cnns = [
        (ModelSpec::default_cnn(), DataSet::Mnist),
        (ModelSpec::default_cnn(), DataSet::Cifar10),
    ];
    let models: Vec<(ModelSpec, DataSet)> = match args.models {
        Models::All => std::iter::once(mlp).chain(cnns).collect(),
        Models::Mlp => vec![mlp],
        Models::Cnn => cnns.to_vec(),
    };
    for (model, data_set) in models {
        let steps = if matches!(model, ModelSpec::Cnn { .. }) {
            (args.steps / 10).max(5)
        } else {
            args.steps
        };
        for (method, sparsity) in [
            (Method::Dense, 0.0),
            (Method::Rigl, 0.9),
            (Method::Rigl, 0.98),
        ] {
            // Warm-up, timed steps, then regular and update steps in turn.
            let total = 3 + steps + 2 * UPDATES + 1;
            let config = Config {
                data: data_set.clone(),
                model: model.clone(),
                method,
                sparsity,
                batch: args.batch,
                // The schedule's only update is at 0 (a warm-up step); the timed update steps
                // drop the fraction alpha (the largest, at the first update).
                steps: total,
                dt: total,
                tend: 1.0,
                drop_schedule: DropSchedule::Constant,
                eval_every: 1_000_000,
                ..Config::default()
            };
            let data = random_data(&config, 4 * args.batch, &mut rng);
            let update = method == Method::Rigl;
            let created = Instant::now();
            let t = match &gpu {
                None => {
                    let mut t =
                        Trainer::cpu(&config, data.clone(), data).map_err(CliError::Failed)?;
                    time_steps(&mut t, created, steps, update)
                }
                Some(ctx) => {
                    let mut t =
                        block_on(Trainer::gpu(&config, data.clone(), data, Some(ctx.clone())))
                            .map_err(gpu_error)?;
                    let timing = time_steps(&mut t, created, steps, update);
                    if args.kernels {
                        print_kernels(&t, &config);
                    }
                    timing
                }
            };
            let ms = |s: Option<f64>| s.map_or("-".into(), |s| format!("{:.2}", s * 1e3));
            // The extra time of one update step in a period of 100 steps.
            let share = t.update_step.map_or("-".into(), |u| {
                let extra = (u - t.step).max(0.0);
                format!("{:.1}%", 100.0 * extra / (100.0 * t.step + extra))
            });
            let (shape, _) = data_set.shape();
            let input = format!("{}x{}x{}", shape.height, shape.width, shape.channels);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "model": model.to_string(), "data": input, "data_set": data_set.name(),
                        "method": method.name(), "sparsity": sparsity, "dist": "erk",
                        "backend": if gpu.is_some() { "gpu" } else { "cpu" }, "mode": mode,
                        "threads": rayon::current_num_threads(), "batch": args.batch,
                        "steps_per_s": 1.0 / t.step, "ms_per_step": t.step * 1e3,
                        "update_step_ms": t.update_step.map(|s| s * 1e3),
                        "mask_update_ms": t.mask_update.map(|s| s * 1e3),
                        "first_step_s": t.first,
                    })
                );
            } else {
                println!(
                    "| {model} | {input} | {} | {sparsity} | {:.1} | {:.2} | {} | {} | {share} | {:.2} |",
                    method.name(),
                    1.0 / t.step,
                    t.step * 1e3,
                    ms(t.update_step),
                    ms(t.mask_update),
                    t.first,
                );
            }
        }
    }
    Ok(())
}
