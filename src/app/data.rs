//! Data sets in the page: the manifest, downloads with progress, a cache, and the preview.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use super::ctx::{Ctx, Status};
use super::fetch::{fetch_cached, fetch_text, gunzip};
use super::owndata;
use crate::config::DataSet;
use crate::data::own::{Colour, ImageOptions};
use crate::data::{Dataset, Manifest};

const MANIFEST_URL: &str = "data/manifest.json";
const PREVIEW_COUNT: usize = 20;

pub async fn load_manifest(ctx: Ctx) -> Result<Manifest, String> {
    let text = fetch_text(MANIFEST_URL).await?;
    let m = Manifest::parse(&text).map_err(|e| e.to_string())?;
    ctx.manifest.set(Some(m.clone()));
    Ok(m)
}

/// Makes sure a data set is in the lab's cache: a prepared set downloaded (both splits,
/// with progress), an own set from the browser's storage.
pub async fn ensure(ctx: Ctx, data: &DataSet) -> Result<(), String> {
    let name = match data {
        DataSet::Own(own) => return super::owndata::ensure(ctx, own).await,
        builtin => builtin.name(),
    };
    let name = name.as_str();
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
        l.insert_data(name.to_string(), (train, test));
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

/// Class names of a data set: a prepared one's from the manifest, an own one's as kept.
fn class_names(ctx: Ctx, data: &DataSet) -> Option<Vec<String>> {
    match data {
        DataSet::Own(own) => {
            let key = own.to_string();
            ctx.own_sets
                .with(|s| s.iter().find(|e| e.data == key).map(|e| e.classes.clone()))
        }
        builtin => ctx.manifest.with(|m| {
            m.as_ref()
                .and_then(|m| m.set(&builtin.name()))
                .map(|s| s.classes.clone())
        }),
    }
}

/// The data card: the first images of the selected set with their labels, and loading
/// an own set (choose files or a folder, or drop them on the card).
#[component]
pub fn DataPreview(ctx: Ctx) -> impl IntoView {
    let items = move || {
        ctx.status.track();
        let data = ctx.config.with(|c| c.data.clone());
        let name = data.name();
        let classes = class_names(ctx, &data);
        let labels = ctx.lab.with_value(|l| {
            l.data.get(&name).map(|(train, _)| {
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
                    let name = name.clone();
                    canvas.on_load(move |c| {
                        ctx.lab.with_value(|lab| {
                            if let Some((train, _)) = lab.data.get(&name) {
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
    let (size, set_size) = signal(None::<usize>);
    let (colour, set_colour) = signal(Colour::Auto);
    let opts = move || ImageOptions {
        side: size.get_untracked(),
        colour: colour.get_untracked(),
    };
    let on_files = move |ev: leptos::ev::Event| {
        let input = event_target::<web_sys::HtmlInputElement>(&ev);
        let files = owndata::files_of_input(&input);
        // The same files may be loaded again.
        input.set_value("");
        spawn_local(owndata::load(ctx, files, opts()));
    };
    let folder = NodeRef::<leptos::html::Input>::new();
    folder.on_load(|el| {
        let _ = el.set_attribute("webkitdirectory", "");
    });
    let (over, set_over) = signal(false);
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        set_over.set(false);
        if let Some(dt) = ev.data_transfer() {
            let dropped = owndata::take_drop(&dt);
            spawn_local(async move {
                match owndata::files_of_drop(dropped).await {
                    Ok(files) => owndata::load(ctx, files, opts()).await,
                    Err(e) => ctx.data_msg.set(Some((
                        true,
                        format!("Not loaded: {e}. The runs are unchanged."),
                    ))),
                }
            });
        }
    };
    let own_entry = move || {
        let data = ctx.config.with(|c| c.data.name());
        ctx.own_sets
            .with(|s| s.iter().find(|e| e.data == data).cloned())
    };
    let summary = move || own_entry().map(|e| e.summary());
    let message = move || {
        ctx.data_msg.get().map(|(error, text)| {
            view! { <p id="data-msg" class:error=error role=if error { "alert" } else { "status" }>{text}</p> }
        })
    };
    view! {
        <section id="preview" class="card" class:drop-over=over data-state=state
            data-set=move || ctx.config.with(|c| c.data.name())
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); set_over.set(true); }
            on:dragleave=move |_| set_over.set(false)
            on:drop=on_drop>
            <h2>"Data"</h2>
            <div class="thumbs">{items}</div>
            {move || summary().map(|s| view! { <p id="own-summary" class="hint">{s}</p> })}
            <div class="load-data">
                <label class="button" title="IDX image and label files (MNIST format, any size), CIFAR-10 batches (.bin), or a .zip of one folder of images per class; gzipped or not">
                    "Load data"
                    <input id="load-data" class="sr-only" type="file" multiple on:change=on_files/>
                </label>
                <label class="button" title="a folder with one sub-folder of images (PNG, JPEG, ...) per class">
                    "Load folder"
                    <input id="load-folder" class="sr-only" type="file" multiple node_ref=folder on:change=on_files/>
                </label>
                <label class="control" title="side of the square images made from pictures; auto: the largest every picture has, up to 32">
                    <span class="name">"image size"</span>
                    <select id="load-size" on:change=move |ev| set_size.set(event_target_value(&ev).parse().ok())>
                        {["auto", "8", "16", "24", "28", "32", "48", "64"].into_iter().map(|n| view! { <option value=n>{n}</option> }).collect_view()}
                    </select>
                </label>
                <label class="control" title="grey or RGB images from pictures; auto: grey when every picture is grey">
                    <span class="name">"colour"</span>
                    <select id="load-colour" on:change=move |ev| set_colour.set(Colour::from_name(&event_target_value(&ev)).unwrap_or_default())>
                        {Colour::ALL.into_iter().map(|c| view! { <option value=c.name()>{c.name()}</option> }).collect_view()}
                    </select>
                </label>
                {move || own_entry().map(|entry| view! {
                    <button id="save-data" on:click=move |_| spawn_local(owndata::download(ctx))
                        title="this set as a file: put it in DATA_DIR/own/ to train on it with riglab --data-dir DATA_DIR">"Save data set"</button>
                    <button id="forget-data" on:click=move |_| spawn_local(owndata::forget(ctx, entry.clone()))
                        title="remove this set from this browser's storage">"Forget"</button>
                })}
            </div>
            <p class="hint drop-hint">"…or drop files, a .zip or a folder on this card."</p>
            {message}
        </section>
    }
}
