//! The `tierd` binary end to end: models list/verify, transcribe in every output format from a
//! 48 kHz stereo file (the resampling path), and clear errors.

mod common;

use std::process::Command;

use common::*;

fn tierd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tierd"));
    c.env("TIERD_MODELS_DIR", models_dir());
    c
}

/// The fixture upsampled to 48 kHz by linear interpolation and written as stereo.
fn stereo_48k_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let (path, _) = speech_fixtures().into_iter().find(|(p, _)| p.ends_with("goforward.wav")).unwrap();
    let pcm = load(&path).0;
    let mut out = Vec::with_capacity(pcm.len() * 6);
    for i in 0..pcm.len() * 3 {
        let pos = i as f32 / 3.0;
        let (k, frac) = (pos as usize, pos.fract());
        let v = pcm[k] * (1.0 - frac) + pcm.get(k + 1).copied().unwrap_or(0.0) * frac;
        out.extend_from_slice(&[v, v]);
    }
    let p = dir.join("goforward-48k-stereo.wav");
    write_wav(&p, 48000, 2, &out);
    p
}

#[test]
fn transcribes_48k_stereo_in_every_format() {
    store_with(&["tiny.en-q8_0"]);
    let dir = tempfile::tempdir().unwrap();
    let wav = stereo_48k_fixture(dir.path());
    let run = |format: &str| {
        let out = tierd().args(["transcribe", "--model", "tiny.en-q8_0", "--format", format]).arg(&wav).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run("text");
    assert!(tierd::wer::wer("go forward ten meters", &text).errors() == 0, "{text:?}");
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(tierd::wer::wer("go forward ten meters", json["text"].as_str().unwrap()).errors(), 0);
    let verbose: serde_json::Value = serde_json::from_str(&run("verbose-json")).unwrap();
    assert_eq!(verbose["tierd"]["model"], "tiny.en-q8_0");
    assert!((verbose["duration"].as_f64().unwrap() - 2.786).abs() < 0.01);
    assert!(!verbose["words"].as_array().unwrap().is_empty());
    let srt = run("srt");
    assert!(srt.starts_with("1\n00:00:0") && srt.contains(" --> "), "{srt}");
    let vtt = run("vtt");
    assert!(vtt.starts_with("WEBVTT\n\n00:00:0"), "{vtt}");
}

#[test]
fn errors_are_clear() {
    let out = tierd().args(["transcribe", "--model", "huge-v9", "x.wav"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown model \"huge-v9\"") && err.contains("tiny.en-q8_0"), "{err}");

    store_with(&["tiny.en-q8_0"]);
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("notes.wav");
    std::fs::write(&txt, "these are not audio samples, only words").unwrap();
    let out = tierd().args(["transcribe", "--model", "tiny.en-q8_0"]).arg(&txt).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.wav") && err.contains("could not be decoded as audio"), "{err}");

    let out = tierd().args(["transcribe", "--model", "tiny.en-q8_0", "--beam", "0", "x.wav"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn list_and_verify_report_installed_models() {
    store_with(&["tiny.en-q8_0"]);
    let out = tierd().args(["models", "list"]).output().unwrap();
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    for name in ["tiny.en-f16", "tiny.en-q8_0", "tiny.en-q5_0", "base-f16", "base-q8_0", "base-q5_0"] {
        assert!(list.contains(name), "{list}");
    }
    let row = list.lines().find(|l| l.starts_with("tiny.en-q8_0")).unwrap();
    assert!(row.contains("yes") && row.contains(" ok ") && row.contains("43.6 MB"), "{row}");
    let out = tierd().args(["models", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_damaged_model_is_detected_and_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ggml-tiny.en-q5_0.bin"), vec![0u8; 4096]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tierd")).env("TIERD_MODELS_DIR", dir.path()).args(["models", "verify"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    let store = tierd::provision::store::ModelStore::open(dir.path()).unwrap();
    let err = store.installed_path("tiny.en-q5_0").unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn add_registers_a_ggml_file_and_a_ct2_directory() {
    let store = store_with(&["tiny.en-q5_0"]);
    let dir = tempfile::tempdir().unwrap();
    let env = |c: &mut Command| {
        c.env("TIERD_MODELS_DIR", dir.path());
    };
    let ggml = store.installed_path("tiny.en-q5_0").unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_tierd"));
    env(&mut c);
    let out = c.args(["models", "add", "mine", "--ggml"]).arg(&ggml).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("tiny, English-only, q5_0"));

    // The CTranslate2 directory the pipeline extracted, converted again under a new name: same bytes as
    // the catalogue's q8_0 build, because conversion is deterministic.
    let ct2 = store.source_dir("whisper-tiny.en-ct2");
    let mut c = Command::new(env!("CARGO_BIN_EXE_tierd"));
    env(&mut c);
    let out = c.args(["models", "add", "mine-q8", "--precision", "q8_0", "--ct2"]).arg(&ct2).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = store.catalog().model("tiny.en-q8_0").unwrap().sha256.clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&want));

    let mut c = Command::new(env!("CARGO_BIN_EXE_tierd"));
    env(&mut c);
    let list = String::from_utf8(c.args(["models", "list"]).output().unwrap().stdout).unwrap();
    assert!(list.lines().any(|l| l.starts_with("mine ") && l.contains("yes")), "{list}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_tierd"));
    env(&mut c);
    let wav = speech_fixtures().into_iter().find(|(p, _)| p.ends_with("cards_001.wav")).unwrap().0;
    let out = c.args(["transcribe", "--model", "mine"]).arg(&wav).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tierd::wer::wer("ten of clubs", &String::from_utf8_lossy(&out.stdout)).errors(), 0);
}

#[test]
fn serve_starts_and_answers_health_checks() {
    use std::io::{BufRead, BufReader, Read, Write};
    store_with(&[]);
    let mut child = tierd().args(["serve", "--port", "0"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // First start fetches and loads the tiers' models; wait for the listening line.
    let addr = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(rest) = line.strip_prefix("tierd: listening on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(body.starts_with("HTTP/1.1 200") && body.ends_with("ok"), "{body}");
}
