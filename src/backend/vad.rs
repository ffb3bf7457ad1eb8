//! Silero VAD v6 (ONNX): speech probability for each 32 ms of 16 kHz audio.
//!
//! The model is recurrent: each call takes 512 new samples plus the previous call's last 64 samples
//! as context, and an LSTM state of 2×1×128. One session serves every stream; each stream keeps its own
//! [`VadState`].

use std::path::Path;
use std::sync::Mutex;

use anyhow::{anyhow, Context, Result};
use ort::environment::Environment;
use ort::session::{builder::SessionBuilder, Session};
use ort::value::Tensor;

/// Samples per VAD step at 16 kHz.
pub const CHUNK: usize = 512;
const CONTEXT: usize = 64;
const STATE: usize = 2 * 128;

pub struct SileroVad {
    session: Mutex<Session>,
}

/// One stream's recurrent state.
#[derive(Clone)]
pub struct VadState {
    state: Vec<f32>,
    context: Vec<f32>,
}

impl Default for VadState {
    fn default() -> Self {
        VadState { state: vec![0.0; STATE], context: vec![0.0; CONTEXT] }
    }
}

impl SileroVad {
    /// Loads the model into the ONNX Runtime `env` (see [`super::onnx::init`]).
    pub fn load(env: &Environment, model: &Path) -> Result<Self> {
        let configure = || -> Result<SessionBuilder> {
            let b = Session::builder(env).map_err(|e| anyhow!("{e}"))?;
            let b = b.with_intra_threads(1).map_err(|e| anyhow!("{e}"))?;
            b.with_inter_threads(1).map_err(|e| anyhow!("{e}"))
        };
        let session = configure()
            .context("configuring the VAD session")?
            .commit_from_file(model)
            .map_err(|e| anyhow!("loading the VAD model {}: {e}", model.display()))?;
        Ok(SileroVad { session: Mutex::new(session) })
    }

    /// Speech probability of the next 512 samples, advancing `st`.
    pub fn probability(&self, st: &mut VadState, chunk: &[f32]) -> Result<f32> {
        anyhow::ensure!(chunk.len() == CHUNK, "the VAD takes {CHUNK} samples at a time, got {}", chunk.len());
        let mut input = Vec::with_capacity(CONTEXT + CHUNK);
        input.extend_from_slice(&st.context);
        input.extend_from_slice(chunk);
        let input = Tensor::from_array(([1usize, CONTEXT + CHUNK], input))?;
        let state = Tensor::from_array(([2usize, 1, 128], st.state.clone()))?;
        let sr = Tensor::from_array(([0usize; 0], vec![16000i64]))?;
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(ort::inputs!["input" => input, "state" => state, "sr" => sr]).context("running the VAD")?;
        let (_, prob) = outputs["output"].try_extract_tensor::<f32>()?;
        let (_, new_state) = outputs["stateN"].try_extract_tensor::<f32>()?;
        let p = prob.first().copied().unwrap_or(0.0);
        st.state.copy_from_slice(new_state);
        st.context.copy_from_slice(&chunk[CHUNK - CONTEXT..]);
        Ok(p)
    }
}
