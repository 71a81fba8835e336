//! What a share URL holds: the engine's configuration (the query string, read by
//! `Config::from_query`) plus the page's comparison runs (`vs=`). Pure, so it is tested
//! natively; the page (`app::url`) reads and writes the address bar with it.

use crate::config::Config;
use crate::model::ModelSpec;
use crate::sparse::{Distribution, Method};

/// A comparison run: the same configuration with another method, another distribution, or
/// another model at a given sparsity (`mlp:300,100@0`: that model dense; Big-Sparse races).
#[derive(Clone, Debug, PartialEq)]
pub enum Variant {
    Method(Method),
    Dist(Distribution),
    Model(ModelSpec, f64),
}

impl Variant {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        if let Some((model, sparsity)) = s.split_once('@') {
            let sparsity: f64 = sparsity.parse().ok()?;
            return ((0.0..=0.999).contains(&sparsity))
                .then_some(())
                .and(ModelSpec::parse(model).ok())
                .map(|m| Variant::Model(m, sparsity));
        }
        Method::from_name(&s)
            .map(Variant::Method)
            .or_else(|| Distribution::from_name(&s).map(Variant::Dist))
    }

    pub fn name(&self) -> String {
        match self {
            Variant::Method(m) => m.name().to_string(),
            Variant::Dist(d) => d.name().to_string(),
            Variant::Model(m, s) => format!("{m}@{s}"),
        }
    }

    /// The configuration of this comparison run.
    pub fn apply(&self, config: &Config) -> Config {
        let mut c = config.clone();
        match self {
            Variant::Method(m) => c.method = *m,
            Variant::Dist(d) => c.dist = *d,
            Variant::Model(m, s) => {
                (c.model, c.sparsity) = (m.clone(), *s);
                if *s == 0.0 {
                    c.method = Method::Dense;
                }
            }
        }
        c
    }
}

