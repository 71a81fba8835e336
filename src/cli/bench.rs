//! `riglab bench`: training speed of the CPU or GPU backend, dense vs sparse. A benchmark: it
//! prints figures and asserts nothing.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::{BackendKind, CliError, gpu_error};
use crate::backend::{Backend, block_on};
use crate::config::Config;
use crate::data::Dataset;
use crate::gpu::GpuContext;
use crate::model::ModelSpec;
use crate::sparse::Method;
use crate::train::{Trainer, data_shape};

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
}

/// Random images: speed does not depend on pixel values.
fn random_data(config: &Config, n: usize, rng: &mut Pcg64) -> Dataset {
    let (shape, classes) = data_shape(config.data);
    let images = (0..n * shape.len()).map(|_| rng.random()).collect();
    let labels = (0..n).map(|i| (i % classes) as u8).collect();
    Dataset::new(shape, classes, images, labels).expect("consistent data")
}

/// Seconds per regular step, per update step, and of the host's drop-and-grow alone.
struct Timing {
    step: f64,
    update_step: Option<f64>,
    mask_update: Option<f64>,
}

/// Times `steps` regular steps, then one update step (RigL: dense gradient, read-back of
/// weights and gradients, drop and grow, new masks). Each timing ends when the backend has
/// finished (a GPU runs steps asynchronously).
fn time_steps<B: Backend>(trainer: &mut Trainer<B>, steps: usize, update: bool) -> Timing {
    let mut events = Vec::new();
    // Step 0 (a mask update for RigL) and a few more: pipelines, caches, allocations warm up.
    for _ in 0..3 {
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
            step,
            update_step: None,
            mask_update: None,
        };
    }
    let t1 = Instant::now();
    block_on(trainer.step(&mut events));
    block_on(trainer.wait_for_losses(&mut events));
    Timing {
        step,
        update_step: Some(t1.elapsed().as_secs_f64()),
        mask_update: Some(block_on(trainer.time_mask_update(7))),
    }
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
    println!(
        "riglab bench: {backend}, batch {}, {} timed steps (MLP), {} (CNN)",
        args.batch,
        args.steps,
        (args.steps / 10).max(5)
    );
    println!(
        "| model | method | sparsity | steps/s | ms/step | update step ms | mask update ms (host) | update share at dT=100 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rng = Pcg64::seed_from_u64(0);
    for model in [ModelSpec::default(), ModelSpec::default_cnn()] {
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
            let config = Config {
                model: model.clone(),
                method,
                sparsity,
                batch: args.batch,
                // Updates at 0 and at the step after the timed ones (3 warm-up + steps).
                steps: steps + 20,
                dt: steps + 3,
                tend: 1.0,
                eval_every: 1_000_000,
                ..Config::default()
            };
            let data = random_data(&config, 4 * args.batch, &mut rng);
            let update = method == Method::Rigl;
            let t = match &gpu {
                None => {
                    let mut t =
                        Trainer::cpu(&config, data.clone(), data).map_err(CliError::Failed)?;
                    time_steps(&mut t, steps, update)
                }
                Some(ctx) => {
                    let mut t =
                        block_on(Trainer::gpu(&config, data.clone(), data, Some(ctx.clone())))
                            .map_err(gpu_error)?;
                    time_steps(&mut t, steps, update)
                }
            };
            let ms = |s: Option<f64>| s.map_or("-".into(), |s| format!("{:.2}", s * 1e3));
            // The extra time of one update step in a period of 100 steps.
            let share = t.update_step.map_or("-".into(), |u| {
                let extra = (u - t.step).max(0.0);
                format!("{:.1}%", 100.0 * extra / (100.0 * t.step + extra))
            });
            println!(
                "| {model} | {} | {sparsity} | {:.1} | {:.2} | {} | {} | {share} |",
                method.name(),
                1.0 / t.step,
                t.step * 1e3,
                ms(t.update_step),
                ms(t.mask_update),
            );
        }
    }
    Ok(())
}
