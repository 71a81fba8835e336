//! `riglab plan`: what a configuration means, without training.

use super::{CliError, parse_config};
use crate::train::plan;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// Configuration: a query string (`method=rigl&sparsity=0.9`) or a share URL.
    #[arg(default_value = "")]
    query: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PlanArgs) -> Result<(), CliError> {
    let config = parse_config(&args.query)?;
    let p = plan(&config);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&p).expect("plan serialises")
        );
        return Ok(());
    }
    println!("{}", p.config);
    println!(
        "{:<8} {:>22} {:>9} {:>10} {:>14}",
        "layer", "shape", "density", "active", "fwd FLOPs"
    );
    for l in &p.layers {
        let shape: Vec<String> = l.shape.iter().map(|d| d.to_string()).collect();
        println!(
            "{:<8} {:>22} {:>9.4} {:>10} {:>14.0}",
            l.name,
            shape.join("x"),
            l.density,
            l.active,
            l.flops_fwd
        );
    }
    let t = &p.totals;
    println!(
        "{:<8} {:>22} {:>9.4} {:>10} {:>14.0}",
        "total", t.params, t.density, t.active, t.flops_fwd_sparse
    );
    println!(
        "realised: {} of {} weights active, global density {:.4} (forced-dense layers count in full)",
        t.active, t.params, t.density
    );
    println!(
        "inference FLOPs/sample {:.3e} ({:.3} of dense {:.3e}); training FLOPs/sample {:.3e} ({:.3} of dense)",
        t.flops_fwd_sparse,
        t.flops_fwd_sparse / t.flops_fwd_dense,
        t.flops_fwd_dense,
        t.flops_train_per_sample,
        t.flops_train_fraction
    );
    Ok(())
}
