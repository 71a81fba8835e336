//! Copies the WGSL kernels of shaders/ into the build without their comments (the page
//! carries them in its wasm: about 5 KB gzip less). Lines are kept, so a shader compiler's
//! line numbers still point into shaders/.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo::rerun-if-changed=shaders");
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("shaders");
    fs::create_dir_all(&out).expect("create OUT_DIR/shaders");
    let mut entries: Vec<_> = fs::read_dir("shaders")
        .expect("read shaders/")
        .map(|e| e.expect("a shaders/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    entries.sort();
    for path in entries {
        let text = fs::read_to_string(&path).expect("read a shader");
        let name = path.file_name().expect("a file name");
        fs::write(out.join(name), strip_comments(&text)).expect("write a shader");
    }
}

/// Drops `//` comments (WGSL has no string literals, so `//` always starts one) and
/// trailing blanks, line by line.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = line.find("//").map_or(line, |i| &line[..i]);
        out.push_str(code.trim_end());
        out.push('\n');
    }
    out
}
