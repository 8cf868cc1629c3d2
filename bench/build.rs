include!("../build-support/native_libs.rs");

/// libtorch on the loader path of `cargo run`/`cargo test` and in the binary's rpath.
fn main() {
    expose_native_dir("LIBTORCH", "lib", "torch-lib");
}
