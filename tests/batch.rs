//! `POST /v1/audio/transcriptions` end to end: the official OpenAI SDK as client, every supported
//! container and codec (encoded here with ffmpeg), a 5-minute recording's timestamps, and each error.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::stream::*;
use common::*;
use tierd::server::Limits;
use tierd::wer::wer;

fn server() -> SocketAddr {
    static S: OnceLock<SocketAddr> = OnceLock::new();
    *S.get_or_init(|| start_server(Limits::default()).0)
}

fn fixture(name: &str) -> (PathBuf, String) {
    speech_fixtures().into_iter().find(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with(name)).unwrap()
}

/// POSTs a multipart form with curl; returns (status, body).
fn post(addr: SocketAddr, form: &[String]) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "-o", "-", "-w", "\n%{http_code}"]).arg(format!("http://{addr}/v1/audio/transcriptions"));
    for f in form {
        c.args(["-F", f]);
    }
    let out = c.output().expect("curl is installed (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

fn transcribe(addr: SocketAddr, file: &Path, extra: &[&str]) -> (u16, String) {
    let mut form = vec![format!("file=@{}", file.display())];
    form.extend(extra.iter().map(|s| s.to_string()));
    post(addr, &form)
}

fn ffmpeg(input: &Path, output: &Path, args: &[&str]) {
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(args)
        .arg(output)
        .status()
        .expect("ffmpeg is installed (apt-get install ffmpeg)");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// A Python virtual environment with the official `openai` package, made once under target/.
fn openai_python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv-openai");
        let python = venv.join("bin/python");
        if !python.exists() {
            assert!(Command::new("python3").args(["-m", "venv"]).arg(&venv).status().unwrap().success());
        }
        let ok = Command::new(&python).args(["-c", "import openai"]).status().unwrap().success();
        if !ok {
            let st = Command::new(&python).args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "openai==3.57.0"]).status().unwrap();
            assert!(st.success(), "pip install openai");
        }
        python
    })
    .clone()
}