/// The entries of a `vs=` list, separated by commas (or `+`), where a model's widths are
/// separated by commas too (`static,mlp:300,100@0` is two entries).
pub fn versus_entries(list: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in list
        .split([',', '+'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let continues_model = out
            .last()
            .is_some_and(|l| l.contains(':') && !l.contains('@'))
            && !part.contains(':')
            && Variant::parse(part).is_none();
        match out.last_mut() {
            Some(last) if continues_model => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

/// Page-level parameter: runs beside the primary one, e.g. `vs=static,set` or `vs=uniform`.
pub const VERSUS_KEY: &str = "vs";
/// Page-level parameter: `backend=cpu` trains on the CPU even where WebGPU works.
pub const BACKEND_KEY: &str = "backend";
/// Page-level parameter for demonstrations and tests: destroy the GPU device after this step.
pub const LOSE_GPU_KEY: &str = "lose_gpu_at";
/// Page-level parameter: `workers=0` trains on the page's own thread, as versions before
/// the workers did (for comparison); `workers=1`, the default, in one Web Worker per run.
pub const WORKERS_KEY: &str = "workers";
/// Page-level parameter for demonstrations and tests: the worker of the primary run fails on
/// purpose after this step (once); the page restarts it from its last snapshot.
pub const CRASH_WORKER_KEY: &str = "crash_worker_at";
/// Page-level parameters for a classroom: `present=1` (presentation mode), `hide=lr,momentum`
/// (controls a lesson leaves out), `embed=1` (inside an iframe: no header or footer),
/// `palette=cb` (drop and grow in colour-blind-safe colours).
pub const PRESENT_KEY: &str = "present";
pub const HIDE_KEY: &str = "hide";
pub const EMBED_KEY: &str = "embed";
pub const PALETTE_KEY: &str = "palette";

/// Where the page trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// WebGPU on a hardware adapter; the CPU without one, or on a software (fallback)
    /// adapter such as SwiftShader, where the CPU backend is much faster.
    #[default]
    Auto,
    Cpu,
    /// WebGPU whenever there is an adapter, even a software one.
    Gpu,
}

/// What a link holds besides the engine's configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageParams {
    pub versus: Vec<Variant>,
    pub backend: BackendChoice,
    pub lose_gpu_at: Option<usize>,
    /// Train the CPU backend's runs in Web Workers (`workers=0`: on the page's thread).
    pub no_workers: bool,
    pub crash_worker_at: Option<usize>,
    pub present: bool,
    /// Parameter names whose controls are hidden.
    pub hide: Vec<String>,
    pub embed: bool,
    /// Drop and grow in blue and orange rather than red and green.
    pub colour_blind: bool,
}

/// Reads a page switch (`1`, `true`, `0`, `false`); anything else is `default`, said so.
fn switch(key: &str, v: &str, default: bool, notices: &mut Vec<String>) -> bool {
    match v {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => {
            notices.push(format!(
                "{key}={v} must be 1 or 0; using {}",
                u8::from(default)
            ));
            default
        }
    }
}

/// Reads the configuration from a URL. Problems become notices naming the field and the
/// default used; they never stop the page.
pub fn read(href: &str) -> (Config, PageParams, Vec<String>) {
    let (rest, page, mut notices) = split(href);
    let (config, errors) = Config::from_query(&rest);
    notices.extend(errors.iter().map(|e| e.to_string()));
    (config, page, notices)
}

/// Separates the page's own parameters from the engine's: (the URL without them, the page
/// parameters, problems with them).
pub fn split(href: &str) -> (String, PageParams, Vec<String>) {
    // `vs`, `backend`, `lose_gpu_at`, `workers`, ... belong to the page, not to the engine's table.
    let (query_part, hash) = href.split_once('#').map_or((href, ""), |(a, b)| (a, b));
    let (base, query) = match query_part.split_once('?') {
        Some(parts) => parts,
        // A bare query string (the CLI's usual input) rather than a URL.
        None if !query_part.contains('/') => ("", query_part),
        None => (query_part, ""),
    };
    let mut versus = Vec::new();
    let mut page = PageParams::default();
    let mut notices = Vec::new();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((VERSUS_KEY, list)) => {
                for name in versus_entries(list) {
                    match Variant::parse(&name) {
                        Some(v) if !versus.contains(&v) && versus.len() < 3 => versus.push(v),
                        Some(_) => notices.push(format!(
                            "vs={name} is ignored: listed twice, or more than 3 comparison runs"
                        )),
                        None => notices.push(format!(
                            "vs={name} is not a method, a distribution or MODEL@SPARSITY; ignored"
                        )),
                    }
                }
            }
            Some((BACKEND_KEY, v)) => match v {
                "cpu" => page.backend = BackendChoice::Cpu,
                "gpu" => page.backend = BackendChoice::Gpu,
                "auto" => page.backend = BackendChoice::Auto,
                _ => notices.push(format!("backend={v} must be auto, gpu or cpu; using auto")),
            },
            Some((PRESENT_KEY, v)) => page.present = switch(PRESENT_KEY, v, false, &mut notices),
            Some((EMBED_KEY, v)) => page.embed = switch(EMBED_KEY, v, false, &mut notices),
            Some((PALETTE_KEY, v)) => match v {
                "cb" => page.colour_blind = true,
                "default" => page.colour_blind = false,
                _ => notices.push(format!("palette={v} must be cb or default; using default")),
            },
            Some((HIDE_KEY, list)) => {
                for name in list
                    .split([',', '+'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    if crate::config::param(name).is_some() {
                        if !page.hide.iter().any(|h| h == name) {
                            page.hide.push(name.to_string());
                        }
                    } else {
                        notices.push(format!("hide={name} is not a parameter; ignored"));
                    }
                }
            }
            Some((LOSE_GPU_KEY, v)) => match v.parse() {
                Ok(n) => page.lose_gpu_at = Some(n),
                Err(_) => notices.push(format!("{LOSE_GPU_KEY}={v} is not a step number; ignored")),
            },
            Some((CRASH_WORKER_KEY, v)) => match v.parse() {
                Ok(n) => page.crash_worker_at = Some(n),
                Err(_) => notices.push(format!(
                    "{CRASH_WORKER_KEY}={v} is not a step number; ignored"
                )),
            },
            Some((WORKERS_KEY, v)) => page.no_workers = !switch(WORKERS_KEY, v, true, &mut notices),
            _ => kept.push(pair),
        }
    }
    page.versus = versus;
    let rest = format!(
        "{base}?{}{}{}",
        kept.join("&"),
        if hash.is_empty() { "" } else { "#" },
        hash
    );
    (rest, page, notices)
}

/// The query string for a configuration (non-default values only) and the page's own
/// parameters.
pub fn query(config: &Config, page: &PageParams) -> String {
    let mut parts = vec![config.to_query()];
    if !page.versus.is_empty() {
        let names: Vec<String> = page.versus.iter().map(Variant::name).collect();
        parts.push(format!("{VERSUS_KEY}={}", names.join(",")));
    }
    match page.backend {
        BackendChoice::Auto => {}
        BackendChoice::Cpu => parts.push(format!("{BACKEND_KEY}=cpu")),
        BackendChoice::Gpu => parts.push(format!("{BACKEND_KEY}=gpu")),
    }
    if let Some(n) = page.lose_gpu_at {
        parts.push(format!("{LOSE_GPU_KEY}={n}"));
    }
    if page.no_workers {
        parts.push(format!("{WORKERS_KEY}=0"));
    }
    if let Some(n) = page.crash_worker_at {
        parts.push(format!("{CRASH_WORKER_KEY}={n}"));
    }
    if !page.hide.is_empty() {
        parts.push(format!("{HIDE_KEY}={}", page.hide.join(",")));
    }
    for (on, key) in [(page.present, PRESENT_KEY), (page.embed, EMBED_KEY)] {
        if on {
            parts.push(format!("{key}=1"));
        }
    }
    if page.colour_blind {
        parts.push(format!("{PALETTE_KEY}=cb"));
    }
    parts.retain(|p| !p.is_empty());
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_worker_switches() {
        let (_, page, notices) = read("http://h/?workers=0&crash_worker_at=150&steps=400");
        assert!(page.no_workers && notices.is_empty(), "{notices:?}");
        assert_eq!(page.crash_worker_at, Some(150));
        let q = query(&Config::default(), &page);
        assert!(
            q.contains("workers=0") && q.contains("crash_worker_at=150"),
            "{q}"
        );
        let (_, page, notices) = read("http://h/?workers=maybe&crash_worker_at=soon");
        assert!(!page.no_workers && page.crash_worker_at.is_none());
        assert_eq!(
            notices,
            [
                "workers=maybe must be 1 or 0; using 1",
                "crash_worker_at=soon is not a step number; ignored"
            ]
        );
        // The default (workers on) is not written.
        assert!(!query(&Config::default(), &PageParams::default()).contains("workers"));
    }

    #[test]
    fn reads_versus_and_the_configuration() {
        let (c, page, notices) =
            read("http://h/?method=rigl&sparsity=0.95&vs=static,uniform&backend=cpu");
        assert_eq!((c.method, c.sparsity), (Method::Rigl, 0.95));
        let vs = &page.versus;
        assert_eq!(
            vs,
            &[
                Variant::Method(Method::Static),
                Variant::Dist(Distribution::Uniform)
            ]
        );
        assert_eq!(page.backend, BackendChoice::Cpu);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(
            query(&c, &page),
            "sparsity=0.95&vs=static,uniform&backend=cpu"
        );
        assert_eq!(vs[1].apply(&c).dist, Distribution::Uniform);
    }

    #[test]
    fn garbage_becomes_notices_and_defaults() {
        let (c, page, notices) = read("http://h/?sparsity=7&vs=magic&lr=abc&zzz&backend=quantum");
        assert_eq!(c, Config::default());
        assert_eq!(page, PageParams::default());
        assert_eq!(notices.len(), 5, "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("backend=quantum")));
        assert!(notices.iter().any(|n| n.contains("vs=magic")));
        assert!(notices.iter().any(|n| n.starts_with("sparsity=7")));
    }

    #[test]
    fn a_hash_configuration_is_read_too() {
        let (c, _, notices) = read("http://h/#method=static&dt=50");
        assert_eq!((c.method, c.dt), (Method::Static, 50));
        assert!(notices.is_empty());
    }

    #[test]
    fn bare_query_strings_are_split_too() {
        let (rest, page, notices) = split("method=static&vs=rigl&dt=50");
        assert_eq!(rest, "?method=static&dt=50");
        assert_eq!(page.versus, [Variant::Method(Method::Rigl)]);
        assert!(notices.is_empty());
        let (c, _, _) = read("sparsity=0.8");
        assert_eq!(c.sparsity, 0.8);
    }

    #[test]
    fn a_model_at_a_sparsity_races_too() {
        let (c, page, notices) =
            read("http://h/?model=mlp:600,200&sparsity=0.5506&vs=static,mlp:300,100@0");
        assert!(notices.is_empty(), "{notices:?}");
        let small = ModelSpec::parse("mlp:300,100").unwrap();
        assert_eq!(
            page.versus,
            [
                Variant::Method(Method::Static),
                Variant::Model(small.clone(), 0.0)
            ]
        );
        let dense = page.versus[1].apply(&c);
        assert_eq!(
            (dense.model, dense.method, dense.sparsity),
            (small, Method::Dense, 0.0)
        );
        assert_eq!(
            query(&c, &page),
            "model=mlp:600,200&sparsity=0.5506&vs=static,mlp:300,100@0"
        );
        let (_, page, notices) = read("http://h/?vs=mlp:300,100@2,cnn:4,8,16@0.5");
        assert_eq!(page.versus.len(), 1, "{notices:?}");
        assert!(notices[0].contains("mlp:300,100@2"), "{notices:?}");
    }

    #[test]
    fn classroom_parameters_round_trip_and_bad_ones_are_named() {
        let (c, page, notices) =
            read("http://h/?hide=lr,momentum,nope&present=1&embed=1&palette=cb&sparsity=0.8");
        assert_eq!(page.hide, ["lr", "momentum"]);
        assert!(page.present && page.embed && page.colour_blind);
        assert_eq!(notices, ["hide=nope is not a parameter; ignored"]);
        assert_eq!(
            query(&c, &page),
            "sparsity=0.8&hide=lr,momentum&present=1&embed=1&palette=cb"
        );
        let (_, page, notices) = read("http://h/?present=maybe&palette=rainbow");
        assert!(!page.present && !page.colour_blind);
        assert_eq!(notices.len(), 2, "{notices:?}");
    }

    #[test]
    fn default_configuration_has_an_empty_query() {
        assert_eq!(query(&Config::default(), &PageParams::default()), "");
    }
}
