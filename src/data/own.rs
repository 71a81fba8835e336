//! A user's own data set: assembled from the files a user gives (IDX image and label pairs,
//! CIFAR-10 binary batches, or images in one folder per class), split class-balanced into
//! train and test when the files hold no test split, and kept as one safetensors file
//! (the page's browser storage, `riglab data --images`, and `--data-dir DIR/own/NAME.safetensors`
//! for the CLI). The page decodes images and inflates gzip and zip entries with the browser;
//! everything after that is this module, for the page and the CLI alike.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{CIFAR10_CLASSES, DataError, Dataset, ImageShape, parse_cifar, parse_idx_images};

/// A user's own data set as the `data=` parameter names it: `own:NAME:CxHxW:K`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnData {
    /// Lower-case letters, digits, `-` and `_`, at most [`OwnData::MAX_NAME`] characters.
    pub name: String,
    pub shape: ImageShape,
    pub classes: usize,
}

impl OwnData {
    pub const MAX_NAME: usize = 40;
    /// Side lengths an own set may have (the CNN pools twice; larger images would not train
    /// in the page).
    pub const SIDES: std::ops::RangeInclusive<usize> = 8..=64;
    /// Labels are bytes.
    pub const CLASSES: std::ops::RangeInclusive<usize> = 2..=256;

    /// Checks every part; the error names the part that is wrong.
    pub fn new(name: &str, shape: ImageShape, classes: usize) -> Result<Self, String> {
        if name.is_empty()
            || name.len() > Self::MAX_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "name {name:?} must be 1 to {} lower-case letters, digits, '-' or '_'",
                Self::MAX_NAME
            ));
        }
        if !matches!(shape.channels, 1 | 3) {
            return Err(format!(
                "has {} channels; 1 (grey) or 3 (RGB)",
                shape.channels
            ));
        }
        if !Self::SIDES.contains(&shape.height) || !Self::SIDES.contains(&shape.width) {
            return Err(format!(
                "images of {}x{} pixels; each side must be {} to {}",
                shape.height,
                shape.width,
                Self::SIDES.start(),
                Self::SIDES.end()
            ));
        }
        if !Self::CLASSES.contains(&classes) {
            return Err(format!(
                "{classes} classes; there must be {} to {}",
                Self::CLASSES.start(),
                Self::CLASSES.end()
            ));
        }
        Ok(Self {
            name: name.to_string(),
            shape,
            classes,
        })
    }

    /// Reads `own:NAME:CxHxW:K`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let form = "own:NAME:CxHxW:CLASSES, e.g. own:flowers:3x32x32:5";
        let parts: Vec<&str> = text.split(':').collect();
        let [own, name, shape, classes] = parts[..] else {
            return Err(format!("is not {form}"));
        };
        if !own.eq_ignore_ascii_case("own") {
            return Err(format!("is not {form}"));
        }
        let dims: Vec<usize> = shape
            .split(['x', 'X'])
            .map(|d| d.parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("has shape {shape:?}, not CxHxW (e.g. 1x28x28)"))?;
        let [c, h, w] = dims[..] else {
            return Err(format!("has shape {shape:?}, not CxHxW (e.g. 1x28x28)"));
        };
        let classes = classes
            .parse::<usize>()
            .map_err(|_| format!("has class count {classes:?}, not a whole number"))?;
        Self::new(name, ImageShape::new(c, h, w), classes)
    }
}

impl std::fmt::Display for OwnData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.shape;
        write!(
            f,
            "own:{}:{}x{}x{}:{}",
            self.name, s.channels, s.height, s.width, self.classes
        )
    }
}

/// A user's data set, ready to train on.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnSet {
    /// The `NAME` of `data=own:NAME:CxHxW:K`.
    pub name: String,
    /// What the user called it (a file or folder name).
    pub title: String,
    /// Class names, in label order.
    pub classes: Vec<String>,
    pub train: Dataset,
    pub test: Dataset,
}

/// An image decoded to 8-bit RGBA, row-major, with the path it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbaImage {
    pub path: String,
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

/// Colour of the images made from decoded files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colour {
    /// Grey when every pixel of every image is grey, else RGB.
    #[default]
    Auto,
    Grey,
    Rgb,
}

impl Colour {
    pub const ALL: [Colour; 3] = [Colour::Auto, Colour::Grey, Colour::Rgb];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Auto => "auto",
            Colour::Grey => "grey",
            Colour::Rgb => "rgb",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
    }
}

/// How decoded images become a data set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Side of the square images; None: the largest that every image has, up to
    /// [`DEFAULT_MAX_SIDE`].
    pub side: Option<usize>,
    pub colour: Colour,
}

