//! Rebuild when the web UI's files change: they are embedded with `include_dir!`, which stable
//! Rust cannot track by itself.

fn main() {
    println!("cargo:rerun-if-changed=ui");
    println!("cargo:rerun-if-changed=build.rs");
}
