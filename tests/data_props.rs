//! Properties of the data readers (the same code reads prepared files in the page and in
//! the CLI): no input makes them panic, whatever they accept is a consistent data set, what
//! they write reads back unchanged, and a damaged file is refused or read, never a crash.
//! `./x fuzz` runs these at 100,000 cases each.

mod common;

use proptest::prelude::*;
use riglab::data::own::{ImageOptions, OwnSet, RgbaImage, assemble};
use riglab::data::zip::{write_stored_zip, zip_entries};
use riglab::data::{
    CIFAR10_SHAPE, Dataset, ImageShape, Manifest, gunzip_if_gzipped, gzip, parse_cifar,
    parse_idx_images, parse_idx_labels, write_cifar, write_idx_images, write_idx_labels,
};

/// What every accepted data set must satisfy.
fn consistent(ds: &Dataset) -> Result<(), TestCaseError> {
    prop_assert_eq!(ds.images.len(), ds.len() * ds.shape.len());
    prop_assert!(ds.labels.iter().all(|&l| usize::from(l) < ds.num_classes));
    Ok(())
}

/// An IDX header (magic, then big-endian sizes) followed by `body`.
fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// A small random 1-channel data set.
fn gray_set() -> impl Strategy<Value = Dataset> {
    (1usize..6, 1usize..6, 0usize..12).prop_flat_map(|(h, w, n)| {
        (
            proptest::collection::vec(any::<u8>(), n * h * w),
            proptest::collection::vec(0u8..10, n),
        )
            .prop_map(move |(images, labels)| {
                Dataset::new(ImageShape::new(1, h, w), 10, images, labels).unwrap()
            })
    })
}

/// A small random CIFAR-10 shaped data set.
fn colour_set() -> impl Strategy<Value = Dataset> {
    (1usize..4).prop_flat_map(|n| {
        (
            proptest::collection::vec(any::<u8>(), n * CIFAR10_SHAPE.len()),
            proptest::collection::vec(0u8..10, n),
        )
            .prop_map(|(images, labels)| Dataset::new(CIFAR10_SHAPE, 10, images, labels).unwrap())
    })
}

/// Sizes that hit the edges: zero, small, and near the top of u32.
fn size() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..8, Just(28), any::<u32>(), (u32::MAX - 4)..=u32::MAX]
}

/// Cuts `bytes` at a fraction, or flips one bit at a fraction of its length.
fn damage(mut bytes: Vec<u8>, cut: Option<u16>, flip: (u16, u8)) -> Vec<u8> {
    if let Some(cut) = cut {
        bytes.truncate(usize::from(cut) * bytes.len() / usize::from(u16::MAX));
    }
    if !bytes.is_empty() {
        let i = usize::from(flip.0) * (bytes.len() - 1) / usize::from(u16::MAX);
        bytes[i] ^= 1 << (flip.1 % 8);
    }
    bytes
}

