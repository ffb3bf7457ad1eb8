//! `tierd bench stream`: replays fixture speech in real time over real WebSockets, N streams at once,
//! and prints per tier: final latency after end of speech, partial interval, real-time factor, and
//! whether the machine kept up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use tierd::audio;
use tierd::client::{stream_realtime, StreamLog};
use tierd::engine::tiers::Tiers;
use tierd::provision::progress::Progress;
use tierd::provision::store::ModelStore;
use tierd::server::{self, App, Limits};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Streaming latency and capacity per tier.
    Stream(StreamArgs),
    /// File transcription throughput per tier: chunked and parallel vs one worker on the whole file.
    Batch(BatchArgs),
    /// tierd's decode path against faster-whisper on the same weights (see benches/peers/run.sh).
    Decode(super::bench_decode::DecodeArgs),
}

#[derive(Args)]
pub struct BatchArgs {
    /// Tiers to measure (default: all).
    #[arg(long = "tier")]
    pub tiers: Vec<String>,
    /// Folder of speech clips with transcripts.tsv.
    #[arg(long, default_value = "tests/fixtures/speech")]
    pub audio: PathBuf,
    /// How many times the clips are repeated to make the recording.
    #[arg(long, default_value_t = 8)]
    pub repeat: usize,
    /// Interleaved rounds (A B A B …); the table shows medians.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

#[derive(Args)]
pub struct StreamArgs {
    /// Tiers to measure (default: all).
    #[arg(long = "tier")]
    pub tiers: Vec<String>,
    /// Concurrent stream counts to try, e.g. 1,2,4,6.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub streams: Vec<usize>,
    /// Folder of speech clips with transcripts.tsv.
    #[arg(long, default_value = "tests/fixtures/speech")]
    pub audio: PathBuf,
    /// Seconds of silence between clips.
    #[arg(long, default_value_t = 1.5)]
    pub gap: f32,
    /// Measure a running server instead of starting one in-process, e.g. ws://host:8080.
    #[arg(long)]
    pub url: Option<String>,
}

pub fn run(cmd: BenchCommand, models_dir: &Path) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Stream(args) => stream(args, models_dir),
        BenchCommand::Batch(args) => batch(args, models_dir),
        BenchCommand::Decode(args) => super::bench_decode::run(args, models_dir),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 0.5)
}

