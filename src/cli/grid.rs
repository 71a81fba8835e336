//! Running a grid (`compare`, `sweep`), its CSV rows (written, and read back by `merge`) and
//! its SVG figures. What the grid holds and its tables: `experiment::grid`.

use std::path::Path;

use plotters::prelude::*;

use super::train::{RunOptions, train_to_end};
use super::{BackendKind, CliError, DataDir};
use crate::config::Config;
use crate::experiment::grid::{GridKind, Planned, Row, mean_std};
use crate::figures::{self, TradeoffPoint};

/// Trains `runs` (of a grid of `of` runs) one after the other, printing progress; a row each.
pub fn run_all(
    kind: GridKind,
    base: &Config,
    runs: &[Planned],
    of: usize,
    data: &DataDir,
    backend: BackendKind,
    csv: Option<&Path>,
) -> Result<Vec<Row>, CliError> {
    let (train, test) = data.load(base)?;
    // After every run the CSV holds the runs so far: a grid stopped part way keeps them
    // (`riglab merge` names the runs still missing).
    let keep = |rows: &[Row]| -> Result<(), CliError> {
        let Some(path) = csv else { return Ok(()) };
        let tmp = path.with_extension("csv.partial");
        std::fs::write(&tmp, to_csv(rows))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))
    };
    let mut rows = Vec::with_capacity(runs.len());
    for (done, p) in runs.iter().enumerate() {
        eprintln!(
            "[{}/{}] run {} of the grid: {}",
            done + 1,
            runs.len(),
            p.index + 1,
            p.config.to_query()
        );
        let opts = RunOptions {
            backend,
            ..RunOptions::default()
        };
        let r = train_to_end(
            &p.config,
            train.clone(),
            test.clone(),
            &opts,
            |_| {},
            |_| {},
        )?;
        let mut row = Row::of_run(kind, base, p, of);
        if let Some(d) = &r.diverged {
            eprintln!("  diverged at step {} (loss {})", d.step, d.loss);
            row.status = format!("diverged at step {}", d.step);
            row.wall_s = r.wall_s;
            rows.push(row);
            keep(&rows)?;
            continue;
        }
        row.status = "ok".into();
        row.test_accuracy = r.eval.test_accuracy;
        row.test_loss = r.eval.test_loss;
        row.train_flops_fraction = r.train_flops_fraction;
        row.inference_flops_fraction = r.inference_flops_fraction;
        row.wall_s = r.wall_s;
        rows.push(row);
        keep(&rows)?;
    }
    Ok(rows)
}

const HEADER: [&str; 17] = [
    "grid",
    "base",
    "run",
    "of",
    "model",
    "method",
    "dist",
    "sparsity",
    "dt",
    "alpha",
    "seed",
    "status",
    "test_accuracy",
    "test_loss",
    "train_flops_fraction",
    "inference_flops_fraction",
    "wall_s",
];

/// The rows as CSV (numbers at full precision: read back, they are the same numbers).
pub fn to_csv(rows: &[Row]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(HEADER);
    for r in rows {
        let _ = w.write_record([
            r.kind.name().to_string(),
            r.base.clone(),
            r.index.to_string(),
            r.of.to_string(),
            r.model.clone(),
            r.method.clone(),
            r.dist.clone(),
            r.sparsity.to_string(),
            r.dt.to_string(),
            r.alpha.to_string(),
            r.seed.to_string(),
            r.status.clone(),
            r.test_accuracy.to_string(),
            r.test_loss.to_string(),
            r.train_flops_fraction.to_string(),
            r.inference_flops_fraction.to_string(),
            r.wall_s.to_string(),
        ]);
    }
    String::from_utf8(w.into_inner().expect("a Vec never fails")).expect("UTF-8 fields")
}

/// Reads rows written by `to_csv`; an error names the file, the line and what is wrong.
pub fn from_csv(name: &str, text: &str) -> Result<Vec<Row>, String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r
        .headers()
        .map_err(|e| format!("{name}: {e}"))?
        .iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    if header != HEADER {
        return Err(format!(
            "{name}: not a riglab grid CSV (its header is not {})",
            HEADER.join(",")
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("{name}: line {line}: {e}"))?;
        let field = |k: usize| rec.get(k).unwrap_or("");
        fn num<T: std::str::FromStr>(
            name: &str,
            line: usize,
            col: &str,
            v: &str,
        ) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: line {line}: {col}={v} is not a number"))
        }
        let n = |k: usize| num::<f64>(name, line, HEADER[k], field(k));
        let u = |k: usize| num::<usize>(name, line, HEADER[k], field(k));
        rows.push(Row {
            kind: GridKind::from_name(field(0)).ok_or_else(|| {
                format!(
                    "{name}: line {line}: grid={} is not compare or sweep",
                    field(0)
                )
            })?,
            base: field(1).to_string(),
            index: u(2)?,
            of: u(3)?,
            model: field(4).to_string(),
            method: field(5).to_string(),
            dist: field(6).to_string(),
            sparsity: n(7)?,
            dt: u(8)?,
            alpha: n(9)?,
            seed: num(name, line, "seed", field(10))?,
            status: field(11).to_string(),
            test_accuracy: n(12)?,
            test_loss: n(13)?,
            train_flops_fraction: n(14)?,
            inference_flops_fraction: n(15)?,
            wall_s: n(16)?,
        });
    }
    Ok(rows)
}

