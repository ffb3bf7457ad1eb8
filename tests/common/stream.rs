//! Helpers for streaming tests and benchmarks-by-hand: an in-process server and a WebSocket client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use tierd::engine::tiers::Tiers;
use tierd::provision::progress::Progress;
use tierd::server::{self, App, Limits};

use super::*;
use tierd::wer::{wer, WerStats};

/// Starts a server on an ephemeral loopback port, on its own runtime thread; lives until the process ends.
pub fn start_server(limits: Limits) -> (SocketAddr, Arc<App>) {
    let app = App::start(store_with(&[]), Tiers::builtin().unwrap(), limits, &Progress::hidden()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let served = app.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            server::serve(listener, served, std::future::pending()).await.unwrap();
        });
    });
    (rx.recv().unwrap(), app)
}

/// Speech fixtures joined with `gap_s` seconds of silence (plus the same before and after); returns
/// the audio and the references in order.
pub fn joined_clips(names: &[&str], gap_s: f32) -> (Vec<f32>, Vec<String>) {
    let fixtures = speech_fixtures();
    let gap = vec![0.0f32; (16000.0 * gap_s) as usize];
    let mut pcm = gap.clone();
    let mut refs = Vec::new();
    for n in names {
        let (path, reference) = fixtures.iter().find(|(p, _)| p.file_name().unwrap().to_string_lossy().starts_with(n)).unwrap();
        pcm.extend(load(path).0);
        pcm.extend(&gap);
        refs.push(reference.clone());
    }
    (pcm, refs)
}

/// Linear-interpolation upsampling 16 kHz → `rate` (test input only; the server resamples properly).
pub fn upsample(pcm: &[f32], rate: u32) -> Vec<f32> {
    let ratio = rate as f64 / 16000.0;
    let n = (pcm.len() as f64 * ratio) as usize;
    (0..n)
        .map(|i| {
            let pos = i as f64 / ratio;
            let (k, f) = (pos as usize, (pos.fract()) as f32);
            pcm[k] * (1.0 - f) + pcm.get(k + 1).copied().unwrap_or(0.0) * f
        })
        .collect()
}

pub fn s16le(pcm: &[f32]) -> Vec<u8> {
    pcm.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect()
}

pub fn f32le(pcm: &[f32]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Everything a client saw on one connection.
#[derive(Debug, Default)]
pub struct Session {
    pub messages: Vec<serde_json::Value>,
    pub close: Option<(u16, String)>,
}

impl Session {
    pub fn of_type(&self, t: &str) -> Vec<&serde_json::Value> {
        self.messages.iter().filter(|m| m["type"] == t).collect()
    }

    pub fn finals_text(&self) -> Vec<String> {
        self.of_type("final").iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/listen?{query}")).await.unwrap();
    ws
}

/// Sends `bytes` in frames of `frame` bytes (every `pace` frames a short pause lets partials run), then
/// `{"type":"end"}`, and collects everything until the server closes.
pub async fn stream_bytes(ws: Ws, bytes: &[u8], frame: usize, pace: Option<Duration>) -> Session {
    let (mut tx, mut rx) = ws.split();
    let reader = tokio::spawn(async move {
        let mut s = Session::default();
        while let Some(Ok(msg)) = rx.next().await {
            match msg {
                Message::Text(t) => s.messages.push(serde_json::from_str(&t).unwrap()),
                Message::Close(c) => {
                    s.close = c.map(|c| (u16::from(c.code), c.reason.to_string()));
                    break;
                }
                _ => {}
            }
        }
        s
    });
    for (i, chunk) in bytes.chunks(frame).enumerate() {
        if tx.send(Message::Binary(chunk.to_vec().into())).await.is_err() {
            break;
        }
        if let Some(p) = pace {
            if i % 10 == 9 {
                tokio::time::sleep(p).await;
            }
        }
    }
    let _ = tx.send(Message::Text(r#"{"type":"end"}"#.into())).await;
    let s = tokio::time::timeout(Duration::from_secs(300), reader).await.expect("server answered in time").unwrap();
    drop(tx);
    s
}

/// GET a path over plain HTTP/1.1: (status, body).
pub async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, buf.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default())
}

/// GET a path and parse the JSON body.
pub async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (_, body) = get_text(addr, path).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// One final per clip, in order, with corpus WER within `bound`.
pub fn check_finals(session: &Session, refs: &[String], bound: f64) {
    let finals = session.finals_text();
    assert_eq!(finals.len(), refs.len(), "finals {finals:?}");
    let mut total = WerStats::default();
    for (hyp, reference) in finals.iter().zip(refs) {
        total += wer(reference, hyp);
    }
    assert!(total.rate() <= bound, "WER {:.3}: {finals:?}", total.rate());
    assert_eq!(session.close.as_ref().map(|c| c.0), Some(1000), "{:?}", session.close);
    for f in session.of_type("final") {
        assert!(f["end"].as_f64().unwrap() > f["start"].as_f64().unwrap());
        assert!(f["latency_ms"].as_f64().unwrap() >= 0.0);
        assert!(!f["words"].as_array().unwrap().is_empty());
    }
}
