//! Shared helpers for integration tests: the model directory, fixture loading, one-time model pulls.

#![allow(dead_code)]

pub mod stream;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tierd::audio::{self, Pcm16k};
use tierd::provision::progress::Progress;
use tierd::provision::store::{default_models_dir, ModelStore};

/// The models directory tests use: `TIERD_MODELS_DIR` or the default cache, as `tierd` itself does.
pub fn models_dir() -> PathBuf {
    std::env::var_os("TIERD_MODELS_DIR").map(PathBuf::from).unwrap_or_else(default_models_dir)
}

static PULL: Mutex<()> = Mutex::new(());

/// A store with `names` installed (pulled from the registries on first use, then cached).
pub fn store_with(names: &[&str]) -> ModelStore {
    let _guard = PULL.lock().unwrap_or_else(|e| e.into_inner());
    let store = ModelStore::open(models_dir()).unwrap();
    for n in names {
        store.pull(n, &Progress::hidden()).unwrap_or_else(|e| panic!("pulling {n}: {e:#}"));
    }
    store
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// (clip path, reference transcript) for every speech fixture.
pub fn speech_fixtures() -> Vec<(PathBuf, String)> {
    let dir = fixtures_dir().join("speech");
    let tsv = std::fs::read_to_string(dir.join("transcripts.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let file = cols.next().unwrap();
            let reference = cols.next().unwrap();
            (dir.join(file), reference.to_string())
        })
        .collect()
}

pub fn load(path: &Path) -> Pcm16k {
    audio::load_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// White noise from a fixed-seed generator (xorshift), amplitude `amp`.
pub fn white_noise(samples: usize, amp: f32, seed: u64) -> Vec<f32> {
    let mut x = seed.max(1);
    (0..samples)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amp
        })
        .collect()
}

/// Writes 16-bit PCM WAV (interleaved when `channels` > 1).
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    std::fs::write(path, audio::encode_wav_s16(samples, rate, channels)).unwrap();
}

/// An engine with `names` installed and loaded (and the VAD).
pub fn engine_with(names: &[&str]) -> tierd::engine::Engine {
    let store = store_with(names);
    let models: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    tierd::engine::Engine::start(store, &models, &Progress::hidden()).unwrap()
}
