//! Whisper through whisper-rs: one loaded context per model file, shared; one decoder (whisper state)
//! per concurrent decode, reused across decodes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

/// A loaded model. Cheap to share: decoders hold a reference to it.
pub struct WhisperModel {
    name: String,
    ctx: WhisperContext,
}

/// How to decode: the knobs a tier configuration sets.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeParams {
    /// 1 = greedy decoding, N > 1 = beam search of width N.
    pub beam: u32,
    pub threads: u32,
    /// ISO code such as "en"; None lets a multilingual model detect it.
    pub language: Option<String>,
    /// Text that conditions the decoder (vocabulary, spelling, previous context).
    pub prompt: Option<String>,
    /// Per-token timestamps, for word timings.
    pub word_timestamps: bool,
    /// Encoder positions to run (50 per second of audio); None = the full 30 s window (1500).
    pub audio_ctx: Option<u32>,
}

impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams { beam: 1, threads: default_threads(), language: Some("en".into()), prompt: None, word_timestamps: true, audio_ctx: None }
    }
}

/// Encoder positions per second of audio (whisper: 100 mel frames/s, halved by the conv stride).
const CTX_PER_SECOND: f64 = 50.0;
/// Whisper's full window: 30 s.
pub const FULL_AUDIO_CTX: u32 = 1500;

/// An encoder window fitted to `samples` of 16 kHz audio: its length plus a margin of ~1.3 s,
/// rounded up to a multiple of 64, at most the full window. Short utterances then cost a fraction of
/// a 30 s encode.
pub fn fitted_audio_ctx(samples: usize) -> u32 {
    let needed = (samples as f64 / 16000.0 * CTX_PER_SECOND).ceil() as u32 + 64;
    (needed.div_ceil(64) * 64).min(FULL_AUDIO_CTX)
}

/// Threads for one decode: the machine's cores, capped at 8 where whisper.cpp stops gaining.
pub fn default_threads() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2).min(8)
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub word: String,
    pub start: f64,
    pub end: f64,
    /// Mean token probability of the word.
    pub p: f32,
}

/// One decoded segment, times in seconds from the start of the audio decoded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub words: Vec<Word>,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
}

/// Why a decode ended without a result.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("decode cancelled")]
    Cancelled,
    #[error("whisper failed: {0}")]
    Whisper(String),
}

impl WhisperModel {
    pub fn load(name: &str, path: &Path) -> Result<Self> {
        whisper_rs::install_logging_hooks();
        let path_str = path.to_str().context("model path is not valid UTF-8")?;
        let params = WhisperContextParameters::default();
        let ctx = WhisperContext::new_with_params(path_str, params)
            .map_err(|e| anyhow!("whisper.cpp could not load {}: {e}", path.display()))?;
        Ok(WhisperModel { name: name.to_string(), ctx })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// A new decoder with its own working memory (KV caches, mel buffer).
    pub fn decoder(&self) -> Result<WhisperDecoder> {
        let state = self.ctx.create_state().map_err(|e| anyhow!("creating whisper state for {}: {e}", self.name))?;
        Ok(WhisperDecoder { state, multilingual: self.is_multilingual() })
    }
}

/// Called by ggml between computation steps; `user_data` points at the decode's cancel flag.
unsafe extern "C" fn abort_trampoline(user_data: *mut std::ffi::c_void) -> bool {
    // SAFETY: `decode` passes `Arc::as_ptr` of an `AtomicBool` it keeps alive for the whole call.
    let flag = unsafe { &*(user_data as *const AtomicBool) };
    flag.load(Ordering::Relaxed)
}

pub struct WhisperDecoder {
    state: WhisperState,
    multilingual: bool,
}

impl WhisperDecoder {
    /// Decodes 16 kHz mono audio. `cancel`, when set during the decode, stops it between steps.
    pub fn decode(&mut self, pcm: &[f32], p: &DecodeParams, cancel: Option<Arc<AtomicBool>>) -> Result<Vec<Segment>, DecodeError> {
        let strategy = if p.beam > 1 {
            SamplingStrategy::BeamSearch { beam_size: p.beam as i32, patience: -1.0 }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(p.threads.max(1) as i32);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_token_timestamps(p.word_timestamps);
        // Each request stands alone: no text carried over from a previous decode on this state.
        params.set_no_context(true);
        if let Some(ctx) = p.audio_ctx {
            params.set_audio_ctx(ctx as i32);
        }
        let language = if self.multilingual { p.language.as_deref() } else { Some("en") };
        params.set_language(language.or(Some("auto")));
        if let Some(prompt) = &p.prompt {
            params.set_initial_prompt(prompt);
        }
        // whisper-rs 0.16's `set_abort_callback_safe` casts its boxed closure to the wrong type (reads
        // garbage: random aborts and crashes), so the raw callback is used with a trampoline of our own.
        // The flag outlives the call: `cancel` holds a reference until `full` returns.
        if let Some(flag) = &cancel {
            unsafe {
                params.set_abort_callback(Some(abort_trampoline));
                params.set_abort_callback_user_data(Arc::as_ptr(flag) as *mut std::ffi::c_void);
            }
        }
        let result = self.state.full(params, pcm);
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(DecodeError::Cancelled);
        }
        result.map_err(|e| DecodeError::Whisper(e.to_string()))?;
        Ok(self.segments())
    }

    fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        for seg in self.state.as_iter() {
            let text = seg.to_str_lossy().map(|s| s.trim().to_string()).unwrap_or_default();
            let mut words: Vec<Word> = Vec::new();
            let mut probs: Vec<f32> = Vec::new();
            let (mut logprob_sum, mut n_tokens) = (0f32, 0usize);
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else { continue };
                let piece = tok.to_str_lossy().map(|s| s.into_owned()).unwrap_or_default();
                // Special tokens ([_BEG_], <|endoftext|>, timestamps) carry no text.
                if piece.starts_with("[_") || piece.starts_with("<|") {
                    continue;
                }
                let data = tok.token_data();
                logprob_sum += data.plog;
                n_tokens += 1;
                let (t0, t1) = (data.t0 as f64 / 100.0, data.t1 as f64 / 100.0);
                let starts_word = piece.starts_with(' ') || words.is_empty();
                if starts_word && !piece.trim().is_empty() {
                    if let Some(last) = words.last_mut() {
                        last.p = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
                    }
                    probs.clear();
                    words.push(Word { word: piece.trim().to_string(), start: t0, end: t1, p: data.p });
                } else if let Some(last) = words.last_mut() {
                    last.word.push_str(piece.trim_end());
                    last.end = t1;
                }
                probs.push(data.p);
            }
            if let Some(last) = words.last_mut() {
                last.p = probs.iter().sum::<f32>() / probs.len().max(1) as f32;
            }
            out.push(Segment {
                start: seg.start_timestamp() as f64 / 100.0,
                end: seg.end_timestamp() as f64 / 100.0,
                text,
                words,
                avg_logprob: if n_tokens > 0 { logprob_sum / n_tokens as f32 } else { 0.0 },
                no_speech_prob: seg.no_speech_probability(),
            });
        }
        out
    }
}
