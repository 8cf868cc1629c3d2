include!("../build-support/native_libs.rs");

/// libtorch and DuckDB on the loader path of `cargo run`/`cargo test` and in the rpath of the
/// `hfzoo` binary.
fn main() {
    expose_native_dir("LIBTORCH", "lib", "torch-lib");
    expose_native_dir("DUCKDB_LIB_DIR", "", "duckdb-lib");
}
