//! `riglab bench`: training speed of the CPU backend, dense vs sparse. A benchmark: it
//! prints figures and asserts nothing.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::CliError;
use crate::backend::block_on;
use crate::config::Config;
use crate::data::Dataset;
use crate::model::ModelSpec;
use crate::sparse::Method;
use crate::train::{Trainer, data_shape};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Timed steps per configuration (after warm-up).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Backend (only cpu for now).
    #[arg(long, default_value = "cpu")]
    backend: String,
}

/// Random images: speed does not depend on pixel values.
fn random_data(config: &Config, n: usize, rng: &mut Pcg64) -> Dataset {
    let (shape, classes) = data_shape(config.data);
    let images = (0..n * shape.len()).map(|_| rng.random()).collect();
    let labels = (0..n).map(|i| (i % classes) as u8).collect();
    Dataset::new(shape, classes, images, labels).expect("consistent data")
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    if args.backend != "cpu" {
        return Err(CliError::Usage(format!(
            "backend '{}' is not available in bench yet (cpu)",
            args.backend
        )));
    }
    if args.steps == 0 || args.batch == 0 {
        return Err(CliError::Usage(
            "--steps and --batch must be at least 1".into(),
        ));
    }
    println!(
        "riglab bench: CPU backend, batch {}, {} rayon threads, {} timed steps",
        args.batch,
        rayon::current_num_threads(),
        args.steps
    );
    println!("| model | method | sparsity | steps/s | ms/step | update step ms | mask update ms |");
    println!("|---|---|---|---|---|---|---|");
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
                // Updates at 0 and steps + 1 (timed separately below), none in between.
                steps: steps + 10,
                dt: steps + 1,
                tend: 1.0,
                eval_every: 1_000_000,
                ..Config::default()
            };
            let data = random_data(&config, 4 * args.batch, &mut rng);
            let mut trainer =
                Trainer::cpu(&config, data.clone(), data).map_err(CliError::Failed)?;
            let mut events = Vec::new();
            block_on(trainer.step(&mut events)); // step 0: a mask update for RigL; warms caches
            let t0 = Instant::now();
            for _ in 0..steps {
                block_on(trainer.step(&mut events));
                events.clear();
            }
            let per_step = t0.elapsed().as_secs_f64() / steps as f64;
            // An update step (dense gradient + drop/grow for all layers), then the update alone
            // (median of 7).
            let (update_ms, mask_ms) = if method == Method::Rigl {
                let t1 = Instant::now();
                block_on(trainer.step(&mut events));
                let update = t1.elapsed().as_secs_f64() * 1e3;
                (
                    format!("{update:.2}"),
                    format!("{:.2}", block_on(trainer.time_mask_update(7)) * 1e3),
                )
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "| {model} | {} | {sparsity} | {:.1} | {:.2} | {update_ms} | {mask_ms} |",
                method.name(),
                1.0 / per_step,
                per_step * 1e3
            );
        }
    }
    Ok(())
}