#[test]
fn openai_sdk_gets_every_response_format() {
    let addr = server();
    let python = openai_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_transcribe.py");
    let (wav, reference) = fixture("sense_and_sensibility_01_austen_64kb-0870");
    let run = |format: &str, model: &str| -> serde_json::Value {
        let out = Command::new(&python).arg(&script).arg(format!("http://{addr}/v1")).arg(&wav).arg(format).arg(model).output().unwrap();
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let json = run("json", "whisper-1");
    assert!(wer(&reference, json["text"].as_str().unwrap()).rate() <= 0.10, "{json}");
    let text = run("text", "fast");
    assert!(wer(&reference, text["raw"].as_str().unwrap()).rate() <= 0.15, "{text}");
    let srt = run("srt", "fast")["raw"].as_str().unwrap().to_string();
    assert!(srt.starts_with("1\n00:00:0") && srt.contains(" --> ") && srt.to_lowercase().contains("dashwood"), "{srt}");
    let vtt = run("vtt", "fast")["raw"].as_str().unwrap().to_string();
    assert!(vtt.starts_with("WEBVTT") && vtt.contains(" --> "), "{vtt}");
    let verbose = run("verbose_json", "accurate");
    assert!(wer(&reference, verbose["text"].as_str().unwrap()).rate() <= 0.10, "{verbose}");
    assert!((verbose["duration"].as_f64().unwrap() - 7.1).abs() < 0.05);
    assert!(!verbose["segments"].as_array().unwrap().is_empty());
    assert!(verbose["words"].as_array().unwrap().len() >= 15);
}

#[test]
fn every_container_gives_the_wav_transcript() {
    let addr = server();
    let (wav, reference) = fixture("sense_and_sensibility_01_austen_64kb-0870");
    let dir = tempfile::tempdir().unwrap();
    let (status, wav_text) = transcribe(addr, &wav, &["response_format=text", "model=fast"]);
    assert_eq!(status, 200, "{wav_text}");
    assert!(wer(&reference, &wav_text).rate() <= 0.15);
    let cases: [(&str, &[&str]); 6] = [
        ("flac", &[]),
        ("mp3", &["-b:a", "64k"]),
        ("ogg", &["-c:a", "libvorbis"]),
        ("m4a", &["-c:a", "aac"]),
        ("aiff", &[]),
        ("wav", &["-ar", "8000", "-ac", "2"]),
    ];
    for (ext, args) in cases {
        let out = dir.path().join(format!("clip-{}.{ext}", args.len()));
        ffmpeg(&wav, &out, args);
        let (status, text) = transcribe(addr, &out, &["response_format=text", "model=fast"]);
        assert_eq!(status, 200, "{ext}: {text}");
        // Lossless containers give the WAV's words; lossy codecs and 8 kHz may differ by a word.
        let diff = wer(&wav_text, &text);
        let allowed = if ext == "flac" || ext == "aiff" { 0 } else { 2 };
        assert!(diff.errors() <= allowed, "{ext} {args:?}: {text:?} vs {wav_text:?}");
    }
}

#[test]
fn long_recording_timestamps_line_up_with_the_clips() {
    let addr = server();
    let dir = tempfile::tempdir().unwrap();
    // Every fixture, eight times over, with 2 s of silence between: just over five minutes.
    let names: Vec<String> = speech_fixtures().iter().map(|(p, _)| p.file_stem().unwrap().to_string_lossy().to_string()).collect();
    let mut order: Vec<&str> = Vec::new();
    for _ in 0..8 {
        order.extend(names.iter().map(String::as_str));
    }
    let (pcm, _) = joined_clips(&order, 2.0);
    assert!(pcm.len() as f64 / 16000.0 >= 300.0);
    // Where each clip sits: after `gap`, then clip, gap, clip, …
    let mut spans = Vec::new();
    let mut t = 2.0;
    for n in &order {
        let len = load(&fixture(n).0).seconds();
        spans.push((t, t + len));
        t += len + 2.0;
    }
    let path = dir.path().join("long.wav");
    write_wav(&path, 16000, 1, &pcm);
    let (status, body) = transcribe(addr, &path, &["response_format=verbose_json", "timestamp_granularities[]=word", "model=fast"]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    if std::env::var_os("SHOW_SEGMENTS").is_some() {
        for s in v["segments"].as_array().unwrap() {
            eprintln!("seg {:.2}-{:.2} {}", s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap(), s["text"]);
        }
        eprintln!("spans {spans:?}");
    }
    // Every segment starts within 0.5 s of some clip's start and ends within 0.5 s of some clip's end
    // (one segment may hold two sentences), and every clip's start and end are some segment's.
    let segments = v["segments"].as_array().unwrap();
    let near = |t: f64, targets: Vec<f64>| targets.iter().any(|x| (x - t).abs() <= 0.5);
    let mut starts_seen = vec![false; spans.len()];
    let mut ends_seen = vec![false; spans.len()];
    for s in segments {
        let (a, b) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        assert!(near(a, spans.iter().map(|x| x.0).collect()), "segment {s} starts away from every clip start");
        assert!(near(b, spans.iter().map(|x| x.1).collect()), "segment {s} ends away from every clip end");
        spans.iter().enumerate().filter(|(_, x)| (x.0 - a).abs() <= 0.5).for_each(|(i, _)| starts_seen[i] = true);
        spans.iter().enumerate().filter(|(_, x)| (x.1 - b).abs() <= 0.5).for_each(|(i, _)| ends_seen[i] = true);
    }
    assert!(segments.windows(2).all(|p| p[0]["end"].as_f64() <= p[1]["start"].as_f64()), "segments overlap or are out of order");
    let missed: Vec<usize> = (0..spans.len()).filter(|&i| !starts_seen[i] && !ends_seen[i]).collect();
    assert!(missed.is_empty(), "clips with no segment boundary at either end: {missed:?}");
    assert!(v["words"].as_array().unwrap().len() > 400);
}

#[test]
fn stream_true_sends_segment_events_then_done() {
    let addr = server();
    let (wav, reference) = fixture("sense_and_sensibility_01_austen_64kb-0870");
    let (status, body) = transcribe(addr, &wav, &["stream=true", "model=fast"]);
    assert_eq!(status, 200, "{body}");
    let events: Vec<serde_json::Value> = body.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    assert!(events.len() >= 2, "{body}");
    assert!(events[..events.len() - 1].iter().all(|e| e["type"] == "transcript.text.delta"));
    let done = events.last().unwrap();
    assert_eq!(done["type"], "transcript.text.done");
    assert!(wer(&reference, done["text"].as_str().unwrap()).rate() <= 0.15);
}

#[test]
fn errors_have_openai_shape_and_status() {
    let addr = server();
    let dir = tempfile::tempdir().unwrap();
    let (wav, _) = fixture("cards_001");
    let check = |(status, body): (u16, String), want_status: u16, want_code: &str| {
        assert_eq!(status, want_status, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["error"]["code"], want_code, "{body}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(v["error"]["type"], "invalid_request_error");
    };
    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    check(transcribe(addr, &empty, &[]), 400, "empty_file");
    check(post(addr, &["model=whisper-1".into()]), 400, "missing_file");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "minutes of the meeting, not a recording of it").unwrap();
    check(transcribe(addr, &text, &[]), 400, "invalid_audio");
    let truncated = dir.path().join("cut.mp3");
    ffmpeg(&wav, &truncated, &[]);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..200]).unwrap();
    let (status, _) = transcribe(addr, &truncated, &[]);
    assert!(status == 400 || status == 200, "a truncated mp3 is decoded as far as it goes or refused with 400, got {status}");
    let opus = dir.path().join("clip.ogg");
    ffmpeg(&wav, &opus, &["-c:a", "libopus"]);
    let (status, body) = transcribe(addr, &opus, &[]);
    check((status, body.clone()), 415, "unsupported_codec");
    assert!(body.contains("FLAC"), "the 415 says which formats work: {body}");
    check(transcribe(addr, &wav, &["model=ludicrous"]), 400, "unknown_tier");
    check(transcribe(addr, &wav, &["tier=ludicrous"]), 400, "unknown_tier");
    check(transcribe(addr, &wav, &["response_format=xml"]), 400, "invalid_value");
    check(transcribe(addr, &wav, &["temperature=7"]), 400, "invalid_value");
    check(transcribe(addr, &wav, &["tolerance=0.1"]), 400, "unsupported_parameter");
}

#[test]
fn over_the_upload_limit_is_413() {
    let limits = Limits { max_upload_bytes: 1 << 20, ..Limits::default() };
    let (addr, _app) = start_server(limits);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.wav");
    write_wav(&big, 16000, 1, &white_noise(16000 * 40, 0.1, 3));
    let (status, body) = transcribe(addr, &big, &[]);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("file_too_large"), "{body}");
    // A server that refused one upload keeps serving.
    let (wav, reference) = fixture("goforward");
    let (status, text) = transcribe(addr, &wav, &["response_format=text", "model=fast"]);
    assert_eq!(status, 200);
    assert!(wer(&reference, &text).rate() <= 0.25, "{text}");
}
