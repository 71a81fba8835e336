//! Fetching files with byte-level progress (for the data-set download bar).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

pub fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn response(url: &str) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp: Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{url}: {}", js_err(e)))?
        .dyn_into()
        .map_err(|_| format!("{url}: not a response"))?;
    if !resp.ok() {
        return Err(format!(
            "{url}: HTTP {} {}",
            resp.status(),
            resp.status_text()
        ));
    }
    Ok(resp)
}

pub async fn fetch_text(url: &str) -> Result<String, String> {
    let resp = response(url).await?;
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    text.as_string()
        .ok_or_else(|| format!("{url}: body is not text"))
}

/// Fetches a file, calling `progress(bytes_so_far)` as chunks arrive.
pub async fn fetch_bytes(url: &str, mut progress: impl FnMut(u64)) -> Result<Vec<u8>, String> {
    let resp = response(url).await?;
    let body = resp.body().ok_or_else(|| format!("{url}: empty body"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut out = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("{url}: {}", js_err(e)))?;
        if Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(js_err)?
            .unchecked_into();
        let start = out.len();
        out.resize(start + value.length() as usize, 0);
        value.copy_to(&mut out[start..]);
        progress(out.len() as u64);
    }
    Ok(out)
}

/// Inflates gzip bytes with the browser's DecompressionStream (the same bytes back when
/// they are not gzip). Without it (very old browsers) the file cannot be read: said so.
pub async fn gunzip(url: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if !crate::data::is_gzip(&bytes) {
        return Ok(bytes);
    }
    decompress(url, &bytes, "gzip").await
}

/// Inflates `bytes` with the browser's DecompressionStream of `format` ("gzip" or
/// "deflate-raw", a zip entry), refusing more than `MAX_DECOMPRESSED_BYTES`.
pub async fn decompress(what: &str, bytes: &[u8], format: &str) -> Result<Vec<u8>, String> {
    let fail = |e: JsValue| format!("{what}: cannot inflate: {}", js_err(e));
    let ctor: js_sys::Function = Reflect::get(&js_sys::global(), &"DecompressionStream".into())
        .map_err(fail)?
        .dyn_into()
        .map_err(|_| format!("{what}: this browser has no DecompressionStream to inflate it"))?;
    let inflater = Reflect::construct(&ctor, &js_sys::Array::of1(&format.into())).map_err(fail)?;
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    let stream = web_sys::Blob::new_with_u8_array_sequence(&parts)
        .map_err(fail)?
        .stream();
    let pipe: js_sys::Function = Reflect::get(&stream, &"pipeThrough".into())
        .map_err(fail)?
        .dyn_into()
        .map_err(|_| format!("{what}: streams cannot be piped here"))?;
    let inflated = pipe.call1(&stream, &inflater).map_err(fail)?;
    let resp =
        Response::new_with_opt_readable_stream(Some(&inflated.unchecked_into())).map_err(fail)?;
    let buf = JsFuture::from(resp.array_buffer().map_err(fail)?)
        .await
        .map_err(fail)?;
    let out = Uint8Array::new(&buf);
    if u64::from(out.length()) > crate::data::MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "{what}: inflates to more than {} bytes",
            crate::data::MAX_DECOMPRESSED_BYTES
        ));
    }
    Ok(out.to_vec())
}

/// Cache Storage bucket for data files; files are keyed by their sha256, so a changed file
/// is fetched again and an unchanged one never twice.
const CACHE_NAME: &str = "riglab-data-v1";

/// A Cache Storage bucket; None without Cache Storage (an insecure context, some private
/// windows).
pub async fn open_cache(name: &str) -> Option<web_sys::Cache> {
    let caches = web_sys::window()?.caches().ok()?;
    JsFuture::from(caches.open(name))
        .await
        .ok()?
        .dyn_into()
        .ok()
}

/// The bytes stored under `key`, or None (not there, or unreadable).
pub async fn cache_bytes(cache: &web_sys::Cache, key: &str) -> Option<Vec<u8>> {
    let hit = JsFuture::from(cache.match_with_str(key)).await.ok()?;
    let resp: Response = hit.dyn_into().ok()?;
    let buf = JsFuture::from(resp.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buf).to_vec())
}

/// Stores `bytes` under `key`; the error says why the browser would not (a full quota).
pub async fn cache_put(cache: &web_sys::Cache, key: &str, bytes: &[u8]) -> Result<(), String> {
    let body = Uint8Array::from(bytes);
    let resp = Response::new_with_opt_buffer_source(Some(&body)).map_err(js_err)?;
    put(cache, key, &resp).await
}

async fn put(cache: &web_sys::Cache, key: &str, resp: &Response) -> Result<(), String> {
    JsFuture::from(cache.put_with_str(key, resp))
        .await
        .map(drop)
        .map_err(js_err)
}

/// Stores the concatenation of `parts` (`Uint8Array`s) under `key`, as one Blob (the
/// browser joins them, not the page's thread).
pub async fn cache_put_parts(
    cache: &web_sys::Cache,
    key: &str,
    parts: &js_sys::Array,
) -> Result<(), String> {
    let blob = web_sys::Blob::new_with_u8_array_sequence(parts).map_err(js_err)?;
    let resp = Response::new_with_opt_blob(Some(&blob)).map_err(js_err)?;
    put(cache, key, &resp).await
}

/// The contents of a file the user chose or dropped; None when the browser cannot read it.
pub async fn file_bytes(file: &web_sys::File) -> Option<Vec<u8>> {
    let buf = JsFuture::from(file.array_buffer()).await.ok()?;
    Some(Uint8Array::new(&buf).to_vec())
}

/// Like `fetch_bytes`, but served from the browser's Cache Storage when a file with this
/// sha256 was downloaded before (and stored there after a download). Without Cache Storage
/// (an insecure context, a private window) it simply downloads.
pub async fn fetch_cached(
    url: &str,
    sha256: &str,
    progress: impl FnMut(u64),
) -> Result<Vec<u8>, String> {
    let key = format!("{url}?sha256={sha256}");
    let cache = open_cache(CACHE_NAME).await;
    if let Some(cache) = &cache
        && let Some(bytes) = cache_bytes(cache, &key).await
    {
        return Ok(bytes);
    }
    let bytes = fetch_bytes(url, progress).await?;
    if let Some(cache) = &cache {
        // Storing is best effort: a full quota only costs a download next time.
        let _ = cache_put(cache, &key, &bytes).await;
    }
    Ok(bytes)
}
