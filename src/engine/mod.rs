//! The engine: the middle layer between transports and backends. It owns the loaded models (one
//! whisper context per model, shared by every request) and runs a speech configuration on audio.
//! Transports ask it for transcripts; they never touch a backend.

pub mod batch;
pub mod cpu;
pub mod pool;
pub mod stream;
pub mod tiers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};

use std::sync::atomic::AtomicBool;

use crate::audio::Pcm16k;
use crate::backend::{onnx, vad::SileroVad};
use crate::provision::progress::Progress;
use crate::backend::whisper::{default_threads, WhisperModel};
/// Decoded text with timings: what transports render.
pub use crate::backend::whisper::{Segment, Word};
use crate::provision::store::ModelStore;
use crate::transcript::Transcript;
use cpu::CpuBudget;
use pool::{DecodeJob, DecodePool, Priority};

/// One point in the configuration space: which model, how to decode it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SpeechConfig {
    pub model: String,
    /// 1 = greedy, N > 1 = beam search of width N.
    pub beam: u32,
    /// Threads per decode.
    pub threads: u32,
    /// Run the encoder over the audio's length (plus a margin) instead of whisper's padded 30 s.
    #[serde(default)]
    pub fit_audio_ctx: bool,
}

impl SpeechConfig {
    pub fn new(model: &str, beam: u32) -> Self {
        SpeechConfig { model: model.to_string(), beam: beam.max(1), threads: default_threads(), fit_audio_ctx: false }
    }
}

/// Per-request options that do not change the configuration.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub language: Option<String>,
    pub prompt: Option<String>,
}

/// Whisper's own heuristic for "this window had no speech": drop such segments instead of
/// returning the hallucinated words.
const NO_SPEECH_PROB: f32 = 0.6;
const LOW_LOGPROB: f32 = -1.0;

fn is_hallucination(s: &Segment) -> bool {
    s.no_speech_prob > NO_SPEECH_PROB && s.avg_logprob < LOW_LOGPROB
}

/// Removes whisper's non-speech annotations: `[BLANK_AUDIO]`, `[MUSIC]`, and segments that are only a
/// parenthesised or starred sound description such as "(wind blowing)" or "*sigh*".
fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let t = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let wrapped = |open: char, close: char| t.starts_with(open) && t.ends_with(close);
    if wrapped('(', ')') || (t.len() > 1 && wrapped('*', '*')) {
        return String::new();
    }
    t
}

/// Whisper's segments with hallucinations and annotations removed.
pub(crate) fn clean(segments: Vec<Segment>) -> Vec<Segment> {
    segments
        .into_iter()
        .filter(|s| !is_hallucination(s))
        .filter_map(|mut s| {
            s.text = strip_annotations(&s.text);
            s.words.retain(|w| !w.word.starts_with('[') && !w.word.ends_with(']'));
            (!s.text.is_empty()).then_some(s)
        })
        .collect()
}

/// Loaded models, one whisper context per model variant, shared by every decoder.
pub struct ModelCache {
    store: ModelStore,
    loaded: Mutex<HashMap<String, Arc<WhisperModel>>>,
}

impl ModelCache {
    pub fn new(store: ModelStore) -> Self {
        ModelCache { store, loaded: Mutex::new(HashMap::new()) }
    }

    /// The loaded model, loading it on first use. Models must already be installed.
    pub fn get(&self, name: &str) -> Result<Arc<WhisperModel>> {
        if let Some(m) = self.loaded.lock().unwrap().get(name) {
            return Ok(m.clone());
        }
        let path = self.store.installed_path(name)?;
        let started = Instant::now();
        let model = Arc::new(WhisperModel::load(name, &path)?);
        tracing::info!(model = name, seconds = started.elapsed().as_secs_f64(), "model loaded");
        // Two threads may load at once; the first insert wins and both use it.
        Ok(self.loaded.lock().unwrap().entry(name.to_string()).or_insert(model).clone())
    }
}

/// Queued finals beyond which new ones are refused as overload.
const MAX_QUEUED_FINALS: usize = 256;

pub struct Engine {
    models: Arc<ModelCache>,
    pool: DecodePool,
    vad: Arc<SileroVad>,
}

/// Runtime assets every engine needs besides its Whisper models.
const ASSETS: [&str; 2] = ["silero-vad", "onnxruntime"];

impl Engine {
    /// Fetches what is missing (the VAD, ONNX Runtime and `models`), loads the VAD and `models`, and
    /// starts one decode worker per core. Blocking.
    pub fn start(store: ModelStore, models: &[String], progress: &Progress) -> Result<Self> {
        for name in ASSETS.iter().map(|s| s.to_string()).chain(models.iter().cloned()) {
            store.pull(&name, progress).with_context(|| format!("fetching model {name}"))?;
        }
        let env = onnx::init(&store.installed_path("onnxruntime")?)?;
        let vad = Arc::new(SileroVad::load(env, &store.installed_path("silero-vad")?)?);
        let cache = Arc::new(ModelCache::new(store));
        for m in models {
            cache.get(m)?;
        }
        let workers = CpuBudget::global().total() as usize;
        Ok(Engine { pool: DecodePool::new(cache.clone(), workers, MAX_QUEUED_FINALS), models: cache, vad })
    }

    /// The voice activity detector shared by every stream.
    pub fn vad(&self) -> &Arc<SileroVad> {
        &self.vad
    }

    pub fn store(&self) -> &ModelStore {
        &self.models.store
    }

    pub fn pool(&self) -> &DecodePool {
        &self.pool
    }

    /// Cores decodes may use in this process.
    pub fn cpu_total(&self) -> u32 {
        CpuBudget::global().total()
    }

    /// Transcribes audio with one configuration, blocking the calling thread (not for async code: use
    /// `pool().submit`). Silence gives an empty transcript without running the model.
    pub fn transcribe(&self, pcm: &Pcm16k, config: &SpeechConfig, opts: &RequestOptions) -> Result<Transcript> {
        let started = Instant::now();
        let job = DecodeJob {
            priority: Priority::Final,
            stream: 0,
            config: config.clone(),
            pcm: pcm.0.clone(),
            language: opts.language.clone(),
            prompt: opts.prompt.clone(),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let out = self.pool.submit(job).blocking_recv().map_err(|_| anyhow::anyhow!("the decode pool stopped"))??;
        Ok(Transcript::from_segments(out.segments, &config.model, config.beam, pcm.seconds(), started.elapsed().as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_removed() {
        assert_eq!(strip_annotations("[BLANK_AUDIO]"), "");
        assert_eq!(strip_annotations(" (wind blowing) "), "");
        assert_eq!(strip_annotations("*sigh*"), "");
        assert_eq!(strip_annotations("Hello [MUSIC] there."), "Hello there.");
        assert_eq!(strip_annotations("Ten of clubs (the card)."), "Ten of clubs (the card).");
    }
}
