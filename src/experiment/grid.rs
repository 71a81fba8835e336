//! Grids of runs and their tables: `riglab compare` (models x methods x distributions x
//! sparsities x seeds) and `riglab sweep` (the paper's Figure 5: ΔT x α x seeds), cut into
//! deterministic shards for a cluster, and the tables of their results, which come out the
//! same whether the grid ran at once or in shards merged later (`riglab merge`).

use std::fmt::Write as _;

use crate::config::Config;
use crate::model::ModelSpec;
use crate::sparse::{Distribution, Method};

/// Which table a grid's rows make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridKind {
    Compare,
    Sweep,
}

impl GridKind {
    pub fn name(self) -> &'static str {
        match self {
            GridKind::Compare => "compare",
            GridKind::Sweep => "sweep",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        [GridKind::Compare, GridKind::Sweep]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// One run of a grid: its position in the whole grid and its configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub index: usize,
    pub config: Config,
}

/// What `compare` trains.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareGrid {
    pub models: Vec<ModelSpec>,
    pub methods: Vec<Method>,
    pub dists: Vec<Distribution>,
    pub sparsities: Vec<f64>,
    pub seeds: u64,
    /// Big-Sparse: this model trains dense, and every other model at the sparsity that holds
    /// its dense parameter count (`matched_sparsity`) instead of `sparsities`.
    pub match_params: Option<ModelSpec>,
}

/// Weights of `model`'s maskable layers for `base`'s data set.
pub fn parameter_count(base: &Config, model: &ModelSpec) -> usize {
    let (input, classes) = base.data.shape();
    model
        .layer_shapes(input, classes)
        .iter()
        .map(|l| l.num_weights())
        .sum()
}

/// The sparsity at which `model` keeps as many active weights as `reference` has weights
/// (every distribution splits the same budget, (1 - S) N), rounded to 4 digits and at most
/// 0.999; 0 for a model no larger than the reference.
pub fn matched_sparsity(base: &Config, model: &ModelSpec, reference: &ModelSpec) -> f64 {
    let (n, r) = (
        parameter_count(base, model) as f64,
        parameter_count(base, reference) as f64,
    );
    if n <= r {
        return 0.0;
    }
    ((1.0 - r / n) * 1e4).round().min(9990.0) / 1e4
}

impl CompareGrid {
    /// Every run, in order: per model, distribution, sparsity and method, the seeds
    /// `base.seed`, `base.seed + 1`, ... Dense runs once per model (it ignores distribution
    /// and sparsity); under `match_params` the reference model runs dense only.
    pub fn runs(&self, base: &Config) -> Vec<Planned> {
        let mut cells: Vec<Config> = Vec::new();
        for model in &self.models {
            let reference = self.match_params.as_ref();
            let (methods, sparsities) = match reference {
                Some(r) if r == model => (vec![Method::Dense], vec![0.0]),
                Some(r) => (self.methods.clone(), vec![matched_sparsity(base, model, r)]),
                None => (self.methods.clone(), self.sparsities.clone()),
            };
            for &dist in &self.dists {
                for &sparsity in &sparsities {
                    for &method in &methods {
                        let mut c = base.clone();
                        (c.model, c.method, c.dist, c.sparsity) =
                            (model.clone(), method, dist, sparsity);
                        if method == Method::Dense {
                            (c.dist, c.sparsity) = (base.dist, 0.0);
                        }
                        if !cells.contains(&c) {
                            cells.push(c);
                        }
                    }
                }
            }
        }
        with_seeds(cells, base.seed, self.seeds)
    }
}

/// What `sweep` trains: the base configuration at every ΔT and α.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepGrid {
    pub dts: Vec<usize>,
    pub alphas: Vec<f64>,
    pub seeds: u64,
}

impl SweepGrid {
    /// Every run, in order: per ΔT and α, the seeds.
    pub fn runs(&self, base: &Config) -> Vec<Planned> {
        let mut cells = Vec::new();
        for &dt in &self.dts {
            for &alpha in &self.alphas {
                let mut c = base.clone();
                (c.dt, c.alpha) = (dt, alpha);
                cells.push(c);
            }
        }
        with_seeds(cells, base.seed, self.seeds)
    }
}

