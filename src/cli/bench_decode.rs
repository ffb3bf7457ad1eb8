//! `tierd bench decode`: tierd's decode path against faster-whisper on the very same weights (the
//! CTranslate2 directories the model pipeline extracted), interleaved A B A B in one run, over the
//! fixtures as separate utterances and as one long file. Run through `benches/peers/run.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use tierd::audio::{self, Pcm16k};
use tierd::engine::{Engine, RequestOptions, SpeechConfig};
use tierd::provision::progress::Progress;
use tierd::provision::store::ModelStore;
use tierd::wer::{wer, WerStats};

#[derive(Args)]
pub struct DecodeArgs {
    /// A Python with faster-whisper installed (benches/peers/run.sh makes one).
    #[arg(long)]
    pub peer_python: PathBuf,
    /// Folder of speech clips with transcripts.tsv.
    #[arg(long, default_value = "tests/fixtures/speech")]
    pub audio: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Threads per decode, for both sides.
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
}

/// (family, tierd model, CTranslate2 source, faster-whisper compute type)
const PAIRS: [(&str, &str, &str, &str); 4] = [
    ("tiny.en", "tiny.en-q8_0", "whisper-tiny.en-ct2", "int8"),
    ("tiny.en", "tiny.en-f16", "whisper-tiny.en-ct2", "float32"),
    ("base", "base-q8_0", "whisper-base-ct2", "int8"),
    ("base", "base-f16", "whisper-base-ct2", "float32"),
];

struct Side {
    seconds: Vec<f64>,
    stats: WerStats,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs faster-whisper over `files`; returns (total decode seconds, texts, peak RSS kB).
fn peer(python: &Path, model_dir: &Path, compute: &str, threads: u32, files: &[PathBuf]) -> Result<(f64, Vec<String>, u64)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/faster_whisper_decode.py");
    let out = Command::new(python).arg(&script).arg(model_dir).arg(compute).arg("1").arg(threads.to_string()).args(files).output().context("running faster-whisper")?;
    if !out.status.success() {
        bail!("faster-whisper failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (mut total, mut texts, mut rss) = (0.0, Vec::new(), 0);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(r) = v["peak_rss_kb"].as_u64() {
            rss = r;
        } else {
            total += v["seconds"].as_f64().unwrap_or(0.0);
            texts.push(v["text"].as_str().unwrap_or_default().to_string());
        }
    }
    Ok((total, texts, rss))
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

pub fn run(args: DecodeArgs, models_dir: &Path) -> Result<ExitCode> {
    let tsv = std::fs::read_to_string(args.audio.join("transcripts.tsv"))?;
    let clips: Vec<(PathBuf, String)> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut c = l.split('\t');
            Some((args.audio.join(c.next()?), c.next()?.to_string()))
        })
        .collect();
    // The long file: every clip three times over, 1 s of silence between.
    let mut long = Vec::new();
    for _ in 0..3 {
        for (p, _) in &clips {
            long.extend(audio::load_file(p)?.0);
            long.extend(vec![0.0f32; 16000]);
        }
    }
    let long_ref = vec![clips.iter().map(|c| c.1.as_str()).collect::<Vec<_>>().join(" "); 3].join(" ");
    let dir = tempfile::tempdir()?;
    let long_path = dir.path().join("long.wav");
    std::fs::write(&long_path, audio::encode_wav_s16(&long, 16000, 1)).with_context(|| format!("writing {}", long_path.display()))?;
    let long = Pcm16k(long);
    let shorts: Vec<PathBuf> = clips.iter().map(|c| c.0.clone()).collect();
    let short_pcm: Vec<Pcm16k> = shorts.iter().map(|p| audio::load_file(p)).collect::<Result<_, _>>()?;
    let short_audio: f64 = short_pcm.iter().map(|p| p.seconds()).sum();

    let models: Vec<String> = PAIRS.iter().map(|p| p.1.to_string()).collect();
    let store = ModelStore::open(models_dir)?;
    let engine = Engine::start(store, &models, &Progress::terminal())?;
    println!("short: {} clips, {short_audio:.1} s; long: one file of {:.1} s; {} threads per decode on both sides; {} interleaved rounds, medians", clips.len(), long.seconds(), args.threads, args.rounds);
    println!("| set | tierd | wall | RTF | WER | faster-whisper | wall | RTF | WER | faster-whisper / tierd |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let opts = RequestOptions::default();
    let mut peer_rss = 0;
    for (family, model, source, compute) in PAIRS {
        let ct2 = engine.store().source_dir(source);
        let config = SpeechConfig { threads: args.threads, ..SpeechConfig::new(model, 1) };
        for (set, audio_s) in [("short", short_audio), ("long", long.seconds())] {
            let (mut ours, mut theirs) = (Side { seconds: vec![], stats: WerStats::default() }, Side { seconds: vec![], stats: WerStats::default() });
            for _ in 0..args.rounds {
                let started = Instant::now();
                let mut stats = WerStats::default();
                if set == "short" {
                    for (pcm, (_, r)) in short_pcm.iter().zip(&clips) {
                        stats += wer(r, &engine.transcribe(pcm, &config, &opts)?.text);
                    }
                } else {
                    stats += wer(&long_ref, &engine.transcribe_long(&long, &config, &opts, |_, _, _| {})?.text);
                }
                ours.seconds.push(started.elapsed().as_secs_f64());
                ours.stats = stats;
                let files = if set == "short" { shorts.clone() } else { vec![long_path.clone()] };
                let (secs, texts, rss) = peer(&args.peer_python, &ct2, compute, args.threads, &files)?;
                peer_rss = peer_rss.max(rss);
                let mut stats = WerStats::default();
                if set == "short" {
                    for (t, (_, r)) in texts.iter().zip(&clips) {
                        stats += wer(r, t);
                    }
                } else {
                    stats += wer(&long_ref, &texts.join(" "));
                }
                theirs.seconds.push(secs);
                theirs.stats = stats;
            }
            let (a, b) = (median(ours.seconds), median(theirs.seconds));
            println!(
                "| {set} ({family}) | {model} greedy | {a:.2} s | {:.3} | {:.1} % | {compute} greedy | {b:.2} s | {:.3} | {:.1} % | {:.2} |",
                a / audio_s,
                ours.stats.rate() * 100.0,
                b / audio_s,
                theirs.stats.rate() * 100.0,
                b / a
            );
        }
    }
    println!("peak RSS: tierd process {} MB (all four models loaded), faster-whisper process {} MB (largest run)", peak_rss_kb() / 1024, peer_rss / 1024);
    Ok(ExitCode::SUCCESS)
}
