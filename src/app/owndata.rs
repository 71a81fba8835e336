//! Own data in the page: files chosen, or dropped on the data card (IDX image and label
//! pairs, CIFAR-10 batches, a .zip or a folder of class folders of images, gzipped or not),
//! become a data set in the picker, kept in the browser's Cache Storage across visits. The
//! browser inflates and decodes; `data::own` does the rest, as for `riglab data --images`.
//! A file that does not fit is named with the reason, and the runs stay as they are.

use js_sys::{Array, Reflect, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::ctx::{Ctx, OwnEntry};
use super::fetch::{cache_bytes, cache_put, decompress, file_bytes, gunzip, js_err, open_cache};
use crate::config::{DataSet, OwnData};
use crate::data::own::{
    ImageOptions, OwnSet, RgbaImage, assemble, is_ignored, is_image_path, reduce,
};
use crate::data::zip::{Compression, is_zip, zip_entries};

const CACHE_NAME: &str = "riglab-own-data-v1";

fn entry_of(set: &OwnSet, spec: &OwnData) -> OwnEntry {
    OwnEntry {
        data: spec.to_string(),
        title: set.title.clone(),
        classes: set.classes.clone(),
        train: set.train.len(),
        test: set.test.len(),
    }
}

fn set_key(name: &str) -> String {
    format!("own-data/{name}.safetensors")
}

fn entry_key(name: &str) -> String {
    format!("own-data/{name}.json")
}

/// Reads the own sets this browser keeps into the picker.
pub async fn load_index(ctx: Ctx) {
    let Some(cache) = open_cache(CACHE_NAME).await else {
        return;
    };
    let Ok(keys) = JsFuture::from(cache.keys()).await else {
        return;
    };
    let mut entries = Vec::new();
    for req in Array::from(&keys).iter() {
        let Ok(req) = req.dyn_into::<web_sys::Request>() else {
            continue;
        };
        let url = req.url();
        if !url.ends_with(".json") || !url.contains("/own-data/") {
            continue;
        }
        if let Some(bytes) = cache_bytes(&cache, &url).await
            && let Ok(entry) = serde_json::from_slice::<OwnEntry>(&bytes)
        {
            entries.push(entry);
        }
    }
    entries.sort_by(|a, b| a.title.cmp(&b.title));
    ctx.own_sets.set(entries);
}

/// Makes sure an own set is in the lab's cache: from the browser's storage, or an error
/// that says the data lives where the link was made.
pub async fn ensure(ctx: Ctx, own: &OwnData) -> Result<(), String> {
    let key = own.to_string();
    if ctx.lab.with_value(|l| l.data.contains_key(&key)) {
        return Ok(());
    }
    let missing = || {
        let s = own.shape;
        format!(
            "This link trains on an own data set, '{}' ({} classes of {}x{}x{} images), whose files are on the machine that made the link. Load them with Load data (or drop them on the Data card) and it trains here.",
            own.name, own.classes, s.channels, s.height, s.width
        )
    };
    let cache = open_cache(CACHE_NAME).await.ok_or_else(missing)?;
    let bytes = cache_bytes(&cache, &set_key(&own.name))
        .await
        .ok_or_else(missing)?;
    let set = OwnSet::from_bytes(&bytes).map_err(|e| format!("the kept copy of {key}: {e}"))?;
    if set.spec().as_ref() != Ok(own) {
        return Err(missing());
    }
    ctx.lab.update_value(|l| {
        l.insert_data(key, (set.train, set.test));
    });
    Ok(())
}

/// Forgets a kept own set (the picker keeps it while it is the current one).
pub async fn forget(ctx: Ctx, entry: OwnEntry) {
    let Ok(DataSet::Own(own)) = DataSet::parse(&entry.data) else {
        return;
    };
    if let Some(cache) = open_cache(CACHE_NAME).await {
        let _ = JsFuture::from(cache.delete_with_str(&set_key(&own.name))).await;
        let _ = JsFuture::from(cache.delete_with_str(&entry_key(&own.name))).await;
    }
    ctx.own_sets.update(|s| s.retain(|e| e.data != entry.data));
}

/// The current own set as a file for `riglab ... --data-dir DIR` (DIR/own/NAME.safetensors).
pub async fn download(ctx: Ctx) {
    let data = ctx.config.get_untracked().data;
    let DataSet::Own(own) = &data else {
        return;
    };
    // The set as loaded (the same bytes as the kept copy: the file is canonical).
    let key = own.to_string();
    let bytes = ctx.lab.with_value(|l| {
        let (train, test) = l.data.get(&key)?;
        let entry = ctx
            .own_sets
            .with_untracked(|s| s.iter().find(|e| e.data == key).cloned())?;
        Some(
            OwnSet {
                name: own.name.clone(),
                title: entry.title,
                classes: entry.classes,
                train: train.clone(),
                test: test.clone(),
            }
            .to_bytes(),
        )
    });
    if let Some(bytes) = bytes {
        super::export::download_bytes(
            &format!("{}.safetensors", own.name),
            &bytes,
            "application/octet-stream",
        );
    }
}

/// Decodes an image with the browser (any format it reads) to RGBA at its own size.
async fn decode_image(path: &str, bytes: &[u8]) -> Result<RgbaImage, String> {
    let bad = |why: String| format!("{path}: the image could not be decoded ({why})");
    let window = web_sys::window().ok_or("no window")?;
    let blob = web_sys::Blob::new_with_u8_array_sequence(&Array::of1(&Uint8Array::from(bytes)))
        .map_err(|e| bad(js_err(e)))?;
    let bitmap: web_sys::ImageBitmap = JsFuture::from(
        window
            .create_image_bitmap_with_blob(&blob)
            .map_err(|e| bad(js_err(e)))?,
    )
    .await
    .map_err(|e| bad(js_err(e)))?
    .dyn_into()
    .map_err(|_| bad("not a bitmap".into()))?;
    let (w, h) = (bitmap.width(), bitmap.height());
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > 50_000_000 {
        return Err(bad(format!("{w}x{h} pixels")));
    }
    let canvas: web_sys::HtmlCanvasElement = window
        .document()
        .ok_or("no document")?
        .create_element("canvas")
        .map_err(|e| bad(js_err(e)))?
        .unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let c2d: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .ok_or_else(|| bad("no 2d canvas".into()))?
        .unchecked_into();
    c2d.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0)
        .map_err(|e| bad(js_err(e)))?;
    bitmap.close();
    let data = c2d
        .get_image_data(0.0, 0.0, f64::from(w), f64::from(h))
        .map_err(|e| bad(js_err(e)))?;
    Ok(reduce(RgbaImage {
        path: path.to_string(),
        width: w as usize,
        height: h as usize,
        rgba: data.data().0,
    }))
}

