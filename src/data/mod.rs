//! Image classification data: the IDX (MNIST) and CIFAR-10 binary formats, class-balanced
//! subsets and the manifest of prepared sets. Shared by the preparation tool (native) and
//! the page (wasm), so a file a user drops into the page goes through the same parser.

pub mod augment;
mod cifar;
mod error;
mod gz;
mod idx;
mod manifest;
pub mod own;
mod subset;
pub mod zip;

pub use cifar::{CIFAR10_CLASSES, CIFAR10_SHAPE, parse_cifar, write_cifar};
pub use error::DataError;
#[cfg(not(target_arch = "wasm32"))]
pub use gz::gzip;
pub use gz::{MAX_DECOMPRESSED_BYTES, gunzip_if_gzipped, is_gzip};
pub use idx::{parse_idx_images, parse_idx_labels, write_idx_images, write_idx_labels};
pub use manifest::{FileEntry, FileRole, Format, Manifest, SetEntry, SplitEntry};
pub use subset::balanced_subset;

/// Shape of one image: channels, height, width. Pixels are stored channel-major (CHW).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Bytes (= pixels over all channels) in one image.
    pub const fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A labelled set of 8-bit images, stored contiguously image after image (CHW each).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub shape: ImageShape,
    pub num_classes: usize,
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Builds a data set, checking that the sizes agree and every label names a class.
    pub fn new(
        shape: ImageShape,
        num_classes: usize,
        images: Vec<u8>,
        labels: Vec<u8>,
    ) -> Result<Self, DataError> {
        if shape.is_empty() {
            return Err(DataError::Invalid(
                "image shape has a zero dimension".into(),
            ));
        }
        if images.len() != labels.len() * shape.len() {
            return Err(DataError::CountMismatch {
                images: images.len() / shape.len(),
                labels: labels.len(),
            });
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= num_classes)
        {
            return Err(DataError::LabelOutOfRange {
                index,
                label,
                num_classes,
            });
        }
        Ok(Self {
            shape,
            num_classes,
            images,
            labels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Its first `n` images (all of them if it has fewer).
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            shape: self.shape,
            num_classes: self.num_classes,
            images: self.images[..n * self.shape.len()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// The pixels of image `i` (CHW).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Number of images of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }
}
