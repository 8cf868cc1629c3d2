//! A headless Chromium running onnxruntime-web, driven from Rust:
//!
//! - `launch`: finding and starting Chromium, and making sure it ends with the process;
//! - `server`: the loopback HTTP server the page talks to;
//! - `page.js`: the page, which runs onnxruntime-web;
//! - `driver`: one browser per process, a fresh page per model, time limits;
//! - `wire`: tensors as binary messages over HTTP;
//! - `placement`: which nodes the accelerated provider ran and which fell back to wasm.
//!
//! The runtime's browser backend (`runtime/src/backend/browser`) turns artifacts into page
//! models and the page's replies into verdicts; nothing here knows a model type.

pub mod driver;
pub mod launch;
pub mod placement;
pub mod server;
pub mod wire;

mod error;

pub use error::{Error, Result, ENGINE};
