//! Gzip: natively with flate2; the page inflates files with the browser's
//! DecompressionStream before parsing (src/app/fetch.rs), so its wasm carries no inflater.

use std::borrow::Cow;
#[cfg(not(target_arch = "wasm32"))]
use std::io::{Read, Write};

#[cfg(not(target_arch = "wasm32"))]
use flate2::{Compression, read::MultiGzDecoder, write::GzEncoder};

use super::DataError;

/// Refuse to inflate more than this (a defence against decompression bombs): far above any
/// data set riglab works with (full MNIST training images are 47 MB).
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Whether `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[..2] == [0x1f, 0x8b]
}

/// Returns the bytes themselves, or their inflated form when they start with the gzip magic.
#[cfg(not(target_arch = "wasm32"))]
pub fn gunzip_if_gzipped(bytes: &[u8]) -> Result<Cow<'_, [u8]>, DataError> {
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(DataError::Gzip(format!(
            "inflates to more than {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    Ok(Cow::Owned(out))
}

/// The page: the bytes themselves; gzip reaching the parser is an error (the page inflates
/// files as it fetches them).
#[cfg(target_arch = "wasm32")]
pub fn gunzip_if_gzipped(bytes: &[u8]) -> Result<Cow<'_, [u8]>, DataError> {
    if is_gzip(bytes) {
        return Err(DataError::Gzip(
            "gzip data reached the parser; the page inflates files as it fetches them".into(),
        ));
    }
    Ok(Cow::Borrowed(bytes))
}

/// Compresses with the best gzip level (files are written once and fetched many times).
#[cfg(not(target_arch = "wasm32"))]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_pass_through_and_gzip_round_trips() {
        let data = b"riglab data".to_vec();
        assert_eq!(&*gunzip_if_gzipped(&data).unwrap(), &data[..]);
        let z = gzip(&data);
        assert_eq!(&z[..2], &[0x1f, 0x8b]);
        assert_eq!(&*gunzip_if_gzipped(&z).unwrap(), &data[..]);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut z = gzip(&[7u8; 1000]);
        let n = z.len();
        z.truncate(n / 2);
        assert!(matches!(gunzip_if_gzipped(&z), Err(DataError::Gzip(_))));
    }
}