/// Sorts one file into data files and decoded images (inflating gzip, opening zips).
async fn take_file(
    ctx: Ctx,
    path: String,
    bytes: Vec<u8>,
    files: &mut Vec<(String, Vec<u8>)>,
    images: &mut Vec<RgbaImage>,
) -> Result<(), String> {
    if is_ignored(&path) {
        return Ok(());
    }
    let (path, bytes) = if crate::data::is_gzip(&bytes) {
        let plain = gunzip(&path, bytes).await?;
        (path.strip_suffix(".gz").unwrap_or(&path).to_string(), plain)
    } else {
        (path, bytes)
    };
    if is_zip(&bytes) {
        let entries = zip_entries(&bytes).map_err(|e| format!("{path}: {e}"))?;
        let total = entries.len();
        for (i, e) in entries.into_iter().enumerate() {
            if is_ignored(&e.name) {
                continue;
            }
            let inner = format!("{path}/{}", e.name);
            let plain = match e.compression {
                Compression::Stored => e.data.to_vec(),
                Compression::Deflated => decompress(&inner, e.data, "deflate-raw").await?,
            };
            if i.is_multiple_of(25) {
                ctx.data_msg.set(Some((
                    false,
                    format!("Reading {path}: {i} of {total} files…"),
                )));
            }
            Box::pin(take_file(ctx, e.name.clone(), plain, files, images))
                .await
                .map_err(|err| {
                    if err.starts_with(&e.name) {
                        format!("{path}: {err}")
                    } else {
                        err
                    }
                })?;
        }
        return Ok(());
    }
    if is_image_path(&path) {
        images.push(decode_image(&path, &bytes).await?);
        if images.len().is_multiple_of(25) {
            ctx.data_msg
                .set(Some((false, format!("Decoded {} images…", images.len()))));
        }
    } else {
        files.push((path, bytes));
    }
    Ok(())
}