proptest! {
    #![proptest_config(common::prop_config(256))]

    #[test]
    fn random_bytes_never_panic(a in proptest::collection::vec(any::<u8>(), 0..256),
                                b in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(ds) = parse_idx_images(&a, &b, 10) { consistent(&ds)?; }
        let _ = parse_idx_labels(&a);
        if let Ok(ds) = parse_cifar(&a) { consistent(&ds)?; }
        let _ = gunzip_if_gzipped(&a);
        let _ = Manifest::parse(&String::from_utf8_lossy(&a));
    }

    /// Well-formed headers with any sizes: refused or consistent, never an overflow or a
    /// huge allocation.
    #[test]
    fn idx_headers_with_any_sizes(n in size(), h in size(), w in size(), m in size(),
                                  body in proptest::collection::vec(any::<u8>(), 0..200),
                                  labels in proptest::collection::vec(any::<u8>(), 0..20)) {
        let images = idx(0x0803, &[n, h, w], &body);
        let label_file = idx(0x0801, &[m], &labels);
        if let Ok(ds) = parse_idx_images(&images, &label_file, 10) { consistent(&ds)?; }
        // The wrong kind of file where the other is expected.
        prop_assert!(parse_idx_images(&label_file, &images, 10).is_err());
    }

    #[test]
    fn idx_round_trips(ds in gray_set(), gzipped in any::<bool>()) {
        let (mut images, mut labels) = (write_idx_images(&ds), write_idx_labels(&ds));
        if gzipped {
            images = gzip(&images);
            labels = gzip(&labels);
        }
        match parse_idx_images(&images, &labels, 10) {
            // A set without images has no shape to read back.
            Ok(back) => prop_assert_eq!(back, ds),
            Err(e) => prop_assert!(ds.is_empty(), "{e}"),
        }
    }

    #[test]
    fn cifar_round_trips(ds in colour_set(), gzipped in any::<bool>()) {
        let mut bytes = write_cifar(&ds);
        if gzipped {
            bytes = gzip(&bytes);
        }
        prop_assert_eq!(parse_cifar(&bytes).unwrap(), ds);
    }

    /// Real files cut short or with one bit changed (plain and gzipped).
    #[test]
    fn damaged_files_never_panic(gray in gray_set(), colour in colour_set(), gzipped in any::<bool>(),
                                 cut in proptest::option::of(any::<u16>()), flip in (any::<u16>(), any::<u8>())) {
        let pack = |b: Vec<u8>| if gzipped { gzip(&b) } else { b };
        let images = damage(pack(write_idx_images(&gray)), cut, flip);
        if let Ok(ds) = parse_idx_images(&images, &pack(write_idx_labels(&gray)), 10) { consistent(&ds)?; }
        let labels = damage(pack(write_idx_labels(&gray)), cut, flip);
        let _ = parse_idx_labels(&labels);
        let cifar = damage(pack(write_cifar(&colour)), cut, flip);
        if let Ok(ds) = parse_cifar(&cifar) { consistent(&ds)?; }
    }

    /// The readers of uploads and own sets: any bytes are refused or read, never a crash.
    #[test]
    fn upload_readers_take_any_bytes(a in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(entries) = zip_entries(&a) {
            for e in entries { prop_assert!(e.data.len() <= a.len()); }
        }
        if let Ok(set) = OwnSet::from_bytes(&a) { consistent(&set.train)?; consistent(&set.test)?; }
        for name in ["f.bin", "f-images-idx3", "test_batch.bin"] {
            if let Ok(set) = assemble("x", &[(name.into(), a.clone())], vec![], ImageOptions::default()) {
                consistent(&set.train)?;
                consistent(&set.test)?;
            }
        }
    }

    /// Zips read back what was stored; cut or bit-flipped, they are refused or read.
    #[test]
    fn zips_round_trip_and_damaged_ones_never_panic(
        files in proptest::collection::vec(("[a-z]{1,8}/[a-z]{1,8}[.]png", proptest::collection::vec(any::<u8>(), 0..64)), 1..6),
        cut in proptest::option::of(any::<u16>()), flip in (any::<u16>(), any::<u8>())) {
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        let zip = write_stored_zip(&refs);
        let entries = zip_entries(&zip).unwrap();
        prop_assert_eq!(entries.len(), files.len());
        for (e, (n, d)) in entries.iter().zip(&files) {
            prop_assert_eq!((&e.name, e.data), (n, d.as_slice()));
        }
        if let Ok(entries) = zip_entries(&damage(zip, cut, flip)) {
            for e in entries { prop_assert!(e.data.len() as u64 <= 1 << 16); }
        }
    }

    /// Own sets made from random class folders: consistent, the file reads back the same
    /// set, and a damaged file is refused or read, never a crash.
    #[test]
    fn own_sets_round_trip_and_damaged_ones_never_panic(
        images in proptest::collection::vec((0..3usize, 8..40usize, 8..40usize, any::<u8>()), 4..16),
        cut in proptest::option::of(any::<u16>()), flip in (any::<u16>(), any::<u8>())) {
        let images: Vec<RgbaImage> = images.iter().enumerate().map(|(i, &(class, w, h, v))| RgbaImage {
            // The first four images make two classes of two: most sets are accepted.
            path: format!("set/c{}/{i}.png", if i < 4 { i % 2 } else { class }),
            width: w,
            height: h,
            rgba: (0..w * h * 4).map(|p| v.wrapping_add(p as u8)).collect(),
        }).collect();
        if let Ok(set) = assemble("set", &[], images, ImageOptions::default()) {
            consistent(&set.train)?;
            consistent(&set.test)?;
            let bytes = set.to_bytes();
            prop_assert_eq!(&OwnSet::from_bytes(&bytes).unwrap(), &set);
            if let Ok(back) = OwnSet::from_bytes(&damage(bytes, cut, flip)) {
                consistent(&back.train)?;
                consistent(&back.test)?;
            }
        }
    }
}
