//! Frame timing: the clock, the next animation frame, and the slice of a frame that work
//! on the page's thread may take.

use js_sys::Promise;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Milliseconds of training per animation frame (a 60 Hz frame is 16.7 ms).
pub const FRAME_BUDGET_MS: f64 = 12.0;

/// Milliseconds since the page opened (`performance.now()`).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Resolves at the next animation frame.
pub async fn next_frame() {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(resolve.unchecked_ref());
        }
    });
    let _ = JsFuture::from(promise).await;
}
