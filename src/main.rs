//! One binary, two faces: the page when compiled to wasm32 (Trunk), the CLI natively.

#[cfg(target_arch = "wasm32")]
fn main() {
    riglab::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    riglab::cli::main()
}
