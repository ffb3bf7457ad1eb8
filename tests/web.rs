//! The browser demo and the caption view: the pages are served, a session can be followed and its
//! captions downloaded, and a real headless Chromium with a fake microphone playing a fixture gets the
//! fixture's words as captions on both pages.

mod common;

use std::path::Path;
use std::process::Command;

use common::stream::*;
use common::*;
use tierd::server::Limits;
use tierd::wer::wer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_session_can_be_replayed_and_downloaded_as_webvtt() {
    let (addr, _app) = tokio::task::spawn_blocking(|| start_server(Limits::default())).await.unwrap();
    let (page_status, page) = get_text(addr, "/").await;
    assert_eq!(page_status, 200);
    assert!(page.contains("<title>tierd") && page.contains("/app.js"));
    for asset in ["/app.js", "/mic-worklet.js", "/captions", "/captions.js", "/style.css"] {
        assert_eq!(get_text(addr, asset).await.0, 200, "{asset}");
    }
    let (pcm, refs) = joined_clips(&["goforward", "cards_005"], 1.0);
    let s = stream_bytes(connect(addr, "tier=fast").await, &s16le(&pcm), 640, None).await;
    let id = s.of_type("ready")[0]["session"].as_str().unwrap().to_string();
    let finals = s.finals_text();
    assert_eq!(finals.len(), 2, "{finals:?}");
    // The session has ended: its events replay its finals, then end.
    let (status, events) = get_text(addr, &format!("/v1/sessions/{id}/events")).await;
    assert_eq!(status, 200);
    let data: Vec<serde_json::Value> = events.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    let replayed: Vec<&str> = data.iter().filter(|m| m["type"] == "final").map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(replayed, finals.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(data.last().unwrap()["type"], "end");
    let (status, vtt) = get_text(addr, &format!("/v1/sessions/{id}/captions.vtt")).await;
    assert_eq!(status, 200);
    assert!(vtt.starts_with("WEBVTT\n\n00:00:0"), "{vtt}");
    assert!(wer(&refs.join(" "), &vtt.lines().filter(|l| !l.contains("-->") && !l.starts_with("WEBVTT")).collect::<Vec<_>>().join(" ")).rate() <= 0.25, "{vtt}");
    assert_eq!(get_text(addr, "/v1/sessions/nope/captions.vtt").await.0, 404);
    assert_eq!(get_text(addr, "/v1/sessions/nope/events").await.0, 404);
}

/// `npm ci` for the browser test's package (playwright-core, which drives Debian's Chromium).
fn browser_tools() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--silent"]).current_dir(&dir).status().expect("npm is installed");
        assert!(st.success(), "npm ci in tests/browser");
    }
    dir
}

#[test]
fn chromium_with_a_fake_microphone_shows_the_captions() {
    let dir = browser_tools();
    let (addr, _app) = start_server(Limits::default());
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let (pcm, refs) = joined_clips(&["sense_and_sensibility_01_austen_64kb-0870"], 1.5);
    let mut audio = pcm;
    audio.extend(vec![0.0; 16000 * 3]);
    let wav = artifacts.join("fake-microphone.wav");
    write_wav(&wav, 16000, 1, &audio);
    let out = Command::new("node")
        .arg(dir.join("demo.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(&wav)
        .arg(&artifacts)
        .output()
        .expect("node is installed");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
    let finals: Vec<&str> = result["finals"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(!finals.is_empty(), "{result}");
    assert!(wer(&refs[0], &finals.join(" ")).rate() <= 0.15, "{result}");
    let captions = result["captions"].as_str().unwrap();
    assert!(wer(&refs[0], captions).rate() <= 0.5, "the caption view showed {captions:?}");
    assert_eq!(result["error"], "", "{result}");
    assert!(artifacts.join("demo.png").exists() && artifacts.join("captions.png").exists());
}

#[test]
fn listen_streams_a_file_and_prints_the_session() {
    let (addr, _app) = start_server(Limits::default());
    let (pcm, refs) = joined_clips(&["goforward", "cards_005"], 1.0);
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("two.wav");
    write_wav(&wav, 16000, 1, &pcm);
    let out = Command::new(env!("CARGO_BIN_EXE_tierd"))
        .args(["listen", "--tier", "fast", "--format", "verbose-json", "--url"])
        .arg(format!("ws://{addr}"))
        .arg("--file")
        .arg(&wav)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let segments = v["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{v}");
    for (seg, reference) in segments.iter().zip(&refs) {
        assert!(wer(reference, seg["text"].as_str().unwrap()).rate() <= 0.25, "{seg}");
    }
    // The live view went to stderr: the session line and the finals.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("on tier fast (tiny.en-q5_0)"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_tierd")).args(["listen", "--tier", "nope", "--url"]).arg(format!("ws://{addr}")).arg("--file").arg(&wav).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tier"));
}
