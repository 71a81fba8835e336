//! Reading .zip archives (a folder of class folders, zipped): the central directory is
//! parsed here, and each entry is inflated by the caller (flate2 natively, the browser's
//! `DecompressionStream("deflate-raw")` in the page, so the page's wasm carries no
//! inflater). Stored and deflated entries are read; ZIP64 and encrypted archives are
//! refused with a message.

use super::DataError;

/// One file in an archive, not yet inflated.
#[derive(Clone, Debug, PartialEq)]
pub struct ZipEntry<'a> {
    /// The path inside the archive, with `/` between folders.
    pub name: String,
    pub compression: Compression,
    /// The entry's bytes as stored in the archive.
    pub data: &'a [u8],
    /// The size once inflated (from the central directory).
    pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Stored,
    Deflated,
}

const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Whether `bytes` start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    u32_at(bytes, 0) == Some(LOCAL_HEADER) || u32_at(bytes, 0) == Some(END_OF_DIRECTORY)
}

/// The files of an archive (folders left out), in the order of its central directory.
pub fn zip_entries(bytes: &[u8]) -> Result<Vec<ZipEntry<'_>>, DataError> {
    let bad = |why: &str| DataError::Invalid(format!("zip archive: {why}"));
    let truncated = || bad("truncated or damaged (its directory does not fit the file)");
    // The end-of-directory record is the last 22 bytes, followed by a comment of at most
    // 65535 bytes.
    let earliest = bytes.len().saturating_sub(22 + 65_535);
    let end = (earliest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(END_OF_DIRECTORY))
        .ok_or_else(|| bad("no end-of-directory record: not a zip file, or cut short"))?;
    let count = u16_at(bytes, end + 10).ok_or_else(truncated)? as usize;
    let dir_size = u32_at(bytes, end + 12).ok_or_else(truncated)? as usize;
    let dir_start = u32_at(bytes, end + 16).ok_or_else(truncated)? as usize;
    if count == 0xffff || dir_start == 0xffff_ffff {
        return Err(bad(
            "ZIP64 archives are not read; zip fewer or smaller files",
        ));
    }
    if dir_start.checked_add(dir_size).is_none_or(|e| e > end) {
        return Err(truncated());
    }
    let mut entries = Vec::with_capacity(count);
    let mut at = dir_start;
    for _ in 0..count {
        if u32_at(bytes, at) != Some(DIRECTORY_ENTRY) {
            return Err(truncated());
        }
        let field = |off| u16_at(bytes, at + off).ok_or_else(truncated);
        let flags = field(8)?;
        let method = field(10)?;
        let packed = u32_at(bytes, at + 20).ok_or_else(truncated)? as usize;
        let size = u32_at(bytes, at + 24).ok_or_else(truncated)?;
        let (name_len, extra_len, comment_len) = (
            field(28)? as usize,
            field(30)? as usize,
            field(32)? as usize,
        );
        let local = u32_at(bytes, at + 42).ok_or_else(truncated)? as usize;
        let name_bytes = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name_bytes).replace('\\', "/");
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            return Err(bad(&format!("{name} is encrypted")));
        }
        let compression = match method {
            0 => Compression::Stored,
            8 => Compression::Deflated,
            m => {
                return Err(bad(&format!(
                    "{name} is compressed with method {m}; only stored and deflated files are read"
                )));
            }
        };
        if u32_at(bytes, local) != Some(LOCAL_HEADER) {
            return Err(truncated());
        }
        let data_start = local
            + 30
            + u16_at(bytes, local + 26).ok_or_else(truncated)? as usize
            + u16_at(bytes, local + 28).ok_or_else(truncated)? as usize;
        let data = bytes
            .get(data_start..data_start + packed)
            .ok_or_else(truncated)?;
        if compression == Compression::Stored && packed != size as usize {
            return Err(bad(&format!("{name}: stored size and size differ")));
        }
        entries.push(ZipEntry {
            name,
            compression,
            data,
            size: u64::from(size),
        });
    }
    Ok(entries)
}

/// A zip archive of stored (uncompressed) files, for tests: no timestamps, so the same
/// files give the same bytes.
pub fn write_stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    write_zip(
        &files
            .iter()
            .map(|&(n, d)| (n, d, d, Compression::Stored, crc32(d)))
            .collect::<Vec<_>>(),
    )
}

/// An entry to write: name, plain bytes, stored bytes, compression, CRC of the plain bytes.
type Packed<'a> = (&'a str, &'a [u8], &'a [u8], Compression, u32);

/// Writes entries as given.
fn write_zip(files: &[Packed<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for &(name, plain, packed, compression, crc) in files {
        let method: u16 = match compression {
            Compression::Stored => 0,
            Compression::Deflated => 8,
        };
        let local = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&[0; 4]); // time, date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            v.extend_from_slice(&(plain.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(packed);
        directory.extend_from_slice(&DIRECTORY_ENTRY.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut directory);
        directory.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        directory.extend_from_slice(&[0; 4]); // external attributes
        directory.extend_from_slice(&local.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let dir_start = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&END_OF_DIRECTORY.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&dir_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// CRC-32 (IEEE), as zip stores it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_string() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn reads_back_what_it_writes_and_skips_folders() {
        let zip = write_stored_zip(&[
            ("cats/", b""),
            ("cats/a.png", b"abc"),
            ("dogs\\b.png", b"de"),
        ]);
        assert!(is_zip(&zip));
        let e = zip_entries(&zip).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].name.as_str(), e[0].data), ("cats/a.png", &b"abc"[..]));
        assert_eq!((e[1].name.as_str(), e[1].size), ("dogs/b.png", 2));
        assert_eq!(e[0].compression, Compression::Stored);
    }

    #[test]
    fn deflated_entries_inflate_natively() {
        use std::io::{Read, Write};
        let plain = b"the same bytes, the same bytes, the same bytes".repeat(10);
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&plain).unwrap();
        let packed = enc.finish().unwrap();
        let zip = write_zip(&[(
            "a/x.bin",
            &plain,
            &packed,
            Compression::Deflated,
            crc32(&plain),
        )]);
        let e = zip_entries(&zip).unwrap();
        assert_eq!(e[0].compression, Compression::Deflated);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(e[0].data)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn damaged_archives_are_refused_with_a_reason() {
        let zip = write_stored_zip(&[("a/x.png", b"abcdef")]);
        for cut in [0, 10, zip.len() - 30, zip.len() - 1] {
            assert!(zip_entries(&zip[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = zip.clone();
        let dir = bad.len() - 22 - (46 + 7);
        bad[dir + 10] = 14; // method 14 (LZMA)
        let e = zip_entries(&bad).unwrap_err().to_string();
        assert!(e.contains("method 14"), "{e}");
        assert!(zip_entries(b"not a zip at all, just text").is_err());
    }
}