/// The title of a load: the folder, zip or first file it came from.
fn title_of(paths: &[String]) -> String {
    let first = paths.first().map(String::as_str).unwrap_or("my data");
    match first.split_once('/') {
        Some((top, _)) if paths.iter().all(|p| p.starts_with(&format!("{top}/"))) => top.into(),
        _ => first
            .strip_suffix(".gz")
            .unwrap_or(first)
            .trim_end_matches(".zip")
            .to_string(),
    }
}

/// Loads files as an own data set: on success it is kept, added to the picker and trained
/// on; on failure the runs stay as they are and the data card says what is wrong.
pub async fn load(ctx: Ctx, chosen: Vec<(String, web_sys::File)>, opts: ImageOptions) {
    if chosen.is_empty() {
        return;
    }
    ctx.data_msg.set(Some((
        false,
        format!(
            "Reading {} file{}…",
            chosen.len(),
            if chosen.len() == 1 { "" } else { "s" }
        ),
    )));
    let paths: Vec<String> = chosen.iter().map(|(p, _)| p.clone()).collect();
    let title = title_of(&paths);
    let result = async {
        let (mut files, mut images) = (Vec::new(), Vec::new());
        for (path, file) in chosen {
            let bytes = file_bytes(&file)
                .await
                .ok_or_else(|| format!("{path}: the browser could not read the file"))?;
            take_file(ctx, path, bytes, &mut files, &mut images).await?;
        }
        let set = assemble(&title, &files, images, opts).map_err(|e| e.to_string())?;
        let spec = set.spec()?;
        Ok::<_, String>((set, spec))
    }
    .await;
    let (set, spec) = match result {
        Ok(x) => x,
        Err(e) => {
            ctx.data_msg.set(Some((
                true,
                format!("Not loaded: {e}. The runs are unchanged."),
            )));
            return;
        }
    };
    let entry = entry_of(&set, &spec);
    let kept = match open_cache(CACHE_NAME).await {
        Some(cache) => {
            let json = serde_json::to_vec(&entry).unwrap_or_default();
            match cache_put(&cache, &set_key(&spec.name), &set.to_bytes()).await {
                Ok(()) => cache_put(&cache, &entry_key(&spec.name), &json).await,
                Err(e) => Err(e),
            }
        }
        None => Err("this page has no Cache Storage".into()),
    };
    let summary = entry.summary();
    let mut c = ctx.config.get_untracked();
    c.data = DataSet::Own(spec.clone());
    // A mini-batch is drawn from the training images: a small set takes smaller batches.
    let batch_note = if c.batch > set.train.len() {
        c.batch = set.train.len();
        format!(
            " The batch size is now {} (its number of training images).",
            c.batch
        )
    } else {
        String::new()
    };
    ctx.data_msg.set(Some((
        false,
        match kept {
            Ok(()) => format!("Loaded {summary}. It is kept in this browser.{batch_note}"),
            Err(e) => format!(
                "Loaded {summary}. This browser would not keep it ({e}): a reload will ask for the files again.{batch_note}"
            ),
        },
    )));
    ctx.own_sets.update(|s| {
        // One entry per name (a set loaded again may have another shape).
        s.retain(|e| !e.data.starts_with(&format!("own:{}:", spec.name)));
        s.push(entry);
        s.sort_by(|a, b| a.title.cmp(&b.title));
    });
    let key = spec.to_string();
    ctx.lab.update_value(|l| {
        l.insert_data(key, (set.train, set.test));
    });
    if !c.validate().is_empty() {
        // The model does not fit these images with the current settings: the default
        // model does.
        c.model = crate::model::ModelSpec::default();
    }
    if c == ctx.config.get_untracked() {
        // The same set loaded again (perhaps with other images): start over on it.
        leptos::task::spawn_local(super::reset::reset(ctx));
    } else {
        ctx.config.set(c);
    }
}

