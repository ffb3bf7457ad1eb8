//! `GET /v1/listen`: one WebSocket per live audio stream. This module accepts or refuses the
//! connection (parameters, limits) and runs its lifecycle: ready, the session loop (`session.rs`),
//! and a clean close. Outgoing messages go through a bounded queue to a writer task.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::protocol::{close, ServerMessage};
use super::session::{json, Session};
use super::App;
use crate::audio::pcm::{Encoding, PcmDecoder};
use crate::audio::resample::StreamResampler;
use crate::engine::tiers::{Tier, TierRequest};

/// Outgoing messages waiting for a slow client, beyond which partials are dropped.
const OUTGOING_QUEUE: usize = 64;

pub async fn handler(State(app): State<Arc<App>>, Query(query): Query<HashMap<String, String>>, ws: WebSocketUpgrade) -> Response {
    // Accept frames a little over the limit so that an oversized one is answered with 1009 and a
    // reason, rather than the connection just breaking.
    let max = app.limits.max_frame_bytes * 4 + 1024;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| run_session(app, query, socket))
}

/// Validated connection parameters.
struct Params {
    tier: Tier,
    sample_rate: u32,
    encoding: Encoding,
    encoding_name: String,
    language: Option<String>,
}

fn parse_params(app: &App, q: &HashMap<String, String>) -> Result<Params, String> {
    let known = ["tier", "sample_rate", "encoding", "language", "token"];
    if let Some(k) = q.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown query parameter {k:?}; known: {}", known.join(", ")));
    }
    let tier = app.tiers.resolve(&TierRequest { tier: q.get("tier").cloned() }).map_err(|e| e.to_string())?.clone();
    let sample_rate = match q.get("sample_rate") {
        None => 16000,
        Some(s) => s.parse::<u32>().ok().filter(|r| (8000..=48000).contains(r)).ok_or_else(|| format!("sample_rate must be a whole number from 8000 to 48000, got {s:?}"))?,
    };
    let encoding_name = q.get("encoding").cloned().unwrap_or_else(|| "pcm_s16le".into());
    let encoding = Encoding::parse(&encoding_name).ok_or_else(|| format!("unsupported encoding {encoding_name:?}; use pcm_s16le or pcm_f32le"))?;
    let language = match q.get("language").map(String::as_str) {
        None => Some("en".to_string()),
        Some("auto") => None,
        Some(l) if (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()) => Some(l.to_string()),
        Some(l) => return Err(format!("language must be an ISO 639-1 code such as \"en\", or \"auto\"; got {l:?}")),
    };
    Ok(Params { tier, sample_rate, encoding, encoding_name, language })
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// How long to wait for the client's half of the close handshake.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// After our close frame: read (and discard) until the client's close arrives, so the connection is
/// not torn down under frames the client is still sending (which would lose our close frame to a
/// TCP reset).
async fn await_client_close<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(m)) = stream.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends an error message and closes; used before a session exists.
async fn refuse(mut socket: WebSocket, code: u16, error_code: &str, message: String) {
    let _ = socket.send(json(&ServerMessage::Error { code: error_code.into(), message: message.clone() })).await;
    let reason: String = message.chars().take(120).collect();
    let _ = socket.send(close_frame(code, &reason)).await;
    await_client_close(&mut socket).await;
}

/// Counts the session while it lives.
struct Admitted(Arc<App>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.sessions.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run_session(app: Arc<App>, query: HashMap<String, String>, socket: WebSocket) {
    let active = app.sessions.active.fetch_add(1, Ordering::SeqCst) + 1;
    let admitted = Admitted(app.clone());
    if active > app.limits.max_connections {
        return refuse(socket, close::TRY_AGAIN_LATER, "overloaded", format!("the server is at its limit of {} streams; try again later", app.limits.max_connections)).await;
    }
    let params = match parse_params(&app, &query) {
        Ok(p) => p,
        Err(message) => return refuse(socket, close::POLICY, "bad_request", message).await,
    };
    let resampler = match StreamResampler::new(params.sample_rate) {
        Ok(r) => r,
        Err(e) => return refuse(socket, close::POLICY, "bad_request", e.to_string()).await,
    };
    app.sessions.started.fetch_add(1, Ordering::SeqCst);
    let id = format!("{:016x}", rand::random::<u64>());
    tracing::info!(session = %id, tier = %params.tier.name, sample_rate = params.sample_rate, encoding = %params.encoding_name, "stream opened");

    let (sink, mut stream) = socket.split();
    let (out_tx, out_rx) = mpsc::channel::<Message>(OUTGOING_QUEUE);
    let writer = tokio::spawn(write_loop(sink, out_rx));
    app.captions.open(&id);
    let mut session = Session::new(app.clone(), id.clone(), params.tier, params.language, PcmDecoder::new(params.encoding), resampler, out_tx);
    let ready = ServerMessage::Ready {
        session: id.clone(),
        tier: session.tier_info(),
        sample_rate: params.sample_rate,
        encoding: params.encoding_name,
    };
    session.send(json(&ready)).await;
    let (code, reason) = session.run(&mut stream).await;
    // Stop this stream's decodes and wait until none is running, so that when the client sees the
    // close, the session holds no compute and no memory.
    session.stop().await;
    session.send(close_frame(code, &reason)).await;
    drop(session);
    let _ = writer.await;
    await_client_close(&mut stream).await;
    app.captions.close(&id);
    tracing::info!(session = %id, code, reason = %reason, "stream closed");
    drop(admitted);
}

async fn write_loop(mut sink: futures_util::stream::SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(msg) = rx.recv().await {
        let is_close = matches!(msg, Message::Close(_));
        if sink.send(msg).await.is_err() || is_close {
            break;
        }
    }
    let _ = sink.close().await;
}
