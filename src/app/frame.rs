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

/// Work on the page's thread in slices of a frame's budget: `pace` waits for the next frame
/// once the current slice has taken more than `FRAME_BUDGET_MS`.
pub struct Slice(f64);

impl Slice {
    pub fn new() -> Self {
        Slice(now_ms())
    }

    pub async fn pace(&mut self) {
        if now_ms() - self.0 > FRAME_BUDGET_MS {
            next_frame().await;
            self.0 = now_ms();
        }
    }
}

/// Resolves after `ms` milliseconds (a timer: it also runs while the page is hidden, when
/// animation frames stop).
pub async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w
                .set_timeout_with_callback_and_timeout_and_arguments_0(resolve.unchecked_ref(), ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Runs `f` soon in a task of its own (a 0 ms timer) unless a run of it is already waiting
/// (`pending`): the views draw in several short tasks rather than one long one, so the
/// page's thread stays responsive while it shares the cores with the workers.
pub fn soon(pending: leptos::prelude::StoredValue<bool>, f: impl FnOnce() + 'static) {
    use leptos::prelude::*;
    if pending.try_get_value().unwrap_or(true) {
        return;
    }
    pending.set_value(true);
    leptos::task::spawn_local(async move {
        sleep_ms(0).await;
        if pending.try_update_value(|p| *p = false).is_some() {
            f();
        }
    });
}

/// Keeps `visible` telling whether `el` is on screen (within 200 px), and calls `shown` each
/// time it comes on screen; the observer goes with the calling component.
pub fn on_visibility(
    el: &web_sys::Element,
    visible: leptos::prelude::StoredValue<bool>,
    shown: impl Fn() + 'static,
) {
    use leptos::prelude::*;
    use wasm_bindgen::closure::Closure;
    let callback = Closure::<dyn Fn(js_sys::Array)>::new(move |entries: js_sys::Array| {
        let Some(last) = entries
            .iter()
            .filter_map(|e| e.dyn_into::<web_sys::IntersectionObserverEntry>().ok())
            .next_back()
        else {
            return;
        };
        let now = last.is_intersecting();
        let before = visible.try_get_value().unwrap_or(true);
        let _ = visible.try_set_value(now);
        if now && !before {
            shown();
        }
    });
    let init = web_sys::IntersectionObserverInit::new();
    init.set_root_margin("200px");
    let Ok(observer) =
        web_sys::IntersectionObserver::new_with_options(callback.as_ref().unchecked_ref(), &init)
    else {
        return;
    };
    observer.observe(el);
    let kept = StoredValue::new_local((observer, callback));
    on_cleanup(move || {
        let _ = kept.try_with_value(|(o, _)| o.disconnect());
    });
}
