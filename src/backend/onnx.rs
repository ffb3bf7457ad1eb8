//! ONNX Runtime, loaded at run time from the `libonnxruntime.so` the model pipeline extracted from the
//! PyPI `onnxruntime` wheel: users need no environment variable and no system package.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use ort::environment::Environment;

static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` once per process and returns its environment; later calls return
/// the first outcome.
pub fn init(library: &Path) -> Result<&'static Environment> {
    let outcome = RUNTIME.get_or_init(|| {
        let builder = ort::init_from(library).map_err(|e| format!("loading ONNX Runtime from {}: {e}", library.display()))?;
        builder.with_name("tierd").build().map_err(|e| format!("starting ONNX Runtime: {e}"))
    });
    outcome.as_ref().map_err(|e| anyhow!("{e}"))
}
