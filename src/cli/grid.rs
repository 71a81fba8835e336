//! Running a grid (`compare`, `sweep`), its CSV rows (written, and read back by `merge`) and
//! its SVG figures. What the grid holds and its tables: `experiment::grid`.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::train::train_to_end;
use super::{BackendKind, CliError, DataDir};
use crate::config::Config;
use crate::experiment::grid::{GridKind, Planned, Row, mean_std};

/// Trains `runs` (of a grid of `of` runs) one after the other, printing progress; a row each.
pub fn run_all(
    kind: GridKind,
    base: &Config,
    runs: &[Planned],
    of: usize,
    data: &DataDir,
    backend: BackendKind,
) -> Result<Vec<Row>, CliError> {
    let (train, test) = data.load(base)?;
    let mut rows = Vec::with_capacity(runs.len());
    for (done, p) in runs.iter().enumerate() {
        eprintln!(
            "[{}/{}] run {} of the grid: {}",
            done + 1,
            runs.len(),
            p.index + 1,
            p.config.to_query()
        );
        let r = train_to_end(
            &p.config,
            train.clone(),
            test.clone(),
            backend,
            |_| {},
            |_| {},
        )?;
        let mut row = Row::of_run(kind, base, p, of);
        row.status = "ok".into();
        row.test_accuracy = r.eval.test_accuracy;
        row.test_loss = r.eval.test_loss;
        row.train_flops_fraction = r.train_flops_fraction;
        row.inference_flops_fraction = r.inference_flops_fraction;
        row.wall_s = r.wall_s;
        rows.push(row);
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

/// Cells of a compare grid: (model, method, sparsity, mean train FLOPs fraction, mean and
/// std of the test accuracy), finished runs only.
fn compare_points(rows: &[Row]) -> Vec<(String, String, f64, f64, f64, f64)> {
    let mut out: Vec<(String, String, f64, Vec<&Row>)> = Vec::new();
    let mut sorted: Vec<&Row> = rows.iter().filter(|r| r.ok()).collect();
    sorted.sort_by_key(|r| r.index);
    for r in sorted {
        match out
            .iter_mut()
            .find(|c| c.0 == r.model && c.1 == r.method && c.2 == r.sparsity)
        {
            Some(c) => c.3.push(r),
            None => out.push((r.model.clone(), r.method.clone(), r.sparsity, vec![r])),
        }
    }
    out.into_iter()
        .map(|(model, method, s, rs)| {
            let flops = mean_std(
                &rs.iter()
                    .map(|r| r.train_flops_fraction)
                    .collect::<Vec<_>>(),
            )
            .0;
            let (m, sd) = mean_std(&rs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
            (model, method, s, flops, 100.0 * m, 100.0 * sd)
        })
        .collect()
}

/// The paper's Figure 2 shape: each cell at (training FLOPs / dense, test accuracy), coloured
/// by method, with its sparsity (and model, when there are several) beside it.
pub fn plot_compare(path: &Path, rows: &[Row]) -> Result<(), CliError> {
    let pts = compare_points(rows);
    if pts.is_empty() {
        return Err(CliError::Failed("no finished run to plot".into()));
    }
    let several_models = pts.iter().any(|p| p.0 != pts[0].0);
    let (xmin, xmax) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.3), b.max(p.3)));
    let (ymin, ymax) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.4 - p.5), b.max(p.4 + p.5))
    });
    let pad = ((ymax - ymin) * 0.15).max(0.5);
    let fail = |e: String| CliError::Failed(format!("{}: {e}", path.display()));
    let root = SVGBackend::new(path, (760, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "test accuracy vs training FLOPs (fraction of dense)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(
            ((xmin * 0.7).max(1e-4)..(xmax * 1.4).min(10.0)).log_scale(),
            (ymin - pad)..(ymax + pad),
        )
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("training FLOPs / dense (log)")
        .y_desc("test accuracy (%)")
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    let mut methods: Vec<&str> = pts.iter().map(|p| p.1.as_str()).collect();
    methods.dedup();
    let mut seen = Vec::new();
    for m in methods {
        if seen.contains(&m) {
            continue;
        }
        seen.push(m);
        let c = method_color(m);
        let mine: Vec<_> = pts.iter().filter(|p| p.1 == m).collect();
        chart
            .draw_series(mine.iter().map(|p| Circle::new((p.3, p.4), 6, c.filled())))
            .map_err(|e| fail(e.to_string()))?
            .label(m)
            .legend(move |(x, y)| Circle::new((x, y), 5, c.filled()));
        chart
            .draw_series(mine.iter().map(|p| {
                PathElement::new(vec![(p.3, p.4 - p.5), (p.3, p.4 + p.5)], c.stroke_width(2))
            }))
            .map_err(|e| fail(e.to_string()))?;
        chart
            .draw_series(mine.iter().map(|p| {
                let label = if several_models {
                    format!("{} {}", p.0, p.2)
                } else {
                    format!("{}", p.2)
                };
                Text::new(label, (p.3 * 1.04, p.4), ("sans-serif", 13).into_font())
            }))
            .map_err(|e| fail(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The ΔT x α map (the paper's Figure 5): a cell per (ΔT, α) coloured by mean test accuracy,
/// its value written in it.
pub fn plot_sweep(path: &Path, rows: &[Row]) -> Result<(), CliError> {
    let mut dts: Vec<usize> = rows.iter().map(|r| r.dt).collect();
    dts.sort_unstable();
    dts.dedup();
    let mut alphas: Vec<f64> = rows.iter().map(|r| r.alpha).collect();
    alphas.sort_by(f64::total_cmp);
    alphas.dedup();
    let cell = |dt: usize, a: f64| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.ok() && r.dt == dt && r.alpha == a)
            .map(|r| 100.0 * r.test_accuracy)
            .collect();
        (!v.is_empty()).then(|| mean_std(&v).0)
    };
    let values: Vec<f64> = dts
        .iter()
        .flat_map(|&d| alphas.iter().filter_map(move |&a| cell(d, a)))
        .collect();
    if values.is_empty() {
        return Err(CliError::Failed("no finished run to plot".into()));
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let fail = |e: String| CliError::Failed(format!("{}: {e}", path.display()));
    let root = SVGBackend::new(path, (640, 120 + 70 * dts.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "test accuracy (%) by mask-update period ΔT and drop fraction α",
            ("sans-serif", 18),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        // (plotters' integer ranges include their end)
        .build_cartesian_2d(
            (0..alphas.len() - 1).into_segmented(),
            (0..dts.len() - 1).into_segmented(),
        )
        .map_err(|e| fail(e.to_string()))?;
    let (a_labels, d_labels) = (alphas.clone(), dts.clone());
    let label = |v: &SegmentValue<usize>, f: &dyn Fn(usize) -> Option<String>| match v {
        SegmentValue::CenterOf(i) => f(*i).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(alphas.len())
        .y_labels(dts.len())
        .x_label_formatter(&|v| label(v, &|i| a_labels.get(i).map(|a| format!("α = {a}"))))
        .y_label_formatter(&|v| label(v, &|i| d_labels.get(i).map(|d| format!("ΔT = {d}"))))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    for (yi, &dt) in dts.iter().enumerate() {
        for (xi, &a) in alphas.iter().enumerate() {
            let Some(v) = cell(dt, a) else { continue };
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            // Pale to deep blue with accuracy.
            let color = RGBColor(
                (235.0 - 190.0 * t) as u8,
                (240.0 - 140.0 * t) as u8,
                (250.0 - 60.0 * t) as u8,
            );
            let corner = |x, y| (SegmentValue::Exact(x), SegmentValue::Exact(y));
            chart
                .draw_series([Rectangle::new(
                    [corner(xi, yi), corner(xi + 1, yi + 1)],
                    color.filled(),
                )])
                .map_err(|e| fail(e.to_string()))?;
            let ink = if t > 0.6 { WHITE } else { BLACK };
            let style = ("sans-serif", 16)
                .into_font()
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series([Text::new(
                    format!("{v:.2}"),
                    (SegmentValue::CenterOf(xi), SegmentValue::CenterOf(yi)),
                    style,
                )])
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    root.present().map_err(|e| fail(e.to_string()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
