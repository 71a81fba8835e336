//! Own data sets end to end on the CLI: a folder of class folders of PNG images becomes a
//! set with `riglab data --images`, which `riglab train` then trains on (the page builds the
//! same set from the same files: the reduction and split are `data::own`, shared).

mod common;

use std::path::Path;

use common::riglab;

use riglab::data::own::{ImageOptions, OwnSet};

/// Three classes that a small network tells apart: horizontal stripes, vertical stripes
/// and a bright centre, 12 noisy 24x20 grey images each (the centre square is 20x20).
fn write_folder(root: &Path) {
    let mut seed = 7u32;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (seed >> 16) as u8 % 40
    };
    for (class, pattern) in [("h-stripes", 0usize), ("v-stripes", 1), ("centre", 2)] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..12 {
            let img = image::GrayImage::from_fn(24, 20, |x, y| {
                let on = match pattern {
                    0 => y % 4 < 2,
                    1 => x % 4 < 2,
                    _ => (8..16).contains(&x) && (6..14).contains(&y),
                };
                image::Luma([if on { 200 } else { 20 } + noise()])
            });
            img.save(dir.join(format!("{i:02}.png"))).unwrap();
        }
    }
    std::fs::write(root.join("README.txt"), "ignored").unwrap();
}

#[test]
fn a_folder_of_images_becomes_a_set_and_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("shapes");
    write_folder(&folder);
    let set = riglab::prepare::own_from_folder(&folder, None, ImageOptions::default()).unwrap();
    assert_eq!(set.classes, ["centre", "h-stripes", "v-stripes"]);
    assert_eq!(set.spec().unwrap().to_string(), "own:shapes:1x20x20:3");
    // 12 per class: the 6th and 12th of each are test images.
    assert_eq!((set.train.len(), set.test.len()), (30, 6));

    let out = tmp.path().join("data");
    let o = riglab(&[
        "data",
        "--images",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "data=own:shapes:1x20x20:3"
    );
    let file = out.join("own/shapes.safetensors");
    assert_eq!(
        OwnSet::from_bytes(&std::fs::read(&file).unwrap()).unwrap(),
        set
    );

    let o = riglab(&[
        "train",
        "data=own:shapes:1x20x20:3&model=mlp:32&method=rigl&sparsity=0.5&steps=150&batch=10&eval_every=150&lr=0.05",
        "--data-dir",
        out.to_str().unwrap(),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["test_accuracy"].as_f64())
        .next_back()
        .expect("an evaluation");
    // Chance is 1/3; the three patterns are easy.
    assert!(last >= 0.8, "test accuracy {last}");
}

#[test]
fn a_missing_or_different_set_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let o = riglab(&[
        "train",
        "data=own:nope:1x20x20:3&steps=5",
        "--data-dir",
        dir,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("own:nope:1x20x20:3") && err.contains("riglab data --images"),
        "{err}"
    );
    // A bad data= value is refused before anything loads.
    let o = riglab(&["plan", "data=own:Bad Name:1x20x20:3"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lower-case"), "{err}");
    let o = riglab(&["plan", "data=own:tiny:1x4x4:3"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("8 to 64"), "{err}");
    // A folder with one class is refused with the reason.
    let one = tmp.path().join("one/only");
    std::fs::create_dir_all(&one).unwrap();
    image::GrayImage::new(10, 10)
        .save(one.join("a.png"))
        .unwrap();
    let o = riglab(&[
        "data",
        "--images",
        tmp.path().join("one").to_str().unwrap(),
        "--out",
        dir,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("at least 2"), "{err}");
}
