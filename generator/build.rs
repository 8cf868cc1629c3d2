include!("../build-support/native_libs.rs");

fn main() {
    expose_native_dir("DUCKDB_LIB_DIR", "", "duckdb-lib");
}
