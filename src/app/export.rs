//! Downloads: the numbers behind the plots (CSV), a run (JSON), checkpoints (safetensors).

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