/// The files of a file input, with folder paths when a folder was chosen.
pub fn files_of_input(input: &web_sys::HtmlInputElement) -> Vec<(String, web_sys::File)> {
    let Some(list) = input.files() else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|f| {
            let rel = Reflect::get(&f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .filter(|s| !s.is_empty());
            (rel.unwrap_or_else(|| f.name()), f)
        })
        .collect()
}

/// What a drop holds, taken in the drop handler itself (a drop's items are readable only
/// there): its file-system entries (folders among them), or else its plain files.
pub struct Dropped {
    entries: Vec<web_sys::FileSystemEntry>,
    files: Vec<web_sys::File>,
}

pub fn take_drop(dt: &web_sys::DataTransfer) -> Dropped {
    let items = dt.items();
    let entries = (0..items.length())
        .filter_map(|i| items.get(i))
        .filter_map(|item| item.webkit_get_as_entry().ok().flatten())
        .collect();
    let files = dt.files().map_or_else(Vec::new, |list| {
        (0..list.length()).filter_map(|i| list.get(i)).collect()
    });
    Dropped { entries, files }
}

/// A callback API as a future: `call(resolve, reject)` starts it.
async fn callback(
    call: impl FnOnce(&js_sys::Function, &js_sys::Function),
) -> Result<JsValue, String> {
    let mut call = Some(call);
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        if let Some(call) = call.take() {
            call(&resolve, &reject);
        }
    });
    JsFuture::from(promise).await.map_err(js_err)
}

/// The files of a drop with their paths, dropped folders walked.
pub async fn files_of_drop(dropped: Dropped) -> Result<Vec<(String, web_sys::File)>, String> {
    if dropped.entries.is_empty() {
        return Ok(dropped.files.into_iter().map(|f| (f.name(), f)).collect());
    }
    let mut out = Vec::new();
    let mut stack: Vec<(String, web_sys::FileSystemEntry)> = dropped
        .entries
        .into_iter()
        .rev()
        .map(|e| (String::new(), e))
        .collect();
    while let Some((prefix, entry)) = stack.pop() {
        let path = if prefix.is_empty() {
            entry.name()
        } else {
            format!("{prefix}/{}", entry.name())
        };
        if entry.is_file() {
            let file_entry: web_sys::FileSystemFileEntry = entry.unchecked_into();
            let file = callback(|ok, err| file_entry.file_with_callback_and_callback(ok, err))
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            out.push((path, file.unchecked_into()));
        } else if entry.is_directory() {
            let reader = entry
                .unchecked_into::<web_sys::FileSystemDirectoryEntry>()
                .create_reader();
            let mut children = Vec::new();
            loop {
                let batch = callback(|ok, err| {
                    let _ = reader.read_entries_with_callback_and_callback(ok, err);
                })
                .await
                .map_err(|e| format!("{path}: {e}"))?;
                let batch = Array::from(&batch);
                if batch.length() == 0 {
                    break;
                }
                children.extend(
                    batch
                        .iter()
                        .map(|e| e.unchecked_into::<web_sys::FileSystemEntry>()),
                );
            }
            stack.extend(children.into_iter().rev().map(|c| (path.clone(), c)));
        }
    }
    Ok(out)
}
