//! A `/v1/listen` client: streams 16 kHz audio paced in real time and records every server message
//! with its arrival time. Used by `tierd bench stream` (and by tools that replay audio).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// One server message and when it arrived, in seconds since the stream started.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: f64,
    pub message: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct StreamLog {
    pub received: Vec<Received>,
    pub close_code: Option<u16>,
    /// Seconds since the stream started at which audio sample `i * frame` was sent.
    pub frame_sent_at: Vec<f64>,
    pub frame_samples: usize,
}

impl StreamLog {
    pub fn of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a Received> + 'a {
        self.received.iter().filter(move |r| r.message["type"] == t)
    }

    /// When the sample at `seconds` into the audio was sent.
    pub fn sent_at(&self, seconds: f64) -> f64 {
        let frame = ((seconds * 16000.0) as usize / self.frame_samples.max(1)).min(self.frame_sent_at.len().saturating_sub(1));
        self.frame_sent_at.get(frame).copied().unwrap_or(0.0)
    }
}

/// Streams `pcm` (16 kHz mono) to `url` as s16le in 20 ms frames at real-time pace, then ends the
/// stream and waits for the server to close.
pub async fn stream_realtime(url: &str, pcm: &[f32]) -> Result<StreamLog> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.with_context(|| format!("connecting to {url}"))?;
    let (mut tx, mut rx) = ws.split();
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut log = (Vec::new(), None);
        while let Some(Ok(msg)) = rx.next().await {
            match msg {
                Message::Text(t) => {
                    if let Ok(message) = serde_json::from_str(&t) {
                        log.0.push(Received { at: started.elapsed().as_secs_f64(), message });
                    }
                }
                Message::Close(c) => {
                    log.1 = c.map(|c| u16::from(c.code));
                    break;
                }
                _ => {}
            }
        }
        log
    });
    let frame = 320;
    let mut sent_at = Vec::with_capacity(pcm.len() / frame + 1);
    for (i, chunk) in pcm.chunks(frame).enumerate() {
        // Pace by the clock, not by sleeps, so that scheduling delays do not accumulate.
        let due = Duration::from_secs_f64(i as f64 * frame as f64 / 16000.0);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
        sent_at.push(started.elapsed().as_secs_f64());
        tx.send(Message::Binary(bytes.into())).await.context("sending audio")?;
    }
    tx.send(Message::Text(r#"{"type":"end"}"#.into())).await.context("ending the stream")?;
    let (received, close_code) = reader.await?;
    Ok(StreamLog { received, close_code, frame_sent_at: sent_at, frame_samples: frame })
}

/// Streams live 16 kHz audio from `frames` (sent as it arrives) and hands every server message to
/// `on_message`. When `frames` closes, ends the stream and waits for the server's close; returns the
/// close code.
pub async fn stream_live(url: &str, mut frames: tokio::sync::mpsc::Receiver<Vec<f32>>, mut on_message: impl FnMut(&serde_json::Value)) -> Result<Option<u16>> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.with_context(|| format!("connecting to {url}"))?;
    let (mut tx, mut rx) = ws.split();
    let mut sending = true;
    loop {
        tokio::select! {
            frame = frames.recv(), if sending => match frame {
                Some(pcm) => {
                    let bytes: Vec<u8> = pcm.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
                    tx.send(Message::Binary(bytes.into())).await.context("sending audio")?;
                }
                None => {
                    sending = false;
                    tx.send(Message::Text(r#"{"type":"end"}"#.into())).await.context("ending the stream")?;
                }
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t) {
                        on_message(&v);
                    }
                }
                Some(Ok(Message::Close(c))) => return Ok(c.map(|c| u16::from(c.code))),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("receiving"),
                None => return Ok(None),
            },
        }
    }
}
