// Exists so the build-dependencies above take part in feature unification; does nothing.
fn main() {}
