//! Downloads: the numbers behind the plots (CSV), the views (PNG), a run (JSON),
//! checkpoints (safetensors).

use wasm_bindgen::JsCast;

/// Offers `text` as a CSV file download named `name`.
pub fn download(name: &str, text: &str) {
    download_bytes(name, text.as_bytes(), "text/csv");
}

/// Offers `bytes` as a file download named `name` of type `mime`.
pub fn download_bytes(name: &str, bytes: &[u8], mime: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(a) = doc
        .create_element("a")
        .map(|e| e.unchecked_into::<web_sys::HtmlAnchorElement>())
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// The canvases that `selector` matches, in view and not empty.
fn canvases(selector: &str) -> Vec<web_sys::HtmlCanvasElement> {
    let Some(list) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector_all(selector).ok())
    else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        .filter(|c| c.offset_parent().is_some() && c.width() > 0 && c.height() > 0)
        .collect()
}

const GAP: u32 = 8;

/// A new canvas the size of `parts` stacked top to bottom, GAP pixels apart.
fn stack_canvas(parts: &[web_sys::HtmlCanvasElement]) -> Option<web_sys::HtmlCanvasElement> {
    let width = parts.iter().map(|c| c.width()).max()?;
    let height: u32 = parts.iter().map(|c| c.height() + GAP).sum::<u32>() - GAP;
    let out = web_sys::window()?
        .document()?
        .create_element("canvas")
        .ok()?
        .dyn_into::<web_sys::HtmlCanvasElement>()
        .ok()?;
    // Video encoders want even sizes.
    out.set_width(width + width % 2);
    out.set_height(height + height % 2);
    Some(out)
}

/// Draws `parts` stacked on white into `out`.
fn draw_stack(out: &web_sys::HtmlCanvasElement, parts: &[web_sys::HtmlCanvasElement]) {
    let Some(g) = out
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|g| g.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    g.set_fill_style_str("#ffffff");
    g.fill_rect(0.0, 0.0, f64::from(out.width()), f64::from(out.height()));
    let mut y = 0.0;
    for c in parts {
        let _ = g.draw_image_with_html_canvas_element(c, 0.0, y);
        y += f64::from(c.height() + GAP);
    }
}

/// Offers `href` (a data or blob URL) as a download named `name`.
fn offer(href: &str, name: &str) {
    if let Some(a) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .map(|e| e.unchecked_into::<web_sys::HtmlAnchorElement>())
    {
        a.set_href(href);
        a.set_download(name);
        a.click();
    }
}

/// Offers the canvases that `selector` matches as one PNG image named `name`: stacked top
/// to bottom on white, each at its own resolution (a chart's pixels, a mask's one pixel per
/// weight or block). Canvases hidden from view are left out.
pub fn download_png(name: &str, selector: &str) {
    let parts = canvases(selector);
    let Some(out) = stack_canvas(&parts) else {
        return;
    };
    draw_stack(&out, &parts);
    if let Ok(url) = out.to_data_url_with_type("image/png") {
        offer(&url, name);
    }
}

/// A recording of canvases as a WebM video (MediaRecorder on a canvas stream).
pub struct Movie {
    recorder: web_sys::MediaRecorder,
    out: web_sys::HtmlCanvasElement,
    parts: Vec<web_sys::HtmlCanvasElement>,
}

impl Movie {
    /// Starts recording what `selector` matches now; `name` is the file offered at the end.
    pub fn start(selector: &str, name: &'static str) -> Result<Self, String> {
        let parts = canvases(selector);
        let out = stack_canvas(&parts).ok_or("there is nothing to record")?;
        draw_stack(&out, &parts);
        let stream = out
            .capture_stream()
            .map_err(|_| "this browser cannot record a canvas".to_string())?;
        let opts = web_sys::MediaRecorderOptions::new();
        opts.set_mime_type("video/webm");
        let recorder = web_sys::MediaRecorder::new_with_media_stream_and_media_recorder_options(
            &stream, &opts,
        )
        .map_err(|_| "this browser cannot record WebM video".to_string())?;
        let chunks = js_sys::Array::new();
        let kept = chunks.clone();
        let on_data = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::BlobEvent)>::new(
            move |e: web_sys::BlobEvent| {
                if let Some(b) = e.data() {
                    kept.push(&b);
                }
            },
        );
        recorder.set_ondataavailable(Some(on_data.as_ref().unchecked_ref()));
        let on_stop = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
            let opts = web_sys::BlobPropertyBag::new();
            opts.set_type("video/webm");
            if let Ok(blob) = web_sys::Blob::new_with_blob_sequence_and_options(&chunks, &opts)
                && let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob)
            {
                offer(&url, name);
                let _ = web_sys::Url::revoke_object_url(&url);
            }
        });
        recorder.set_onstop(Some(on_stop.as_ref().unchecked_ref()));
        // One pair of handlers per recording, alive until the recorder is gone.
        on_data.forget();
        on_stop.forget();
        recorder
            .start_with_time_slice(500)
            .map_err(|_| "the recording could not start".to_string())?;
        Ok(Self {
            recorder,
            out,
            parts,
        })
    }

    /// Draws the current frame (call once per animation frame).
    pub fn frame(&self) {
        draw_stack(&self.out, &self.parts);
    }

    /// Ends the recording and offers the video.
    pub fn stop(self) {
        let _ = self.recorder.stop();
    }
}

thread_local! {
    static MOVIE: std::cell::RefCell<Option<Movie>> = const { std::cell::RefCell::new(None) };
}

/// Starts or stops recording the mask views (`recording` says which); the video is
/// offered as riglab-masks.webm when it stops. Err says why it cannot record.
pub fn toggle_mask_movie(recording: leptos::prelude::RwSignal<bool>) -> Result<(), String> {
    use leptos::prelude::{GetUntracked, Set};
    if recording.get_untracked() {
        recording.set(false);
        if let Some(m) = MOVIE.take() {
            m.stop();
        }
        return Ok(());
    }
    MOVIE.set(Some(Movie::start(".masks canvas", "riglab-masks.webm")?));
    recording.set(true);
    leptos::task::spawn_local(async move {
        while recording.get_untracked() {
            MOVIE.with_borrow(|m| m.as_ref().map(Movie::frame));
            super::frame::next_frame().await;
        }
    });
    Ok(())
}