fn batch(args: BatchArgs, models_dir: &Path) -> Result<ExitCode> {
    use tierd::engine::{Engine, RequestOptions};
    use tierd::engine::tiers::TierRequest;
    let tsv = std::fs::read_to_string(args.audio.join("transcripts.tsv"))?;
    let refs: Vec<&str> = tsv.lines().skip(1).filter_map(|l| l.split('\t').nth(1)).collect();
    let (one, _) = replay_audio(&args.audio, 2.0)?;
    let mut pcm = Vec::with_capacity(one.len() * args.repeat);
    for _ in 0..args.repeat {
        pcm.extend_from_slice(&one);
    }
    let reference = vec![refs.join(" "); args.repeat].join(" ");
    let pcm = audio::Pcm16k(pcm);
    let tiers = Tiers::builtin()?;
    let names: Vec<String> = if args.tiers.is_empty() { tiers.all().iter().map(|t| t.name.clone()).collect() } else { args.tiers.clone() };
    let models: Vec<String> = names.iter().map(|n| tiers.resolve(&TierRequest { tier: Some(n.clone()) }).map(|t| t.model.clone())).collect::<Result<_, _>>()?;
    let engine = Engine::start(ModelStore::open(models_dir)?, &models, &Progress::terminal())?;
    println!("recording: the {} clips × {} with 2 s gaps = {:.1} s; {} interleaved rounds, medians", refs.len(), args.repeat, pcm.seconds(), args.rounds);
    println!("| tier | configuration | chunked + parallel: audio s / wall s | WER | one worker, whole file: audio s / wall s | WER | speed-up |");
    println!("|---|---|---|---|---|---|---|");
    let opts = RequestOptions::default();
    for name in &names {
        let tier = tiers.resolve(&TierRequest { tier: Some(name.clone()) })?;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut wer_a, mut wer_b) = (0.0, 0.0);
        for _ in 0..args.rounds {
            let t = engine.transcribe_long(&pcm, &tier.config, &opts, |_, _, _| {})?;
            a.push(pcm.seconds() / t.decode_seconds);
            wer_a = tierd::wer::wer(&reference, &t.text).rate();
            let t = engine.transcribe(&pcm, &tier.config, &opts)?;
            b.push(pcm.seconds() / t.decode_seconds);
            wer_b = tierd::wer::wer(&reference, &t.text).rate();
        }
        let (ma, mb) = (median(a), median(b));
        println!(
            "| {name} | {} {} (beam {}) | {ma:.1}× | {:.1}% | {mb:.1}× | {:.1}% | {:.2} |",
            tier.model,
            tier.decoding,
            tier.beam,
            wer_a * 100.0,
            wer_b * 100.0,
            ma / mb
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Seconds from the start of the replayed audio.
type Span = (f64, f64);

/// Clips joined with silences; returns audio and each clip's [start, end] in seconds.
fn replay_audio(dir: &Path, gap: f32) -> Result<(Vec<f32>, Vec<Span>)> {
    let tsv = std::fs::read_to_string(dir.join("transcripts.tsv")).with_context(|| format!("reading {}/transcripts.tsv", dir.display()))?;
    let silence = vec![0.0f32; (gap * 16000.0) as usize];
    let mut pcm = silence.clone();
    let mut spans = Vec::new();
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().unwrap_or_default();
        let clip = audio::load_file(&dir.join(file))?;
        let start = pcm.len() as f64 / 16000.0;
        pcm.extend(&clip.0);
        spans.push((start, pcm.len() as f64 / 16000.0));
        pcm.extend(&silence);
    }
    if spans.is_empty() {
        bail!("no clips listed in {}/transcripts.tsv", dir.display());
    }
    Ok((pcm, spans))
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// Per-run figures over all streams of one (tier, N) run.
struct RunFigures {
    finals: usize,
    expected: usize,
    latencies: Vec<f64>,
    partial_gaps: Vec<f64>,
    decode_s: f64,
    speech_s: f64,
}

fn analyse(logs: &[StreamLog], spans: &[(f64, f64)]) -> RunFigures {
    let mut f = RunFigures { finals: 0, expected: spans.len() * logs.len(), latencies: vec![], partial_gaps: vec![], decode_s: 0.0, speech_s: 0.0 };
    for log in logs {
        for r in log.of_type("final") {
            let (start, end) = (r.message["start"].as_f64().unwrap_or(0.0), r.message["end"].as_f64().unwrap_or(0.0));
            // The clip this final overlaps most is the one it transcribes.
            let overlap = |s: &(f64, f64)| (end.min(s.1) - start.max(s.0)).max(0.0);
            let Some(clip) = spans.iter().max_by(|a, b| overlap(a).partial_cmp(&overlap(b)).unwrap()) else { continue };
            if overlap(clip) <= 0.0 {
                continue;
            }
            f.finals += 1;
            f.latencies.push(r.at - log.sent_at(clip.1));
            f.decode_s += r.message["decode_ms"].as_f64().unwrap_or(0.0) / 1000.0;
            f.speech_s += end - start;
        }
        let partial_times: Vec<(u64, f64)> = log.of_type("partial").map(|r| (r.message["utterance"].as_u64().unwrap_or(0), r.at)).collect();
        for w in partial_times.windows(2) {
            if w[0].0 == w[1].0 {
                f.partial_gaps.push(w[1].1 - w[0].1);
            }
        }
    }
    f
}

fn stream(args: StreamArgs, models_dir: &Path) -> Result<ExitCode> {
    let (pcm, spans) = replay_audio(&args.audio, args.gap)?;
    let tiers = Tiers::builtin()?;
    let names: Vec<String> = if args.tiers.is_empty() { tiers.all().iter().map(|t| t.name.clone()).collect() } else { args.tiers.clone() };
    let runtime = tokio::runtime::Runtime::new()?;
    let base_url = match &args.url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let limits = Limits { max_connections: 1024, ..Limits::default() };
            let app = App::start(ModelStore::open(models_dir)?, tiers, limits, &Progress::terminal())?;
            let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
            let addr = listener.local_addr()?;
            runtime.spawn(async move { server::serve(listener, app, std::future::pending()).await });
            format!("ws://{addr}")
        }
    };
    let audio_s = pcm.len() as f64 / 16000.0;
    println!("replaying {} clips ({audio_s:.1} s of audio, {:.1} s gaps) in real time per stream; latency = final received − last speech sample sent", spans.len(), args.gap);
    println!("| tier | streams | finals | final p50 | final p95 | partial gap p50 | partial gap p95 | RTF (decode/speech) | kept up |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for tier in &names {
        for &n in &args.streams {
            let url = format!("{base_url}/v1/listen?tier={tier}");
            let logs: Vec<StreamLog> = runtime.block_on(async {
                let mut handles = Vec::new();
                for i in 0..n {
                    let (url, pcm) = (url.clone(), pcm.clone());
                    handles.push(tokio::spawn(async move {
                        // Stagger starts so that utterance ends do not all coincide.
                        tokio::time::sleep(std::time::Duration::from_millis((i * 397 % 1500) as u64)).await;
                        stream_realtime(&url, &pcm).await
                    }));
                }
                let mut logs = Vec::new();
                for h in handles {
                    logs.push(h.await??);
                }
                anyhow::Ok(logs)
            })?;
            let mut f = analyse(&logs, &spans);
            let (p50, p95) = (percentile(&mut f.latencies.clone(), 0.5), percentile(&mut f.latencies, 0.95));
            let (g50, g95) = (percentile(&mut f.partial_gaps.clone(), 0.5), percentile(&mut f.partial_gaps, 0.95));
            let kept_up = f.finals == f.expected && p95 <= 2.0;
            println!(
                "| {tier} | {n} | {}/{} | {p50:.2} s | {p95:.2} s | {g50:.2} s | {g95:.2} s | {:.3} | {} |",
                f.finals,
                f.expected,
                f.decode_s / f.speech_s.max(1e-9),
                if kept_up { "yes" } else { "no" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
