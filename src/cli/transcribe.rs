//! `tierd transcribe FILE`: an audio file in, a transcript out (text, JSON, SRT or WebVTT).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use tierd::audio;
use tierd::engine::{Engine, RequestOptions, SpeechConfig};
use tierd::provision::progress::Progress;
use tierd::provision::store::ModelStore;
use tierd::transcript::{render, Format};

#[derive(Args)]
pub struct TranscribeArgs {
    /// Audio file (WAV of any sample rate and channel count).
    pub file: PathBuf,
    /// Model variant (see `tierd models list`); fetched on first use.
    #[arg(long, default_value = "base-q8_0")]
    pub model: String,
    /// Beam width: 1 decodes greedily, N > 1 runs beam search.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub beam: u32,
    /// Threads for the decode (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: Option<u32>,
    /// Spoken language for multilingual models ("auto" to detect).
    #[arg(long, default_value = "en")]
    pub language: String,
    /// Text that primes the decoder (names, spelling).
    #[arg(long)]
    pub prompt: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Size the encoder window to the audio instead of whisper's padded 30 s (faster on short audio).
    #[arg(long)]
    pub fit_audio_ctx: bool,
}

pub fn run(args: TranscribeArgs, models_dir: &Path) -> Result<ExitCode> {
    let store = ModelStore::open(models_dir)?;
    store.pull(&args.model, &Progress::terminal())?;
    let pcm = audio::load_file(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let engine = Engine::new(store);
    let mut config = SpeechConfig::new(&args.model, args.beam);
    if let Some(t) = args.threads {
        config.threads = t;
    }
    config.fit_audio_ctx = args.fit_audio_ctx;
    let language = (args.language != "auto").then_some(args.language);
    let opts = RequestOptions { language, prompt: args.prompt };
    let transcript = engine.transcribe(&pcm, &config, &opts)?;
    print!("{}", render(&transcript, args.format));
    tracing::info!(audio_seconds = transcript.duration, decode_seconds = transcript.decode_seconds, "transcribed");
    Ok(ExitCode::SUCCESS)
}
