//! The address bar: rewritten on every change so a shared link reproduces the setup.

use crate::config::Config;
use crate::share::{PageParams, query};

/// Rewrites the address bar without reloading or adding history entries.
pub fn write(config: &Config, page: &PageParams) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let q = query(config, page);
    let path = window.location().pathname().unwrap_or_else(|_| "/".into());
    let url = if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    };
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// The full shareable URL of the current page.
pub fn share_url(config: &Config, page: &PageParams) -> String {
    let Some(window) = web_sys::window() else {
        return String::new();
    };
    let loc = window.location();
    let origin = loc.origin().unwrap_or_default();
    let path = loc.pathname().unwrap_or_else(|_| "/".into());
    let q = query(config, page);
    if q.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{q}")
    }
}
