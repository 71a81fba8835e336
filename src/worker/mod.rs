//! A run trained away from the page's thread: the protocol between the page and a worker
//! (`protocol`), the worker's side of it (`session`, target-independent), and the worker's
//! entry in the browser (`web`, wasm only).

pub mod landscape;
pub mod protocol;
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use protocol::Mark;
