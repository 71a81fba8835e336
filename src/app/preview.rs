//! The data-set preview: pick a prepared set, watch it download, see its first images.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use super::fetch::{fetch_bytes, fetch_text};
use crate::data::{Dataset, Manifest, SetEntry};

const MANIFEST_URL: &str = "data/manifest.json";
const PREVIEW_COUNT: usize = 20;

#[derive(Clone, Debug, PartialEq)]
enum Load {
    Idle,
    Downloading { loaded: u64, total: u64 },
    Ready(Vec<Thumb>),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
struct Thumb {
    url: String,
    label: String,
}

/// Renders image `i` of a data set to a PNG data URL (grey or RGB from the CHW planes).
fn thumbnail(ds: &Dataset, i: usize) -> Result<String, String> {
    let s = ds.shape;
    let img = ds.image(i);
    let plane = s.height * s.width;
    let mut rgba = Vec::with_capacity(plane * 4);
    for p in 0..plane {
        let channel = |c: usize| img[c.min(s.channels - 1) * plane + p];
        rgba.extend_from_slice(&[channel(0), channel(1), channel(2), 255]);
    }
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: HtmlCanvasElement = doc
        .create_element("canvas")
        .map_err(|_| "cannot create a canvas")?
        .unchecked_into();
    canvas.set_width(s.width as u32);
    canvas.set_height(s.height as u32);
    let ctx: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .ok_or("no 2d canvas context")?
        .unchecked_into();
    let data = ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(&rgba),
        s.width as u32,
        s.height as u32,
    )
    .map_err(|_| "bad image data")?;
    ctx.put_image_data(&data, 0.0, 0.0)
        .map_err(|_| "cannot draw")?;
    canvas
        .to_data_url()
        .map_err(|_| "cannot encode the thumbnail".into())
}

/// Downloads a set's training split with progress, decodes it and makes thumbnails.
async fn load_preview(set: SetEntry, set_load: WriteSignal<Load>) {
    let split = &set.train;
    let total = split.total_bytes();
    set_load.set(Load::Downloading { loaded: 0, total });
    let mut contents = Vec::new();
    let mut done = 0;
    for file in &split.files {
        let url = format!("data/{}", file.path);
        match fetch_bytes(&url, |n| {
            set_load.set(Load::Downloading {
                loaded: done + n,
                total,
            })
        })
        .await
        {
            Ok(bytes) => {
                done += bytes.len() as u64;
                contents.push(bytes);
            }
            Err(e) => return set_load.set(Load::Failed(e)),
        }
    }
    let result = set
        .decode(split, &contents)
        .map_err(|e| e.to_string())
        .and_then(|ds| {
            (0..PREVIEW_COUNT.min(ds.len()))
                .map(|i| {
                    Ok(Thumb {
                        url: thumbnail(&ds, i)?,
                        label: set.classes[usize::from(ds.labels[i])].clone(),
                    })
                })
                .collect()
        });
    set_load.set(match result {
        Ok(thumbs) => Load::Ready(thumbs),
        Err(e) => Load::Failed(format!("{}: {e}", set.title)),
    });
}

#[component]
pub fn DataPreview() -> impl IntoView {
    let (manifest, set_manifest) = signal(None::<Result<Manifest, String>>);
    let (selected, set_selected) = signal(String::new());
    let (load, set_load) = signal(Load::Idle);

    spawn_local(async move {
        let m = fetch_text(MANIFEST_URL)
            .await
            .and_then(|t| Manifest::parse(&t).map_err(|e| e.to_string()));
        if let Ok(m) = &m {
            let first = m.set("mnist").or(m.sets.first()).map(|s| s.name.clone());
            set_selected.set(first.unwrap_or_default());
        }
        set_manifest.set(Some(m));
    });

    // Whenever the selection changes, (re)load that set's preview.
    Effect::new(move |_| {
        let name = selected.get();
        let entry = manifest.with(|m| {
            m.as_ref()
                .and_then(|m| m.as_ref().ok())
                .and_then(|m| m.set(&name).cloned())
        });
        if let Some(entry) = entry {
            spawn_local(load_preview(entry, set_load));
        }
    });

    let options = move || {
        manifest.with(|m| match m {
            Some(Ok(m)) => m.sets.iter().map(|s| {
                let label = format!("{} ({} train / {} test)", s.title, s.train.count, s.test.count);
                view! { <option value=s.name.clone() selected=s.name == selected.get_untracked()>{label}</option> }
            }).collect_view().into_any(),
            _ => ().into_any(),
        })
    };

    let body = move || {
        match load.get() {
        Load::Idle => match manifest.get() {
            Some(Err(e)) => view! {
                <p class="error">"No prepared data sets (" {e} "). Run " <code>"./x serve"</code> ", which prepares them."</p>
            }.into_any(),
            _ => view! { <p class="muted">"Reading the list of data sets…"</p> }.into_any(),
        },
        Load::Downloading { loaded, total } => view! {
            <div class="download">
                <progress max=total.max(1) value=loaded></progress>
                <span>{format!("downloading {:.1} / {:.1} MB", loaded as f64 / 1e6, total as f64 / 1e6)}</span>
            </div>
        }.into_any(),
        Load::Failed(e) => view! { <p class="error">{e}</p> }.into_any(),
        Load::Ready(thumbs) => view! {
            <div class="thumbs">
                {thumbs.into_iter().map(|t| view! {
                    <figure><img src=t.url alt=t.label.clone()/><figcaption>{t.label}</figcaption></figure>
                }).collect_view()}
            </div>
        }.into_any(),
    }
    };

    let state = move || match load.get() {
        Load::Ready(_) => "ready",
        Load::Failed(_) => "failed",
        Load::Downloading { .. } => "downloading",
        Load::Idle => "idle",
    };

    view! {
        <section id="preview" class="card" data-state=state data-set=selected>
            <div class="card-head">
                <h2>"Data"</h2>
                <select id="data-select" on:change=move |ev| set_selected.set(event_target_value(&ev))>
                    {options}
                </select>
            </div>
            {body}
        </section>
    }
}
