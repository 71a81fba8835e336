//! The CIFAR-10 binary format: records of 1 label byte then 3072 pixel bytes, three 32x32
//! planes R, G, B, row-major. Plain or gzipped.

use super::{DataError, Dataset, ImageShape, gunzip_if_gzipped};

pub const CIFAR10_SHAPE: ImageShape = ImageShape::new(3, 32, 32);
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
const RECORD: usize = 1 + 3 * 32 * 32;

/// Parses a CIFAR-10 binary file (any number of whole records).
pub fn parse_cifar(bytes: &[u8]) -> Result<Dataset, DataError> {
    let bytes = gunzip_if_gzipped(bytes)?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        let whole = bytes.len() / RECORD;
        return Err(DataError::Truncated {
            what: format!("CIFAR-10 binary ({whole} whole records of {RECORD} bytes)"),
            expected: (whole + 1) * RECORD,
            found: bytes.len(),
        });
    }
    let n = bytes.len() / RECORD;
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for record in bytes.chunks_exact(RECORD) {
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    Dataset::new(CIFAR10_SHAPE, CIFAR10_CLASSES.len(), images, labels)
}

/// Serialises a data set of 3x32x32 images in the CIFAR-10 binary layout.
pub fn write_cifar(ds: &Dataset) -> Vec<u8> {
    assert_eq!(
        ds.shape, CIFAR10_SHAPE,
        "CIFAR-10 records hold 3x32x32 images"
    );
    let mut out = Vec::with_capacity(ds.len() * RECORD);
    for i in 0..ds.len() {
        out.push(ds.labels[i]);
        out.extend_from_slice(ds.image(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::gzip;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(fill, 3072));
        r
    }

    #[test]
    fn parses_records_plain_and_gzipped() {
        let mut f = record(3, 10);
        f.extend(record(7, 20));
        for bytes in [f.clone(), gzip(&f)] {
            let ds = parse_cifar(&bytes).unwrap();
            assert_eq!(ds.labels, vec![3, 7]);
            assert_eq!(ds.image(1)[0], 20);
            assert_eq!(ds.image(0).len(), 3072);
            assert_eq!(write_cifar(&ds), f);
        }
    }

    #[test]
    fn truncated_record_is_named() {
        let mut f = record(3, 10);
        f.extend(record(7, 20));
        f.truncate(RECORD + 100);
        let err = parse_cifar(&f).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 6146,
                    found: 3173,
                    ..
                }
            ),
            "{err}"
        );
        assert!(parse_cifar(&[]).is_err());
    }

    #[test]
    fn mislabelled_record_is_named() {
        let mut f = record(3, 10);
        f.extend(record(12, 20));
        let err = parse_cifar(&f).unwrap_err();
        assert!(matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 12,
                ..
            }
        ));
    }
}