fn with_seeds(cells: Vec<Config>, first: u64, seeds: u64) -> Vec<Planned> {
    let mut out = Vec::new();
    for c in cells {
        for s in 0..seeds {
            let mut c = c.clone();
            c.seed = first + s;
            out.push(Planned {
                index: out.len(),
                config: c,
            });
        }
    }
    out
}

/// Part `i` (1-based) of `n` of the runs: those whose index is i - 1 modulo n. Parts are
/// disjoint, cover the grid and mix its cells, so they take about the same time.
pub fn shard(runs: Vec<Planned>, i: usize, n: usize) -> Vec<Planned> {
    runs.into_iter().filter(|r| r.index % n == i - 1).collect()
}

/// Parses `i/n` (1 <= i <= n).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s}: write i/n with 1 <= i <= n, e.g. 2/8");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<usize>().map_err(|_| bad())?,
        n.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Parses `--models`: model specs separated by commas, which also separate a spec's widths
/// (`mlp:300,100,mlp:600,200` is two models).
pub fn parse_models(s: &str) -> Result<Vec<ModelSpec>, String> {
    let mut specs: Vec<String> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match specs.last_mut() {
            Some(last) if !part.contains(':') => {
                last.push(',');
                last.push_str(part);
            }
            _ => specs.push(part.to_string()),
        }
    }
    if specs.is_empty() {
        return Err("--models: no model given".into());
    }
    specs.iter().map(|m| ModelSpec::parse(m)).collect()
}

/// One finished run, as a CSV row holds it (numbers at full precision, so that a table made
/// from merged CSV files equals the one made at once).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub kind: GridKind,
    /// The grid's base configuration (its query).
    pub base: String,
    pub index: usize,
    /// Runs in the whole grid.
    pub of: usize,
    pub model: String,
    pub method: String,
    pub dist: String,
    pub sparsity: f64,
    pub dt: usize,
    pub alpha: f64,
    pub seed: u64,
    /// "ok", or why the run has no result ("diverged at step 120").
    pub status: String,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub train_flops_fraction: f64,
    pub inference_flops_fraction: f64,
    pub wall_s: f64,
}

impl Row {
    /// The row of run `p` of a grid of `of` runs with base `base`, from its results.
    pub fn of_run(kind: GridKind, base: &Config, p: &Planned, of: usize) -> Self {
        let c = &p.config;
        Self {
            kind,
            base: base.to_query(),
            index: p.index,
            of,
            model: c.model.to_string(),
            method: c.method.name().to_string(),
            dist: c.dist.name().to_string(),
            sparsity: c.sparsity,
            dt: c.dt,
            alpha: c.alpha,
            seed: c.seed,
            status: String::new(),
            test_accuracy: f64::NAN,
            test_loss: f64::NAN,
            train_flops_fraction: f64::NAN,
            inference_flops_fraction: f64::NAN,
            wall_s: f64::NAN,
        }
    }

    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Mean and sample standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The rows grouped by `key`, groups in order of their first run, rows by run index.
fn groups<K: PartialEq>(rows: &[Row], key: impl Fn(&Row) -> K) -> Vec<(K, Vec<&Row>)> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let mut out: Vec<(K, Vec<&Row>)> = Vec::new();
    for r in sorted {
        let k = key(r);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => out.push((k, vec![r])),
        }
    }
    out
}

/// "91.20 ± 0.31" over the runs that finished, with a note of the others.
fn accuracy_cell(rows: &[&Row]) -> String {
    let ok: Vec<f64> = rows
        .iter()
        .filter(|r| r.ok())
        .map(|r| r.test_accuracy)
        .collect();
    let failed = rows.len() - ok.len();
    let mut s = if ok.is_empty() {
        "-".to_string()
    } else if ok.len() == 1 {
        // One run has no spread to show.
        format!("{:.2}", 100.0 * ok[0])
    } else {
        let (m, sd) = mean_std(&ok);
        format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * sd)
    };
    if failed > 0 {
        let why = rows
            .iter()
            .find(|r| !r.ok())
            .map_or("", |r| r.status.as_str());
        let _ = write!(s, " ({failed} of {}: {why})", rows.len());
    }
    s
}