/// The default side is at most this (the size of CIFAR-10).
pub const DEFAULT_MAX_SIDE: usize = 32;
/// Without a test split in the files, every sixth image of each class is a test image (the
/// proportion of MNIST's 60,000 / 10,000).
pub const TEST_EVERY: usize = 6;
/// The format entry of the safetensors file.
const FORMAT: &str = "riglab-data";

/// A file name made into a set name: lower-case letters, digits and '-', at most
/// [`OwnData::MAX_NAME`] characters ("My Flowers (2).zip" -> "my-flowers-2").
pub fn slug(title: &str) -> String {
    let stem = title.rsplit(['/', '\\']).next().unwrap_or(title);
    let stem = stem.strip_suffix(".gz").unwrap_or(stem);
    let stem = stem
        .rsplit_once('.')
        .filter(|(s, ext)| !s.is_empty() && ext.len() <= 4)
        .map_or(stem, |(s, _)| s);
    let mut out = String::new();
    for ch in stem.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out
        .trim_end_matches('-')
        .chars()
        .take(OwnData::MAX_NAME)
        .collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "my-data".into()
    } else {
        out
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Files that come with data sets and are not data: hidden files, macOS resource forks,
/// text and web pages (CIFAR-10's batches.meta.txt and readme.html).
pub fn is_ignored(path: &str) -> bool {
    let base = base_name(path).to_ascii_lowercase();
    base.starts_with('.')
        || path.contains("__MACOSX/")
        || base.is_empty()
        || [
            ".txt", ".md", ".html", ".htm", ".json", ".csv", ".meta", ".db",
        ]
        .iter()
        .any(|ext| base.ends_with(ext))
}

/// Whether a path names an image the browser (or the CLI) decodes.
pub fn is_image_path(path: &str) -> bool {
    let base = base_name(path).to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"]
        .iter()
        .any(|ext| base.ends_with(ext))
}

fn is_test_name(path: &str) -> bool {
    let base = base_name(path).to_ascii_lowercase();
    base.contains("t10k") || base.contains("test")
}

fn named(file: &str, e: DataError) -> DataError {
    DataError::Invalid(format!("{file}: {e}"))
}

/// Every `TEST_EVERY`-th image of each class (and, in a class of fewer, its last image) is
/// a test image; the rest train. A class with fewer than 2 images is refused by name.
pub fn split_balanced(ds: &Dataset, classes: &[String]) -> Result<(Dataset, Dataset), DataError> {
    let counts = ds.class_counts();
    if let Some((c, &n)) = counts.iter().enumerate().find(|&(_, &n)| n < 2) {
        return Err(DataError::Invalid(format!(
            "class '{}' has {n} image{}; each class needs at least 2 (one to train on, one to test)",
            classes.get(c).map_or("?", String::as_str),
            if n == 1 { "" } else { "s" }
        )));
    }
    let mut seen = vec![0; ds.num_classes];
    let (mut train, mut test) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for i in 0..ds.len() {
        let c = usize::from(ds.labels[i]);
        let j = seen[c];
        seen[c] += 1;
        let to_test = if counts[c] < TEST_EVERY {
            j + 1 == counts[c]
        } else {
            j % TEST_EVERY == TEST_EVERY - 1
        };
        let (images, labels) = if to_test { &mut test } else { &mut train };
        images.extend_from_slice(ds.image(i));
        labels.push(ds.labels[i]);
    }
    Ok((
        Dataset::new(ds.shape, ds.num_classes, train.0, train.1)?,
        Dataset::new(ds.shape, ds.num_classes, test.0, test.1)?,
    ))
}

fn concat(parts: Vec<Dataset>) -> Result<Option<Dataset>, DataError> {
    let mut parts = parts.into_iter();
    let Some(mut all) = parts.next() else {
        return Ok(None);
    };
    for p in parts {
        if p.shape != all.shape {
            return Err(DataError::Invalid(format!(
                "files hold images of different shapes: {:?} and {:?}",
                all.shape, p.shape
            )));
        }
        all.images.extend_from_slice(&p.images);
        all.labels.extend_from_slice(&p.labels);
    }
    Ok(Some(all))
}

/// The train and test sets of some splits (test None: split `train` class-balanced).
fn finish(
    title: &str,
    classes: Vec<String>,
    train: Option<Dataset>,
    test: Option<Dataset>,
) -> Result<OwnSet, DataError> {
    let (train, test) = match (train, test) {
        (Some(train), Some(test)) => (train, test),
        (Some(all), None) | (None, Some(all)) => split_balanced(&all, &classes)?,
        (None, None) => return Err(DataError::Invalid("no images were found".into())),
    };
    for (what, ds) in [("training", &train), ("test", &test)] {
        if ds.is_empty() {
            return Err(DataError::Invalid(format!("the {what} split has no image")));
        }
    }
    let set = OwnSet {
        name: slug(title),
        title: title.to_string(),
        classes,
        train,
        test,
    };
    set.spec().map_err(DataError::Invalid)?;
    Ok(set)
}

/// Builds a set from data files (IDX pairs or CIFAR-10 batches, plain bytes: gzip already
/// inflated) or from decoded images (in class folders), not both. `title` names the set.
pub fn assemble(
    title: &str,
    files: &[(String, Vec<u8>)],
    images: Vec<RgbaImage>,
    opts: ImageOptions,
) -> Result<OwnSet, DataError> {
    let files: Vec<&(String, Vec<u8>)> = files.iter().filter(|(p, _)| !is_ignored(p)).collect();
    if !images.is_empty() {
        if let Some((path, _)) = files.first() {
            return Err(DataError::Invalid(format!(
                "{path}: a data file among images; load images or data files, not both"
            )));
        }
        return from_images(title, images, opts);
    }
    let mut idx_images = Vec::new();
    let mut idx_labels = Vec::new();
    let mut cifar = Vec::new();
    for &(path, bytes) in &files {
        match bytes.get(..4) {
            Some([0, 0, 8, 3]) => idx_images.push((path, bytes)),
            Some([0, 0, 8, 1]) => idx_labels.push((path, bytes)),
            _ if base_name(path).to_ascii_lowercase().ends_with(".bin") => {
                cifar.push((path, bytes))
            }
            _ => {
                return Err(DataError::Invalid(format!(
                    "{path}: not an IDX file (magic 0x00000803 or 0x00000801), a CIFAR-10 batch (.bin) or an image"
                )));
            }
        }
    }
    if !cifar.is_empty() {
        if let Some((path, _)) = idx_images.first().or(idx_labels.first()) {
            return Err(DataError::Invalid(format!(
                "{path}: an IDX file among CIFAR-10 batches; load one kind at a time"
            )));
        }
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (path, bytes) in cifar {
            let ds = parse_cifar(bytes).map_err(|e| named(path, e))?;
            if is_test_name(path) {
                &mut test
            } else {
                &mut train
            }
            .push(ds);
        }
        let classes = CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect();
        return finish(title, classes, concat(train)?, concat(test)?);
    }
    if idx_images.is_empty() && idx_labels.is_empty() {
        return Err(DataError::Invalid(
            "no data: give IDX image and label files, CIFAR-10 batches, or images in class folders"
                .into(),
        ));
    }
    // Pair image and label files by split: one pair, or a training and a test pair.
    let mut splits = [None, None];
    for split in [false, true] {
        fn of<'a>(
            list: &[(&'a String, &'a Vec<u8>)],
            split: bool,
        ) -> Vec<(&'a String, &'a Vec<u8>)> {
            list.iter()
                .copied()
                .filter(|(p, _)| is_test_name(p) == split)
                .collect()
        }
        let (imgs, labs) = (of(&idx_images, split), of(&idx_labels, split));
        match (&imgs[..], &labs[..]) {
            ([], []) => {}
            ([(ip, ib)], [(lp, lb)]) => {
                let ds = parse_idx_images(ib, lb, 256)
                    .map_err(|e| named(&format!("{ip} and {lp}"), e))?;
                splits[usize::from(split)] = Some(ds);
            }
            _ => {
                return Err(DataError::Invalid(format!(
                    "{} IDX image file(s) and {} label file(s) for the {} split: give one image file and its label file ({})",
                    imgs.len(),
                    labs.len(),
                    if split { "test" } else { "training" },
                    imgs.iter()
                        .chain(&labs)
                        .map(|(p, _)| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    let [train, test] = splits;
    let max_label = train
        .iter()
        .chain(&test)
        .flat_map(|d| d.labels.iter().copied())
        .max()
        .unwrap_or(0);
    let k = usize::from(max_label) + 1;
    let relabel = |d: Option<Dataset>| {
        d.map(|d| Dataset {
            num_classes: k,
            ..d
        })
    };
    let classes = (0..k).map(|c| c.to_string()).collect();
    finish(title, classes, relabel(train), relabel(test))
}

/// The class folder and the split (from a `train` or `test` folder above it) of an image.
fn class_of(path: &str) -> Option<(&str, Option<bool>)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (&class, above) = parts.split_last()?.1.split_last()?;
    let split = above
        .iter()
        .rev()
        .find_map(|p| match p.to_ascii_lowercase().as_str() {
            "train" | "training" => Some(false),
            "test" | "val" | "valid" | "validation" => Some(true),
            _ => None,
        });
    Some((class, split))
}

/// The centre square of an image, averaged down (or repeated up) to `side` x `side`.
/// Returns RGB planes (CHW, 3 channels).
pub fn resize_square(img: &RgbaImage, side: usize) -> Vec<u8> {
    let s = img.width.min(img.height);
    let (x0, y0) = ((img.width - s) / 2, (img.height - s) / 2);
    let mut out = vec![0u8; 3 * side * side];
    for ty in 0..side {
        let (sy0, sy1) = (
            ty * s / side,
            ((ty + 1) * s).div_ceil(side).max(ty * s / side + 1),
        );
        for tx in 0..side {
            let (sx0, sx1) = (
                tx * s / side,
                ((tx + 1) * s).div_ceil(side).max(tx * s / side + 1),
            );
            let mut sum = [0u32; 3];
            for y in sy0..sy1 {
                for x in sx0..sx1 {
                    let p = 4 * ((y0 + y) * img.width + x0 + x);
                    for (c, v) in sum.iter_mut().enumerate() {
                        *v += u32::from(img.rgba[p + c]);
                    }
                }
            }
            let n = ((sy1 - sy0) * (sx1 - sx0)) as u32;
            for (c, v) in sum.iter().enumerate() {
                out[c * side * side + ty * side + tx] = ((v + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// The largest side an image keeps once decoded: its centre square, averaged down to this
/// when larger. The page and the CLI reduce each image as soon as it is decoded (a folder of
/// photos would not fit in memory otherwise), the same way, so both make the same set.
pub const KEEP_SIDE: usize = 64;

/// An image as kept after decoding: unchanged when it is a square of at most
/// [`KEEP_SIDE`], else its centre square, averaged down to at most [`KEEP_SIDE`] (opaque).
pub fn reduce(img: RgbaImage) -> RgbaImage {
    let s = img.width.min(img.height);
    if img.width == img.height && s <= KEEP_SIDE || img.rgba.len() != 4 * img.width * img.height {
        return img;
    }
    let side = s.min(KEEP_SIDE);
    let rgb = resize_square(&img, side);
    let plane = side * side;
    let rgba = (0..plane)
        .flat_map(|p| [rgb[p], rgb[plane + p], rgb[2 * plane + p], 255])
        .collect();
    RgbaImage {
        path: img.path,
        width: side,
        height: side,
        rgba,
    }
}

fn from_images(
    title: &str,
    images: Vec<RgbaImage>,
    opts: ImageOptions,
) -> Result<OwnSet, DataError> {
    let images: Vec<RgbaImage> = images.into_iter().map(reduce).collect();
    let mut names = std::collections::BTreeSet::new();
    for img in &images {
        if img.rgba.len() != 4 * img.width * img.height || img.width == 0 || img.height == 0 {
            return Err(DataError::Invalid(format!(
                "{}: the image could not be read",
                img.path
            )));
        }
        let (class, _) = class_of(&img.path).ok_or_else(|| {
            DataError::Invalid(format!(
                "{}: not in a class folder; put each class's images in a folder named after the class",
                img.path
            ))
        })?;
        names.insert(class.to_string());
    }
    let classes: Vec<String> = names.into_iter().collect();
    if classes.len() < 2 {
        return Err(DataError::Invalid(format!(
            "one class folder ({}); a classifier needs at least 2",
            classes.first().map_or("none", String::as_str)
        )));
    }
    let smallest = images
        .iter()
        .min_by_key(|i| i.width.min(i.height))
        .expect("images");
    let side = opts
        .side
        .unwrap_or_else(|| smallest.width.min(smallest.height).min(DEFAULT_MAX_SIDE));
    if !OwnData::SIDES.contains(&side) {
        return Err(DataError::Invalid(format!(
            "{}: {}x{} pixels gives images of {side}x{side}; sides must be {} to {} (choose a size)",
            smallest.path,
            smallest.width,
            smallest.height,
            OwnData::SIDES.start(),
            OwnData::SIDES.end()
        )));
    }
    let grey = match opts.colour {
        Colour::Grey => true,
        Colour::Rgb => false,
        Colour::Auto => images
            .iter()
            .all(|i| i.rgba.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2])),
    };
    let channels = if grey { 1 } else { 3 };
    let shape = ImageShape::new(channels, side, side);
    let plane = side * side;
    let mut parts = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    let mut has_split = false;
    for img in &images {
        let (class, split) = class_of(&img.path).expect("checked above");
        has_split |= split.is_some();
        let label = classes
            .binary_search_by(|c| c.as_str().cmp(class))
            .expect("a class") as u8;
        let rgb = resize_square(img, side);
        let (pixels, labels) = &mut parts[usize::from(split == Some(true))];
        if grey {
            // ITU-R BT.601 luma, rounded.
            pixels.extend((0..plane).map(|p| {
                let (r, g, b) = (
                    rgb[p] as u32,
                    rgb[plane + p] as u32,
                    rgb[2 * plane + p] as u32,
                );
                ((299 * r + 587 * g + 114 * b + 500) / 1000) as u8
            }));
        } else {
            pixels.extend_from_slice(&rgb);
        }
        labels.push(label);
    }
    let [train, test] = parts.map(|(pixels, labels)| {
        (!labels.is_empty()).then(|| Dataset::new(shape, classes.len(), pixels, labels))
    });
    let train = train.transpose()?;
    let test = test.transpose()?;
    let test = if has_split { test } else { None };
    finish(title, classes, train, test)
}

/// "flowers: 5 classes, 3x32x32, 400 + 80 images": a set in one line (the page's picker, the
/// CLI's report).
pub fn summary(
    title: &str,
    classes: usize,
    s: ImageShape,
    (train, test): (usize, usize),
) -> String {
    format!(
        "{title}: {classes} classes, {}x{}x{}, {train} + {test} images",
        s.channels, s.height, s.width
    )
}

impl OwnSet {
    /// The `data=` value of this set.
    pub fn spec(&self) -> Result<OwnData, String> {
        OwnData::new(&self.name, self.train.shape, self.classes.len())
    }

    /// A line for the picker: "flowers: 5 classes, 3x32x32, 400 + 80 images".
    pub fn summary(&self) -> String {
        summary(
            &self.title,
            self.classes.len(),
            self.train.shape,
            (self.train.len(), self.test.len()),
        )
    }

    /// The set as one safetensors file: `train_images` and `test_images` (u8, N x C x H x
    /// W), `train_labels` and `test_labels` (u8, N), and the name, title and class names as
    /// metadata. The same set always gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = self.train.shape;
        let dims = |d: &Dataset| vec![d.len(), s.channels, s.height, s.width];
        let views: Vec<(String, TensorView<'_>)> = [
            ("train_images", dims(&self.train), &self.train.images[..]),
            (
                "train_labels",
                vec![self.train.len()],
                &self.train.labels[..],
            ),
            ("test_images", dims(&self.test), &self.test.images[..]),
            ("test_labels", vec![self.test.len()], &self.test.labels[..]),
        ]
        .into_iter()
        .map(|(n, shape, data)| {
            (
                n.to_string(),
                TensorView::new(Dtype::U8, shape, data).expect("sizes agree"),
            )
        })
        .collect();
        let metadata = [
            ("format", FORMAT.to_string()),
            ("version", "1".to_string()),
            ("name", self.name.clone()),
            ("title", self.title.clone()),
            (
                "classes",
                serde_json::to_string(&self.classes).expect("strings serialise"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut bytes = safetensors::serialize(views, Some(metadata)).expect("valid tensors");
        canonical_header(&mut bytes);
        bytes
    }

    /// Reads [`OwnSet::to_bytes`] back; anything else is refused with the reason.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DataError> {
        let bad = |why: String| DataError::Invalid(format!("not a riglab data set file: {why}"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad("its format entry is not riglab-data".into()));
        }
        let field = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("no {k} entry")))
        };
        let classes: Vec<String> = serde_json::from_str(&field("classes")?)
            .map_err(|e| bad(format!("its class list is damaged: {e}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let split = |which: &str| -> Result<Dataset, DataError> {
            let tensor = |k: String| {
                st.tensor(&k)
                    .map_err(|_| bad(format!("no tensor {k}")))
                    .and_then(|t| {
                        if t.dtype() == Dtype::U8 {
                            Ok(t)
                        } else {
                            Err(bad(format!("{k} is not u8")))
                        }
                    })
            };
            let images = tensor(format!("{which}_images"))?;
            let labels = tensor(format!("{which}_labels"))?;
            let &[n, c, h, w] = images.shape() else {
                return Err(bad(format!("{which}_images is not N x C x H x W")));
            };
            if labels.shape() != [n] {
                return Err(bad(format!("{which}_labels does not hold {n} labels")));
            }
            Dataset::new(
                ImageShape::new(c, h, w),
                classes.len(),
                images.data().to_vec(),
                labels.data().to_vec(),
            )
        };
        let (train, test) = (split("train")?, split("test")?);
        let set = OwnSet {
            name: field("name")?,
            title: field("title")?,
            classes,
            train,
            test,
        };
        if set.train.shape != set.test.shape {
            return Err(bad("its splits hold images of different shapes".into()));
        }
        set.spec().map_err(bad)?;
        Ok(set)
    }
}

/// Rewrites a safetensors header with its keys in sorted order (the metadata is a HashMap,
/// whose order changes from run to run), so that the same state always gives the same
/// bytes: the page and the CLI write identical files (checkpoints, own sets). The header keeps its length.
pub fn canonical_header(bytes: &mut [u8]) {
    let Some(n) = bytes
        .get(..8)
        .and_then(|b| usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok())
    else {
        return;
    };
    let Some(header) = bytes.get_mut(8..8 + n) else {
        return;
    };
    let text_len = header.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&header[..text_len]) else {
        return;
    };
    // serde_json's maps are sorted by key.
    if let Ok(sorted) = serde_json::to_vec(&value)
        && sorted.len() == text_len
    {
        header[..text_len].copy_from_slice(&sorted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(path: &str, w: usize, h: usize, rgb: [u8; 3]) -> RgbaImage {
        RgbaImage {
            path: path.into(),
            width: w,
            height: h,
            rgba: (0..w * h)
                .flat_map(|_| [rgb[0], rgb[1], rgb[2], 255])
                .collect(),
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("My Flowers (2).zip"), "my-flowers-2");
        assert_eq!(
            slug("train-images-idx3-ubyte.gz"),
            "train-images-idx3-ubyte"
        );
        assert_eq!(slug("folder/Data_Set"), "data-set");
        assert_eq!(slug("***"), "my-data");
        assert_eq!(slug(&"a".repeat(60)).len(), OwnData::MAX_NAME);
    }

    #[test]
    fn resize_averages_the_centre_square() {
        // A 4x2 image: the centre 2x2 square is columns 1 and 2.
        let mut img = image("c/a.png", 4, 2, [0, 0, 0]);
        for (i, v) in [(1, 10), (2, 30), (5, 50), (6, 70)] {
            img.rgba[4 * i] = v;
        }
        let out = resize_square(&img, 1);
        assert_eq!(out, vec![40, 0, 0]); // (10 + 30 + 50 + 70) / 4
        let out = resize_square(&img, 2);
        assert_eq!(&out[..4], &[10, 30, 50, 70]);
        // Up: each pixel repeated.
        assert_eq!(&resize_square(&img, 4)[..4], &[10, 10, 30, 30]);
    }

    #[test]
    fn decoded_images_are_kept_small_the_same_way_twice() {
        let mut big = image("c/big.png", 200, 130, [0, 0, 0]);
        for (i, v) in big.rgba.iter_mut().enumerate() {
            *v = (i % 251) as u8;
        }
        let once = reduce(big.clone());
        assert_eq!((once.width, once.height), (KEEP_SIDE, KEEP_SIDE));
        assert_eq!(reduce(once.clone()), once, "reducing twice changes nothing");
        // The average of the first 3x3 block of the centre square (130 of 200 columns, from
        // column 35; 130 / 64 -> blocks of 3 source pixels), red channel.
        let mut sum = 0u32;
        for y in 0..3 {
            for x in 0..3 {
                sum += u32::from(big.rgba[4 * (y * 200 + 35 + x)]);
            }
        }
        assert_eq!(u32::from(once.rgba[0]), (sum + 4) / 9);
        let small = image("c/s.png", 30, 30, [1, 2, 3]);
        assert_eq!(reduce(small.clone()), small);
    }

    #[test]
    fn class_folders_become_classes_sorted_and_split_every_sixth() {
        let mut images = Vec::new();
        for i in 0..12 {
            images.push(image(
                &format!("pets/dogs/{i}.png"),
                10,
                12,
                [200, 200, 200],
            ));
        }
        for i in 0..3 {
            images.push(image(&format!("pets/cats/{i}.png"), 9, 9, [50, 50, 50]));
        }
        let set = assemble("pets.zip", &[], images, ImageOptions::default()).unwrap();
        assert_eq!(set.name, "pets");
        assert_eq!(set.classes, ["cats", "dogs"]);
        // Auto: grey (all pixels grey), side = smallest side, 9.
        assert_eq!(set.train.shape, ImageShape::new(1, 9, 9));
        assert_eq!(set.spec().unwrap().to_string(), "own:pets:1x9x9:2");
        // Dogs: 12 images, test = the 6th and 12th; cats: 3, test = the last.
        assert_eq!(set.test.class_counts(), vec![1, 2]);
        assert_eq!(set.train.class_counts(), vec![2, 10]);
        let cat = set.train.labels.iter().position(|&l| l == 0).unwrap();
        assert!(set.train.image(cat).iter().all(|&p| p == 50));
    }

    #[test]
    fn rgb_is_kept_and_sizes_are_chosen() {
        let images = vec![
            image("a/1.png", 40, 40, [255, 0, 0]),
            image("a/2.png", 40, 40, [255, 0, 0]),
            image("b/1.png", 50, 64, [0, 0, 255]),
            image("b/2.png", 50, 64, [0, 0, 255]),
        ];
        let set = assemble("x", &[], images.clone(), ImageOptions::default()).unwrap();
        assert_eq!(set.train.shape, ImageShape::new(3, 32, 32)); // capped at 32
        assert_eq!(&set.train.image(0)[..1], &[255]);
        assert_eq!(set.train.image(0)[1024], 0);
        let grey = ImageOptions {
            side: Some(16),
            colour: Colour::Grey,
        };
        let set = assemble("x", &[], images, grey).unwrap();
        assert_eq!(set.train.shape, ImageShape::new(1, 16, 16));
        assert_eq!(set.train.image(0)[0], 76); // 0.299 * 255
    }

    #[test]
    fn train_and_test_folders_are_kept() {
        let mut images = Vec::new();
        for split in ["train", "test"] {
            for c in ["a", "b"] {
                images.push(image(&format!("d/{split}/{c}/x.png"), 8, 8, [1, 1, 1]));
            }
        }
        images.push(image("d/train/a/y.png", 8, 8, [1, 1, 1]));
        let set = assemble("d", &[], images, ImageOptions::default()).unwrap();
        assert_eq!((set.train.len(), set.test.len()), (3, 2));
    }

    #[test]
    fn bad_image_sets_say_what_is_wrong() {
        let err = |images, opts| assemble("x", &[], images, opts).unwrap_err().to_string();
        let ok = ImageOptions::default();
        let e = err(vec![image("loose.png", 9, 9, [0; 3])], ok);
        assert!(e.contains("loose.png") && e.contains("class folder"), "{e}");
        let e = err(
            vec![
                image("a/1.png", 9, 9, [0; 3]),
                image("a/2.png", 9, 9, [0; 3]),
            ],
            ok,
        );
        assert!(e.contains("at least 2"), "{e}");
        let two = vec![
            image("a/1.png", 9, 9, [0; 3]),
            image("a/2.png", 9, 9, [0; 3]),
            image("b/1.png", 9, 9, [0; 3]),
        ];
        let e = err(two.clone(), ok);
        assert!(e.contains("class 'b' has 1 image"), "{e}");
        let tiny = vec![
            image("a/1.png", 4, 4, [0; 3]),
            image("b/1.png", 4, 4, [0; 3]),
        ];
        let e = err(tiny, ok);
        assert!(e.contains("a/1.png") && e.contains("4x4"), "{e}");
        let mut broken = two;
        broken[0].rgba.pop();
        let e = err(broken, ok);
        assert!(
            e.contains("a/1.png") && e.contains("could not be read"),
            "{e}"
        );
        let e = assemble(
            "x",
            &[("notes.bin".into(), vec![1, 2, 3])],
            vec![image("a/1.png", 9, 9, [0; 3])],
            ok,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("notes.bin") && e.contains("not both"), "{e}");
    }

    fn idx_pair(n: usize, h: usize, w: usize, labels: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let ds = Dataset::new(
            ImageShape::new(1, h, w),
            256,
            (0..n * h * w).map(|i| i as u8).collect(),
            labels.to_vec(),
        )
        .unwrap();
        (
            super::super::write_idx_images(&ds),
            super::super::write_idx_labels(&ds),
        )
    }

    #[test]
    fn idx_pairs_any_size_classes_from_labels() {
        let labels: Vec<u8> = (0..24).map(|i| (i % 3) as u8).collect();
        let (imgs, labs) = idx_pair(24, 10, 12, &labels);
        let files = vec![
            ("letters-images-idx3-ubyte".to_string(), imgs.clone()),
            ("letters-labels-idx1-ubyte".to_string(), labs.clone()),
            ("README.txt".to_string(), b"ignored".to_vec()),
        ];
        let set = assemble(
            "letters-images-idx3-ubyte",
            &files,
            vec![],
            ImageOptions::default(),
        )
        .unwrap();
        assert_eq!(set.classes, ["0", "1", "2"]);
        assert_eq!(set.train.shape, ImageShape::new(1, 10, 12));
        // 8 per class: the 6th of each goes to test.
        assert_eq!(set.test.class_counts(), vec![1, 1, 1]);
        assert_eq!(set.train.len(), 21);
        // With a t10k pair, the files' split is kept.
        let (timgs, tlabs) = idx_pair(3, 10, 12, &[0, 1, 2]);
        let mut files = files;
        files.push(("t10k-images-idx3-ubyte".into(), timgs));
        files.push(("t10k-labels-idx1-ubyte".into(), tlabs));
        let set = assemble("x", &files, vec![], ImageOptions::default()).unwrap();
        assert_eq!((set.train.len(), set.test.len()), (24, 3));
    }

    #[test]
    fn bad_data_files_are_named() {
        let labels: Vec<u8> = (0..6).map(|i| (i % 2) as u8).collect();
        let (imgs, labs) = idx_pair(6, 9, 9, &labels);
        let e = |files: Vec<(String, Vec<u8>)>| {
            assemble("x", &files, vec![], ImageOptions::default())
                .unwrap_err()
                .to_string()
        };
        let msg = e(vec![("a-images".into(), imgs.clone())]);
        assert!(
            msg.contains("1 IDX image file(s) and 0 label file(s)"),
            "{msg}"
        );
        let (_, short_labels) = idx_pair(5, 9, 9, &labels[..5]);
        let msg = e(vec![
            ("a-images".into(), imgs.clone()),
            ("a-labels".into(), short_labels),
        ]);
        assert!(
            msg.contains("a-images and a-labels") && msg.contains("6 images but 5 labels"),
            "{msg}"
        );
        let mut cut = imgs.clone();
        cut.truncate(100);
        let msg = e(vec![
            ("a-images".into(), cut),
            ("a-labels".into(), labs.clone()),
        ]);
        assert!(msg.contains("truncated"), "{msg}");
        let msg = e(vec![("photo.raw".into(), vec![9; 50])]);
        assert!(
            msg.contains("photo.raw") && msg.contains("not an IDX file"),
            "{msg}"
        );
        let msg = e(vec![("data_batch_1.bin".into(), vec![0; 3000])]);
        assert!(
            msg.contains("data_batch_1.bin") && msg.contains("truncated"),
            "{msg}"
        );
        let mut record = vec![11u8];
        record.extend(vec![0; 3072]);
        let msg = e(vec![("data_batch_1.bin".into(), record)]);
        assert!(
            msg.contains("label 11") && msg.contains("out of range"),
            "{msg}"
        );
    }

    #[test]
    fn cifar_batches_train_and_test() {
        let record = |label: u8| {
            let mut r = vec![label];
            r.extend(vec![label * 10; 3072]);
            r
        };
        let batch = |labels: &[u8]| labels.iter().flat_map(|&l| record(l)).collect::<Vec<u8>>();
        let files = vec![
            (
                "cifar-10-batches-bin/data_batch_1.bin".to_string(),
                batch(&[0, 1, 2]),
            ),
            (
                "cifar-10-batches-bin/data_batch_2.bin".to_string(),
                batch(&[3, 4]),
            ),
            (
                "cifar-10-batches-bin/test_batch.bin".to_string(),
                batch(&[5, 6]),
            ),
            (
                "cifar-10-batches-bin/batches.meta.txt".to_string(),
                b"airplane".to_vec(),
            ),
        ];
        let set = assemble(
            "cifar-10-batches-bin",
            &files,
            vec![],
            ImageOptions::default(),
        )
        .unwrap();
        assert_eq!((set.train.len(), set.test.len()), (5, 2));
        assert_eq!(set.train.labels, [0, 1, 2, 3, 4]);
        assert_eq!(set.classes[9], "truck");
        assert_eq!(
            set.spec().unwrap().to_string(),
            "own:cifar-10-batches-bin:3x32x32:10"
        );
    }

    #[test]
    fn the_file_round_trips_and_foreign_files_are_refused() {
        let images: Vec<RgbaImage> = (0..8)
            .map(|i| {
                image(
                    &format!("{}/{i}.png", ["x", "y"][i % 2]),
                    8,
                    8,
                    [i as u8 * 9, 0, 3],
                )
            })
            .collect();
        let set = assemble("round trip", &[], images, ImageOptions::default()).unwrap();
        let bytes = set.to_bytes();
        assert_eq!(bytes, set.to_bytes(), "the same set gives the same bytes");
        assert_eq!(OwnSet::from_bytes(&bytes).unwrap(), set);
        for cut in [0, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(OwnSet::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let e = OwnSet::from_bytes(b"hello").unwrap_err().to_string();
        assert!(e.contains("not a riglab data set file"), "{e}");
    }
}
