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

/// Offers the canvases that `selector` matches as one PNG image named `name`: stacked top
/// to bottom on white, each at its own resolution (a chart's pixels, a mask's one pixel per
/// weight or block). Canvases hidden from view are left out.
pub fn download_png(name: &str, selector: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(list) = doc.query_selector_all(selector) else {
        return;
    };
    let canvases: Vec<web_sys::HtmlCanvasElement> = (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlCanvasElement>().ok())
        .filter(|c| c.offset_parent().is_some() && c.width() > 0 && c.height() > 0)
        .collect();
    const GAP: u32 = 8;
    let width = canvases.iter().map(|c| c.width()).max().unwrap_or(0);
    let height: u32 = canvases.iter().map(|c| c.height() + GAP).sum();
    if width == 0 {
        return;
    }
    let Some(out) = doc
        .create_element("canvas")
        .ok()
        .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
    else {
        return;
    };
    out.set_width(width);
    out.set_height(height - GAP);
    let Some(g) = out
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|g| g.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    g.set_fill_style_str("#ffffff");
    g.fill_rect(0.0, 0.0, f64::from(width), f64::from(height));
    let mut y = 0.0;
    for c in &canvases {
        let _ = g.draw_image_with_html_canvas_element(c, 0.0, y);
        y += f64::from(c.height() + GAP);
    }
    if let Ok(url) = out.to_data_url_with_type("image/png")
        && let Ok(a) = doc
            .create_element("a")
            .map(|e| e.unchecked_into::<web_sys::HtmlAnchorElement>())
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
}
