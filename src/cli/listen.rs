//! `tierd listen`: a native streaming client. Streams a WAV file paced in real time (`--file`) or the
//! default microphone (`--mic`, cargo feature `mic`) to a tierd server; partials rewrite the current
//! terminal line and finals scroll (on stderr); at the end the session is printed in `--format`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::sync::mpsc;

use tierd::audio;
use tierd::client::stream_live;
use tierd::engine::{Segment, Word};
use tierd::transcript::{render, Format, Transcript};

#[derive(Args)]
pub struct ListenArgs {
    /// Stream this audio file, paced in real time.
    #[arg(long, conflicts_with = "mic", required_unless_present = "mic")]
    pub file: Option<PathBuf>,
    /// Stream the default microphone until Ctrl-C (needs a build with `--features mic`).
    #[arg(long)]
    pub mic: bool,
    #[arg(long)]
    pub tier: Option<String>,
    /// The server.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub url: String,
    /// What to print when the stream ends.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// 20 ms frames of the file, sent at the pace of the audio.
/// 16 kHz audio frames, and whatever must stay alive while they flow (the microphone stream).
type Frames = (mpsc::Receiver<Vec<f32>>, Option<Box<dyn std::any::Any>>);

fn file_frames(path: &std::path::Path) -> Result<mpsc::Receiver<Vec<f32>>> {
    let pcm = audio::load_file(path).with_context(|| format!("reading {}", path.display()))?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        for (i, frame) in pcm.0.chunks(320).enumerate() {
            tokio::time::sleep_until(started + Duration::from_millis(20 * i as u64)).await;
            if tx.send(frame.to_vec()).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

#[cfg(feature = "mic")]
fn mic_frames() -> Result<Frames> {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    let device = cpal::default_host().default_input_device().context("no audio input device found (is a microphone connected, and ALSA configured?)")?;
    let config = device.default_input_config().context("the input device reports no usable configuration")?;
    let (rate, channels) = (config.sample_rate(), config.channels() as usize);
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<Vec<f32>>();
    let err = |e| eprintln!("microphone error: {e}");
    let stream = match config.sample_format() {
        cpal::SampleFormat::F32 => device.build_input_stream(
            config.into(),
            move |data: &[f32], _: &_| {
                let _ = raw_tx.send(data.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect());
            },
            err,
            None,
        ),
        cpal::SampleFormat::I16 => device.build_input_stream(
            config.into(),
            move |data: &[i16], _: &_| {
                let _ = raw_tx.send(data.chunks(channels).map(|f| f.iter().map(|s| *s as f32 / 32768.0).sum::<f32>() / channels as f32).collect());
            },
            err,
            None,
        ),
        other => bail!("the microphone delivers {other} samples, which tierd does not read"),
    }
    .context("opening the microphone")?;
    stream.play().context("starting the microphone")?;
    let mut resampler = audio::resample::StreamResampler::new(rate)?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(raw) = raw_rx.recv() => {
                    let pcm = resampler.push(&raw);
                    if !pcm.is_empty() && tx.send(pcm).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    Ok((rx, Some(Box::new(stream))))
}

#[cfg(not(feature = "mic"))]
fn mic_frames() -> Result<Frames> {
    bail!("this build has no microphone support: rebuild with `cargo build --release --features mic` (needs libasound2-dev)")
}

fn segment_of(final_msg: &serde_json::Value) -> Segment {
    let words: Vec<Word> = serde_json::from_value(final_msg["words"].clone()).unwrap_or_default();
    Segment {
        start: final_msg["start"].as_f64().unwrap_or(0.0),
        end: final_msg["end"].as_f64().unwrap_or(0.0),
        text: final_msg["text"].as_str().unwrap_or_default().to_string(),
        words,
        avg_logprob: 0.0,
        no_speech_prob: 0.0,
    }
}

pub fn run(args: ListenArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let (frames, _mic): Frames = match &args.file {
            Some(f) => (file_frames(f)?, None),
            None => mic_frames()?,
        };
        let mut url = format!("{}/v1/listen?sample_rate=16000", args.url.trim_end_matches('/'));
        if let Some(t) = &args.tier {
            url.push_str(&format!("&tier={t}"));
        }
        let live = std::io::stderr().is_terminal();
        let mut segments = Vec::new();
        let mut model = String::new();
        let mut failure = None;
        let code = stream_live(&url, frames, |m| {
            let mut err = std::io::stderr();
            match m["type"].as_str() {
                Some("ready") => {
                    model = m["tier"]["model"].as_str().unwrap_or_default().to_string();
                    let _ = writeln!(err, "session {} on tier {} ({model})", m["session"].as_str().unwrap_or("?"), m["tier"]["name"].as_str().unwrap_or("?"));
                }
                Some("partial") if live => {
                    let _ = write!(err, "\r\x1b[2K\x1b[2m{}\x1b[0m", m["text"].as_str().unwrap_or_default());
                }
                Some("final") => {
                    let clear = if live { "\r\x1b[2K" } else { "" };
                    let _ = writeln!(err, "{clear}{}", m["text"].as_str().unwrap_or_default());
                    segments.push(segment_of(m));
                }
                Some("error") => {
                    let msg = m["message"].as_str().unwrap_or_default().to_string();
                    let _ = writeln!(err, "server error: {msg}");
                    failure = Some(msg);
                }
                _ => {}
            }
        })
        .await?;
        let duration = segments.last().map(|s| s.end).unwrap_or(0.0);
        print!("{}", render(&Transcript::from_segments(segments, &model, 1, duration, 0.0), args.format));
        match (code, failure) {
            (Some(1000), _) => Ok(ExitCode::SUCCESS),
            (code, why) => bail!("the server closed the stream with {code:?}{}", why.map(|w| format!(": {w}")).unwrap_or_default()),
        }
    })
}