fn mean_of(rows: &[&Row], f: impl Fn(&Row) -> f64) -> f64 {
    let v: Vec<f64> = rows.iter().filter(|r| r.ok()).map(|r| f(r)).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        mean_std(&v).0
    }
}

/// Seeds of the grid (runs per cell).
/// "mean ± std, 3 seeds", or "1 seed".
fn seeds_note(n: usize) -> String {
    if n == 1 {
        "1 seed".into()
    } else {
        format!("mean ± std, {n} seeds")
    }
}

fn seeds_per_cell<K>(groups: &[(K, Vec<&Row>)]) -> usize {
    groups.iter().map(|(_, v)| v.len()).max().unwrap_or(0)
}

/// The markdown table of a compare grid: one line per cell (model, method, distribution,
/// sparsity) with the test accuracy over its seeds and the FLOPs fractions.
pub fn compare_table(rows: &[Row]) -> String {
    let base = rows.first().map_or("", |r| r.base.as_str());
    let g = groups(rows, |r| {
        (
            r.model.clone(),
            r.method.clone(),
            r.dist.clone(),
            r.sparsity.to_bits(),
        )
    });
    let mut t = format!(
        "{base}\n\n| model | method | dist | sparsity | test accuracy ({}) | train FLOPs / dense | inference FLOPs / dense |\n|---|---|---|---|---|---|---|\n",
        seeds_note(seeds_per_cell(&g))
    );
    for ((model, method, dist, _), cell) in &g {
        let (dist, sparsity) = if method == "dense" {
            ("-".to_string(), "0".to_string())
        } else {
            (dist.clone(), cell[0].sparsity.to_string())
        };
        let _ = writeln!(
            t,
            "| {model} | {method} | {dist} | {sparsity} | {} | {:.3} | {:.3} |",
            accuracy_cell(cell),
            mean_of(cell, |r| r.train_flops_fraction),
            mean_of(cell, |r| r.inference_flops_fraction),
        );
    }
    t
}

/// The markdown table of a sweep: a row per ΔT, a column per α, the mean test accuracy.
pub fn sweep_table(rows: &[Row]) -> String {
    let base = rows.first().map_or("", |r| r.base.as_str());
    let g = groups(rows, |r| (r.dt, r.alpha.to_bits()));
    let mut dts: Vec<usize> = Vec::new();
    let mut alphas: Vec<f64> = Vec::new();
    for ((dt, alpha), _) in &g {
        if !dts.contains(dt) {
            dts.push(*dt);
        }
        let a = f64::from_bits(*alpha);
        if !alphas.contains(&a) {
            alphas.push(a);
        }
    }
    let method = rows.first().map_or("", |r| r.method.as_str());
    let mut t = format!(
        "{base}\n\n{method}: test accuracy ({}) by ΔT (rows) and α (columns)\n\n| ΔT \\ α |",
        seeds_note(seeds_per_cell(&g))
    );
    for a in &alphas {
        let _ = write!(t, " {a} |");
    }
    t.push_str("\n|---|");
    t.push_str(&"---|".repeat(alphas.len()));
    t.push('\n');
    for dt in &dts {
        let _ = write!(t, "| {dt} |");
        for a in &alphas {
            let cell = g
                .iter()
                .find(|((d, x), _)| d == dt && *x == a.to_bits())
                .map_or_else(|| "-".to_string(), |(_, v)| accuracy_cell(v));
            let _ = write!(t, " {cell} |");
        }
        t.push('\n');
    }
    t
}