pub fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

const METHOD_COLORS: [RGBColor; 7] = [
    RGBColor(0x44, 0x44, 0x44), // dense
    RGBColor(0x1b, 0x9e, 0x77), // static
    RGBColor(0xd9, 0x5f, 0x02), // set
    RGBColor(0x75, 0x70, 0xb3), // snfs
    RGBColor(0xe7, 0x29, 0x8a), // rigl
    RGBColor(0x66, 0xa6, 0x1e), // snip
    RGBColor(0xa6, 0x76, 0x1d), // prune
];

fn method_color(name: &str) -> RGBColor {
    let i = crate::sparse::Method::ALL
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or(0);
    METHOD_COLORS[i]
}

/// The paper's Figure 2 shape: each cell of a compare grid at (training FLOPs / dense, test
/// accuracy) with its spread over seeds, coloured by method, labelled with its sparsity (and
/// model, when there are several).
pub fn plot_compare(path: &Path, rows: &[Row]) -> Result<(), CliError> {
    let mut cells: Vec<(String, String, f64, Vec<&Row>)> = Vec::new();
    let mut sorted: Vec<&Row> = rows.iter().filter(|r| r.ok()).collect();
    sorted.sort_by_key(|r| r.index);
    for r in sorted {
        match cells
            .iter_mut()
            .find(|c| c.0 == r.model && c.1 == r.method && c.2 == r.sparsity)
        {
            Some(c) => c.3.push(r),
            None => cells.push((r.model.clone(), r.method.clone(), r.sparsity, vec![r])),
        }
    }
    if cells.is_empty() {
        return Err(CliError::Failed("no finished run to plot".into()));
    }
    let several_models = cells.iter().any(|c| c.0 != cells[0].0);
    let points: Vec<TradeoffPoint> = cells
        .iter()
        .map(|(model, method, s, rs)| {
            let (acc, sd) = mean_std(&rs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
            TradeoffPoint {
                label: if several_models {
                    format!("{model} {s}")
                } else {
                    s.to_string()
                },
                flops: mean_std(
                    &rs.iter()
                        .map(|r| r.train_flops_fraction)
                        .collect::<Vec<_>>(),
                )
                .0,
                accuracy: 100.0 * acc,
                spread: 100.0 * sd,
                color: method_color(method),
            }
        })
        .collect();
    let mut legend: Vec<(String, RGBColor)> = Vec::new();
    for (_, method, _, _) in &cells {
        if !legend.iter().any(|(m, _)| m == method) {
            legend.push((method.clone(), method_color(method)));
        }
    }
    let root = SVGBackend::new(path, (760, 520)).into_drawing_area();
    let title = "test accuracy vs training FLOPs (fraction of dense)";
    figures::tradeoff(&root, Some(title), &points, &legend, 14)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The ΔT x α map (the paper's Figure 5) of a sweep's finished runs.
pub fn plot_sweep(path: &Path, rows: &[Row]) -> Result<(), CliError> {
    let mut dts: Vec<usize> = rows.iter().map(|r| r.dt).collect();
    dts.sort_unstable();
    dts.dedup();
    let mut alphas: Vec<f64> = rows.iter().map(|r| r.alpha).collect();
    alphas.sort_by(f64::total_cmp);
    alphas.dedup();
    let value = |dt: usize, a: f64| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.ok() && r.dt == dt && r.alpha == a)
            .map(|r| 100.0 * r.test_accuracy)
            .collect();
        (!v.is_empty()).then(|| mean_std(&v).0)
    };
    if !rows.iter().any(Row::ok) {
        return Err(CliError::Failed("no finished run to plot".into()));
    }
    let root = SVGBackend::new(path, (640, 120 + 70 * dts.len() as u32)).into_drawing_area();
    let title = "test accuracy (%) by mask-update period ΔT and drop fraction α";
    figures::sweep_map(&root, Some(title), &dts, &alphas, value, 14)
        .map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
