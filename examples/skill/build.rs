include!("../../build-support/native_libs.rs");

/// libtorch on the loader path of `cargo run`/`cargo test` and in the rpath of the example's
/// binary (it links the torch engine, no database).
fn main() {
    expose_native_dir("LIBTORCH", "lib", "torch-lib");
}
