//! One binary, three faces: the page when compiled to wasm32 (Trunk), a worker that trains
//! one run for the page when that wasm starts in a Web Worker, the CLI natively.

#[cfg(target_arch = "wasm32")]
fn main() {
    if riglab::worker::web::in_worker() {
        riglab::worker::web::start();
    } else {
        riglab::app::start();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    riglab::cli::main()
}
