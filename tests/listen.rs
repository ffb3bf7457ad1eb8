//! `/v1/listen` end to end: a real server with the real models and VAD, real WebSocket clients
//! streaming real speech.

mod common;

use std::time::Duration;

use common::stream::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tierd::server::Limits;
use tierd::wer::wer;
use tokio_tungstenite::tungstenite::Message;

const CLIPS: [&str; 4] = ["sense_and_sensibility_01_austen_64kb-0870", "cards_005", "goforward", "sense_and_sensibility_01_austen_64kb-0930"];

fn shared_server() -> std::net::SocketAddr {
    static SERVER: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
    *SERVER.get_or_init(|| start_server(Limits::default()).0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_48k_f32_in_20ms_frames() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let (pcm, refs) = joined_clips(&CLIPS, 1.0);
    let bytes = f32le(&upsample(&pcm, 48000));
    let ws = connect(addr, "tier=fast&sample_rate=48000&encoding=pcm_f32le").await;
    // 20 ms at 48 kHz f32 = 960 samples = 3840 bytes.
    let s = stream_bytes(ws, &bytes, 3840, Some(Duration::from_millis(20))).await;
    let ready = s.of_type("ready");
    assert_eq!(ready[0]["tier"]["name"], "fast");
    assert_eq!(ready[0]["tier"]["model"], "tiny.en-q5_0");
    check_finals(&s, &refs, 0.15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_16k_s16_in_odd_sized_frames() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let (pcm, refs) = joined_clips(&CLIPS, 1.0);
    let ws = connect(addr, "tier=fast").await;
    let s = stream_bytes(ws, &s16le(&pcm), 333, None).await;
    check_finals(&s, &refs, 0.15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_on_different_tiers() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let (pcm_a, refs_a) = joined_clips(&CLIPS[..2], 1.0);
    let (pcm_b, refs_b) = joined_clips(&CLIPS[2..], 1.0);
    let (a, b) = tokio::join!(
        async { stream_bytes(connect(addr, "tier=fast").await, &s16le(&pcm_a), 640, Some(Duration::from_millis(5))).await },
        async { stream_bytes(connect(addr, "tier=balanced").await, &s16le(&pcm_b), 640, Some(Duration::from_millis(5))).await },
    );
    assert_eq!(a.of_type("ready")[0]["tier"]["name"], "fast");
    assert_eq!(b.of_type("ready")[0]["tier"]["name"], "balanced");
    check_finals(&a, &refs_a, 0.15);
    check_finals(&b, &refs_b, 0.10);
    assert!(b.of_type("final").iter().all(|f| f["model"] == "base-q8_0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_and_noise_give_no_final() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let mut pcm = vec![0.0f32; 16000 * 3];
    pcm.extend(white_noise(16000 * 3, 0.05, 11));
    let s = stream_bytes(connect(addr, "tier=fast").await, &s16le(&pcm), 640, None).await;
    assert!(s.finals_text().iter().all(|t| t.trim().is_empty()), "{:?}", s.finals_text());
    assert_eq!(s.close.as_ref().unwrap().0, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_mid_utterance_still_gets_its_final() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let (path, reference) = speech_fixtures().into_iter().find(|(p, _)| p.ends_with("goforward.wav")).unwrap();
    // Speech right up to the end: no silence for the VAD to end the utterance on.
    let s = stream_bytes(connect(addr, "tier=fast").await, &s16le(&load(&path).0), 640, None).await;
    let finals = s.finals_text();
    assert_eq!(finals.len(), 1, "{finals:?}");
    assert!(wer(&reference, &finals[0]).rate() <= 0.25, "{finals:?}");
}

async fn expect_refused(query: &str, code: u16, needle: &str) {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let s = stream_bytes(connect(addr, query).await, &[], 640, None).await;
    let err = s.of_type("error");
    assert_eq!(err.len(), 1, "{query}: {:?}", s.messages);
    assert!(err[0]["message"].as_str().unwrap().contains(needle), "{query}: {}", err[0]);
    assert_eq!(s.close.as_ref().unwrap().0, code, "{query}");
    assert!(s.of_type("ready").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_close_with_1008() {
    expect_refused("tier=ludicrous", 1008, "unknown tier").await;
    expect_refused("sample_rate=7", 1008, "sample_rate").await;
    expect_refused("sample_rate=abc", 1008, "sample_rate").await;
    expect_refused("encoding=mp3", 1008, "unsupported encoding").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_control_is_reported_and_the_stream_continues() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let mut ws = connect(addr, "tier=fast").await;
    ws.send(Message::Text("{not json".into())).await.unwrap();
    ws.send(Message::Text(r#"{"type":"config","tier":"nope"}"#.into())).await.unwrap();
    let (pcm, refs) = joined_clips(&["cards_001"], 1.0);
    let s = stream_bytes(ws, &s16le(&pcm), 640, None).await;
    let errors = s.of_type("error");
    assert_eq!(errors.len(), 2, "{:?}", s.messages);
    assert_eq!(errors[0]["code"], "bad_control");
    assert_eq!(errors[1]["code"], "bad_tier");
    check_finals(&s, &refs, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_with_1009() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let s = stream_bytes(connect(addr, "tier=fast").await, &vec![0u8; 2 << 20], 2 << 20, None).await;
    assert_eq!(s.close.as_ref().unwrap().0, 1009, "{:?}", s.close);
    assert_eq!(s.of_type("error")[0]["code"], "frame_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_client_is_cleaned_up_and_server_keeps_serving() {
    let (addr, _app) = tokio::task::spawn_blocking(|| start_server(Limits::default())).await.unwrap();
    let (pcm, _) = joined_clips(&["sense_and_sensibility_01_austen_64kb-0870"], 0.5);
    let mut ws = connect(addr, "tier=balanced").await;
    let half = s16le(&pcm[..pcm.len() / 2]);
    for chunk in half.chunks(3200) {
        ws.send(Message::Binary(chunk.to_vec().into())).await.unwrap();
    }
    let _ = ws.next().await; // ready
    assert_eq!(get_json(addr, "/v1/stats").await["active_sessions"], 1);
    drop(ws); // the TCP connection goes away mid-utterance, without a close frame
    // Freed once its cancelled decodes have reported back; a cancelled job still waits for its turn
    // in the CPU queue, so allow for a busy machine.
    let mut active = 1;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        active = get_json(addr, "/v1/stats").await["active_sessions"].as_u64().unwrap();
        if active == 0 {
            break;
        }
    }
    assert_eq!(active, 0, "session not freed");
    let (pcm, refs) = joined_clips(&["cards_003"], 1.0);
    let s = stream_bytes(connect(addr, "tier=fast").await, &s16le(&pcm), 640, None).await;
    check_finals(&s, &refs, 0.34);
    assert_eq!(get_json(addr, "/v1/stats").await["sessions_started"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_limit_is_refused_with_1013() {
    let limits = Limits { max_connections: 1, ..Limits::default() };
    let (addr, _app) = tokio::task::spawn_blocking(move || start_server(limits)).await.unwrap();
    let mut first = connect(addr, "tier=fast").await;
    let ready: serde_json::Value = match first.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ready["type"], "ready");
    let s = stream_bytes(connect(addr, "tier=fast").await, &[], 640, None).await;
    assert_eq!(s.close.as_ref().unwrap().0, 1013);
    assert_eq!(s.of_type("error")[0]["code"], "overloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_and_health_endpoints() {
    let addr = tokio::task::spawn_blocking(shared_server).await.unwrap();
    let tiers = get_json(addr, "/v1/tiers").await;
    assert_eq!(tiers["default"], "balanced");
    let names: Vec<&str> = tiers["tiers"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fast", "balanced", "accurate"]);
    assert_eq!(tiers["tiers"][2]["beam"], 5);
    assert_eq!(tiers["tiers"][0]["decoding"], "greedy");
    assert!(tiers["tiers"][0]["wer"].as_f64().unwrap() > 0.0 && tiers["tiers"][0]["latency_p95_ms"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_is_closed_with_1001() {
    let limits = Limits { idle_timeout: Duration::from_secs(1), ..Limits::default() };
    let (addr, _app) = tokio::task::spawn_blocking(move || start_server(limits)).await.unwrap();
    let mut ws = connect(addr, "tier=fast").await;
    // Read until the server closes; the client sends nothing at all.
    let close = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Close(c) = msg {
                return c.map(|c| (u16::from(c.code), c.reason.to_string()));
            }
        }
        None
    })
    .await
    .expect("the server closed an idle stream");
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 1001);
    assert!(reason.contains("idle"), "{reason}");
}
