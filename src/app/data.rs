//! Data sets in the page: the manifest, downloads with progress, a cache, and the preview.

use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use super::ctx::{Ctx, Status};
use super::fetch::{fetch_cached, fetch_text, gunzip};
use crate::data::{Dataset, Manifest};

const MANIFEST_URL: &str = "data/manifest.json";
const PREVIEW_COUNT: usize = 20;

pub async fn load_manifest(ctx: Ctx) -> Result<Manifest, String> {
    let text = fetch_text(MANIFEST_URL).await?;
    let m = Manifest::parse(&text).map_err(|e| e.to_string())?;
    ctx.manifest.set(Some(m.clone()));
    Ok(m)
}

/// Makes sure a data set is in the lab's cache, downloading both splits with progress.
pub async fn ensure(ctx: Ctx, name: &str) -> Result<(), String> {
    if ctx.lab.with_value(|l| l.data.contains_key(name)) {
        return Ok(());
    }
    let manifest = match ctx.manifest.get_untracked() {
        Some(m) => m,
        None => load_manifest(ctx).await?,
    };
    let set = manifest.set(name).cloned().ok_or_else(|| {
        let have: Vec<_> = manifest.sets.iter().map(|s| s.title.as_str()).collect();
        format!(
            "data set '{name}' is not prepared on this server (available: {})",
            have.join(", ")
        )
    })?;
    let total = set.train.total_bytes() + set.test.total_bytes();
    let mut done = 0;
    let mut splits = Vec::new();
    for split in [&set.train, &set.test] {
        let mut contents = Vec::new();
        for file in &split.files {
            let url = format!("data/{}", file.path);
            let status = |n| Status::Downloading {
                set: set.title.clone(),
                loaded: done + n,
                total,
            };
            let bytes = fetch_cached(&url, &file.sha256, |n| ctx.status.set(status(n))).await?;
            done += bytes.len() as u64;
            contents.push(gunzip(&url, bytes).await?);
        }
        splits.push(
            set.decode(split, &contents)
                .map_err(|e| format!("{}: {e}", set.title))?,
        );
    }
    let test = splits.pop().expect("two splits");
    let train = splits.pop().expect("two splits");
    ctx.lab.update_value(|l| {
        l.data.insert(name.to_string(), (train, test));
    });
    Ok(())
}

/// Draws image `i` of a data set, scaled up, into a canvas.
fn draw_image(canvas: &HtmlCanvasElement, ds: &Dataset, i: usize) {
    let s = ds.shape;
    let img = ds.image(i);
    let plane = s.height * s.width;
    let mut rgba = Vec::with_capacity(plane * 4);
    for p in 0..plane {
        let channel = |c: usize| img[c.min(s.channels - 1) * plane + p];
        rgba.extend_from_slice(&[channel(0), channel(1), channel(2), 255]);
    }
    canvas.set_width(s.width as u32);
    canvas.set_height(s.height as u32);
    let Some(ctx) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    if let Ok(data) =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), s.width as u32, s.height as u32)
    {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

/// The first images of the selected set with their labels.
#[component]
pub fn DataPreview(ctx: Ctx) -> impl IntoView {
    let items = move || {
        ctx.status.track();
        let name = ctx.config.with(|c| c.data.name());
        let classes = ctx.manifest.with(|m| {
            m.as_ref()
                .and_then(|m| m.set(name))
                .map(|s| s.classes.clone())
        });
        let labels = ctx.lab.with_value(|l| {
            l.data.get(name).map(|(train, _)| {
                (0..PREVIEW_COUNT.min(train.len()))
                    .map(|i| usize::from(train.labels[i]))
                    .collect::<Vec<_>>()
            })
        });
        match (labels, classes) {
            (Some(labels), Some(classes)) => labels
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let canvas = NodeRef::<leptos::html::Canvas>::new();
                    canvas.on_load(move |c| {
                        ctx.lab.with_value(|lab| {
                            if let Some((train, _)) = lab.data.get(name) {
                                draw_image(&c, train, i);
                            }
                        })
                    });
                    let label = classes.get(l).cloned().unwrap_or_default();
                    view! { <figure><canvas node_ref=canvas></canvas><figcaption>{label}</figcaption></figure> }
                })
                .collect_view()
                .into_any(),
            _ => ().into_any(),
        }
    };
    let state = move || match ctx.status.get() {
        Status::Ready => "ready",
        Status::Error(_) => "failed",
        Status::Downloading { .. } => "downloading",
        Status::Starting => "idle",
    };
    view! {
        <section id="preview" class="card" data-state=state data-set=move || ctx.config.with(|c| c.data.name())>
            <h2>"Data"</h2>
            <div class="thumbs">{items}</div>
        </section>
    }
}
