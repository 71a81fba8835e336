use thiserror::Error;

/// Everything that can be wrong with a data file. Messages name the problem and the numbers.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{what}: file is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        what: String,
        expected: usize,
        found: usize,
    },
    #[error(
        "{what}: file is longer than its header says: expected {expected} bytes, found {found}"
    )]
    TrailingBytes {
        what: String,
        expected: usize,
        found: usize,
    },
    #[error(
        "{what}: wrong magic number 0x{found:08x} (expected 0x{expected:08x}); is this the right file?"
    )]
    BadMagic {
        what: String,
        expected: u32,
        found: u32,
    },
    #[error("label {label} of item {index} is out of range: there are {num_classes} classes")]
    LabelOutOfRange {
        index: usize,
        label: u8,
        num_classes: usize,
    },
    #[error("{images} images but {labels} labels")]
    CountMismatch { images: usize, labels: usize },
    #[error("gzip data is corrupt: {0}")]
    Gzip(String),
    #[error("{0}")]
    Invalid(String),
}
