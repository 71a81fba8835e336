//! The IDX format of MNIST and Fashion-MNIST (plain or gzipped): a 4-byte magic
//! `00 00 08 nd` (unsigned bytes, nd dimensions), nd big-endian u32 sizes, then the data.

use super::{DataError, Dataset, ImageShape, gunzip_if_gzipped};

const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the header and returns the dimensions and the payload.
fn parse_idx<'a>(
    bytes: &'a [u8],
    what: &str,
    magic: u32,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let truncated = |expected| DataError::Truncated {
        what: what.to_string(),
        expected,
        found: bytes.len(),
    };
    if bytes.len() < 4 {
        return Err(truncated(4));
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(DataError::BadMagic {
            what: what.to_string(),
            expected: magic,
            found,
        });
    }
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(truncated(header));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| be_u32(bytes, 4 + 4 * i) as usize)
        .collect();
    let payload = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::Invalid(format!("{what}: dimensions {dims:?} overflow")))?;
    let expected = header + payload;
    if bytes.len() < expected {
        return Err(truncated(expected));
    }
    if bytes.len() > expected {
        return Err(DataError::TrailingBytes {
            what: what.to_string(),
            expected,
            found: bytes.len(),
        });
    }
    Ok((dims, &bytes[header..]))
}

/// Parses an IDX image file and its IDX label file into a data set of 1-channel images.
pub fn parse_idx_images(
    images: &[u8],
    labels: &[u8],
    num_classes: usize,
) -> Result<Dataset, DataError> {
    let images = gunzip_if_gzipped(images)?;
    let labels = gunzip_if_gzipped(labels)?;
    let (dims, pixels) = parse_idx(&images, "IDX images", IDX_IMAGES_MAGIC)?;
    let labels = parse_idx_labels(&labels)?;
    if dims[0] != labels.len() {
        return Err(DataError::CountMismatch {
            images: dims[0],
            labels: labels.len(),
        });
    }
    Dataset::new(
        ImageShape::new(1, dims[1], dims[2]),
        num_classes,
        pixels.to_vec(),
        labels,
    )
}

/// Parses an IDX label file (plain bytes after inflating, if gzipped).
pub fn parse_idx_labels(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let bytes = gunzip_if_gzipped(bytes)?;
    let (_, labels) = parse_idx(&bytes, "IDX labels", IDX_LABELS_MAGIC)?;
    Ok(labels.to_vec())
}

/// Serialises the images of a 1-channel data set as an IDX image file.
pub fn write_idx_images(ds: &Dataset) -> Vec<u8> {
    assert_eq!(ds.shape.channels, 1, "IDX holds single-channel images");
    let mut out = Vec::with_capacity(16 + ds.images.len());
    for v in [
        IDX_IMAGES_MAGIC,
        ds.len() as u32,
        ds.shape.height as u32,
        ds.shape.width as u32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&ds.images);
    out
}

/// Serialises the labels of a data set as an IDX label file.
pub fn write_idx_labels(ds: &Dataset) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + ds.len());
    out.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(ds.len() as u32).to_be_bytes());
    out.extend_from_slice(&ds.labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::gzip;

    /// Two 2x3 images by hand: header bytes written out, not produced by the writer.
    fn images_file() -> Vec<u8> {
        let mut f = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        f.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        f
    }

    fn labels_file() -> Vec<u8> {
        vec![0, 0, 8, 1, 0, 0, 0, 2, 9, 4]
    }

    #[test]
    fn parses_a_hand_made_file() {
        let ds = parse_idx_images(&images_file(), &labels_file(), 10).unwrap();
        assert_eq!(ds.shape, ImageShape::new(1, 2, 3));
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.image(1), &[7, 8, 9, 10, 11, 12]);
        assert_eq!(ds.labels, vec![9, 4]);
    }

    #[test]
    fn parses_gzipped_files_and_round_trips_through_the_writer() {
        let ds = parse_idx_images(&gzip(&images_file()), &gzip(&labels_file()), 10).unwrap();
        assert_eq!(write_idx_images(&ds), images_file());
        assert_eq!(write_idx_labels(&ds), labels_file());
    }

    #[test]
    fn truncated_file_is_named() {
        let mut f = images_file();
        f.pop();
        let err = parse_idx_images(&f, &labels_file(), 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 28,
                    found: 27,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("truncated"));
        let err = parse_idx_labels(&[0, 0, 8]).unwrap_err();
        assert!(matches!(
            err,
            DataError::Truncated {
                expected: 4,
                found: 3,
                ..
            }
        ));
    }

    #[test]
    fn wrong_magic_is_named() {
        // A label file given where images are expected.
        let err = parse_idx_images(&labels_file(), &labels_file(), 10).unwrap_err();
        assert!(matches!(
            err,
            DataError::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ));
        assert!(err.to_string().contains("0x00000801"));
    }

    #[test]
    fn mislabelled_file_is_named() {
        let mut labels = labels_file();
        labels[9] = 10; // class 10 of 10 classes
        let err = parse_idx_images(&images_file(), &labels, 10).unwrap_err();
        assert!(matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                num_classes: 10
            }
        ));
    }

    #[test]
    fn count_mismatch_and_trailing_bytes_are_named() {
        let labels = vec![0, 0, 8, 1, 0, 0, 0, 1, 3];
        let err = parse_idx_images(&images_file(), &labels, 10).unwrap_err();
        assert!(matches!(
            err,
            DataError::CountMismatch {
                images: 2,
                labels: 1
            }
        ));
        let mut f = images_file();
        f.push(0);
        let err = parse_idx_images(&f, &labels_file(), 10).unwrap_err();
        assert!(matches!(err, DataError::TrailingBytes { .. }));
    }
}