/// The table of `rows` for their grid kind.
pub fn table(rows: &[Row]) -> String {
    match rows.first().map(|r| r.kind) {
        Some(GridKind::Sweep) => sweep_table(rows),
        _ => compare_table(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::parse_strict("steps=100&seed=7").unwrap()
    }

    #[test]
    fn compare_runs_every_cell_and_seed_and_dense_once() {
        let g = CompareGrid {
            models: vec![ModelSpec::default()],
            methods: vec![Method::Dense, Method::Static, Method::Rigl],
            dists: vec![Distribution::Erk],
            sparsities: vec![0.9, 0.95],
            seeds: 2,
            match_params: None,
        };
        let runs = g.runs(&base());
        // dense once, static and rigl at two sparsities: 5 cells x 2 seeds.
        assert_eq!(runs.len(), 10);
        assert_eq!(
            (runs[0].config.method, runs[0].config.sparsity),
            (Method::Dense, 0.0)
        );
        assert_eq!((runs[0].config.seed, runs[1].config.seed), (7, 8));
        assert!(runs.iter().enumerate().all(|(i, r)| r.index == i));
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_grid() {
        let g = SweepGrid {
            dts: vec![25, 50, 100],
            alphas: vec![0.1, 0.3],
            seeds: 3,
        };
        let runs = g.runs(&base());
        assert_eq!(runs.len(), 18);
        let mut seen: Vec<usize> = (1..=4)
            .flat_map(|i| shard(runs.clone(), i, 4).into_iter().map(|r| r.index))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..18).collect::<Vec<_>>());
        assert_eq!(
            shard(runs, 2, 4)
                .iter()
                .map(|r| r.index)
                .collect::<Vec<_>>(),
            [1, 5, 9, 13, 17]
        );
        assert_eq!(parse_shard("3/8"), Ok((3, 8)));
        for bad in ["0/4", "5/4", "x", "1/0", "2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn models_are_split_at_their_kind() {
        let m = parse_models("mlp:300,100,mlp:600,200,cnn:16,32,128").unwrap();
        let names: Vec<String> = m.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["mlp:300,100", "mlp:600,200", "cnn:16,32,128"]);
        assert!(parse_models("").is_err());
        assert!(parse_models("mlp:0").is_err());
    }

    #[test]
    fn big_sparse_holds_the_reference_parameter_count() {
        let small = ModelSpec::parse("mlp:300,100").unwrap();
        let wide = ModelSpec::parse("mlp:600,200").unwrap();
        // 266,200 weights vs 784*600 + 600*200 + 200*10 = 592,400: S = 1 - 266200/592400 =
        // 0.550641, rounded to 0.5506.
        assert_eq!(parameter_count(&base(), &wide), 592_400);
        assert_eq!(matched_sparsity(&base(), &wide, &small), 0.5506);
        assert_eq!(matched_sparsity(&base(), &small, &small), 0.0);
        // The page's Big-Sparse preset: mlp:1200,400 (1,424,800 weights) at 0.8132.
        let wider = ModelSpec::parse("mlp:1200,400").unwrap();
        assert_eq!(matched_sparsity(&base(), &wider, &small), 0.8132);
        let g = CompareGrid {
            models: vec![small.clone(), wide.clone()],
            methods: vec![Method::Rigl],
            dists: vec![Distribution::Erk],
            sparsities: vec![0.9],
            seeds: 1,
            match_params: Some(small),
        };
        let runs = g.runs(&base());
        let cells: Vec<(String, Method, f64)> = runs
            .iter()
            .map(|r| {
                (
                    r.config.model.to_string(),
                    r.config.method,
                    r.config.sparsity,
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("mlp:300,100".to_string(), Method::Dense, 0.0),
                ("mlp:600,200".to_string(), Method::Rigl, 0.5506)
            ]
        );
    }

    fn row(index: usize, dt: usize, alpha: f64, acc: f64, status: &str) -> Row {
        let p = Planned {
            index,
            config: base(),
        };
        let mut r = Row::of_run(GridKind::Sweep, &base(), &p, 4);
        (r.dt, r.alpha, r.test_accuracy, r.status) = (dt, alpha, acc, status.to_string());
        r
    }

    #[test]
    fn tables_do_not_depend_on_the_order_of_the_rows() {
        let rows = vec![
            row(0, 50, 0.1, 0.90, "ok"),
            row(1, 50, 0.1, 0.92, "ok"),
            row(2, 100, 0.1, 0.95, "ok"),
            row(3, 100, 0.1, 0.0, "diverged at step 3"),
        ];
        let mut shuffled = rows.clone();
        shuffled.reverse();
        let t = sweep_table(&rows);
        assert_eq!(t, sweep_table(&shuffled));
        assert!(t.contains("| 50 | 91.00 ± 1.41 |"), "{t}");
        assert!(
            t.contains("| 100 | 95.00 (1 of 2: diverged at step 3) |"),
            "{t}"
        );
    }
}
