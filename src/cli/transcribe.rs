//! `tierd transcribe FILE|DIR…`: audio files in (WAV, FLAC, MP3, Ogg/Vorbis, M4A/AAC, AIFF), transcripts
//! out as text, JSON, SRT, WebVTT or OpenAI's verbose JSON; to stdout or one file each in `--out`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use tierd::audio;
use tierd::engine::tiers::{TierRequest, Tiers};
use tierd::engine::{Engine, RequestOptions, SpeechConfig};
use tierd::provision::progress::Progress;
use tierd::provision::store::ModelStore;
use tierd::transcript::{render, verbose_json, Format};

const AUDIO_EXTENSIONS: [&str; 10] = ["wav", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac", "aiff", "aif"];

#[derive(Args)]
pub struct TranscribeArgs {
    /// Audio files, or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Tier to use (see `GET /v1/tiers` or models/tiers.toml); default: the default tier.
    #[arg(long, conflicts_with = "model")]
    pub tier: Option<String>,
    /// A model variant instead of a tier (see `tierd models list`); fetched on first use.
    #[arg(long)]
    pub model: Option<String>,
    /// With --model: beam width (1 decodes greedily, N > 1 runs beam search).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub beam: u32,
    /// Spoken language for multilingual models ("auto" to detect).
    #[arg(long, default_value = "en")]
    pub language: String,
    /// Text that primes the decoder (names, spelling).
    #[arg(long)]
    pub prompt: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write one transcript per input into this folder instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().and_then(|e| e.to_str()).is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_lowercase().as_str())))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        bail!("no audio files found in the inputs");
    }
    Ok(files)
}

pub fn run(args: TranscribeArgs, models_dir: &Path) -> Result<ExitCode> {
    let tiers = Tiers::builtin()?;
    let (config, tier_name) = match &args.model {
        Some(m) => (SpeechConfig::new(m, args.beam), None),
        None => {
            let t = tiers.resolve(&TierRequest { tier: args.tier.clone() })?;
            (t.config.clone(), Some(t.name.clone()))
        }
    };
    let files = expand(&args.inputs)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let progress = Progress::terminal();
    let engine = Engine::start(ModelStore::open(models_dir)?, std::slice::from_ref(&config.model), &progress)?;
    let language = (args.language != "auto").then(|| args.language.clone());
    let opts = RequestOptions { language: language.clone(), prompt: args.prompt.clone() };
    let mut failed = 0;
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy().to_string();
        let result = audio::load_file(file).map_err(anyhow::Error::from).and_then(|pcm| {
            let bar = progress.steps(0, name.clone());
            let t = engine.transcribe_long(&pcm, &config, &opts, |_, done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            });
            bar.finish_and_clear();
            t
        });
        let transcript = match result {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: {e:#}", file.display());
                failed += 1;
                continue;
            }
        };
        tracing::info!(file = %file.display(), audio_seconds = transcript.duration, decode_seconds = transcript.decode_seconds, "transcribed");
        let text = match args.format {
            Format::VerboseJson => {
                let v = verbose_json(&transcript, language.as_deref().unwrap_or("en"), true, tier_name.as_deref());
                serde_json::to_string_pretty(&v)? + "\n"
            }
            f => render(&transcript, f),
        };
        match &args.out {
            Some(dir) => {
                let stem = file.file_stem().unwrap_or_default().to_string_lossy();
                let path = dir.join(format!("{stem}.{}", args.format.extension()));
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            }
            None => print!("{text}"),
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
