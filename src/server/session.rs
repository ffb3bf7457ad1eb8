//! One live stream's session: reads audio and control frames, feeds the segmenter, submits partial,
//! speculative and final decodes to the engine's pool, and sends results back in utterance order.
//! Partials come only from spare compute and are dropped when the client reads too slowly; finals
//! never are.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::protocol::{close, ControlMessage, ServerMessage, TierInfo};
use super::App;
use crate::audio::pcm::PcmDecoder;
use crate::audio::resample::StreamResampler;
use crate::engine::pool::{DecodeJob, DecodeOutput, JobError, Priority};
use crate::engine::stream::{first_words, EndpointConfig, SegmentEvent, Segmenter, StablePrefix};
use crate::engine::tiers::{Tier, TierRequest};

pub(super) fn json(msg: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(msg).expect("messages serialise").into())
}

/// Sends a result to the client and publishes it for caption followers.
fn publish(app: &App, id: &str, msg: &ServerMessage) {
    if let Ok(v) = serde_json::to_value(msg) {
        app.captions.publish(id, &v);
    }
}

/// Why a decode was submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Partial,
    /// Started at the onset of silence; becomes the final if no speech follows.
    Speculative,
    Final,
}

/// A speculative decode of the open utterance, and its result once back.
struct Speculation {
    utterance: u64,
    /// Samples of the utterance it decoded.
    len: usize,
    cancel: Arc<AtomicBool>,
    result: Option<DecodeResult>,
}

/// What a decode forwarder reports back to the session loop.
struct DecodeResult {
    kind: Kind,
    utterance: u64,
    start: f64,
    end: f64,
    endpoint_at: Instant,
    result: Result<DecodeOutput, JobError>,
}


pub(super) struct Session {
    app: Arc<App>,
    /// The session id clients see (and caption pages follow).
    id: String,
    /// Identifies this stream's jobs in the decode pool.
    stream_key: u64,
    tier: Tier,
    language: Option<String>,
    prompt: Option<String>,
    pcm: PcmDecoder,
    resampler: StreamResampler,
    segmenter: Segmenter,
    stable: StablePrefix,
    out: mpsc::Sender<Message>,
    /// Set when the session ends: queued and running decodes of this stream stop.
    cancel: Arc<AtomicBool>,
    /// Utterances whose finals were submitted, in order, and finished ones waiting for their turn.
    finals_order: VecDeque<u64>,
    finals_done: BTreeMap<u64, ServerMessage>,
    last_final_submitted: Option<u64>,
    results_tx: mpsc::UnboundedSender<DecodeResult>,
    results_rx: mpsc::UnboundedReceiver<DecodeResult>,
    /// Decodes submitted and not yet reported back.
    outstanding: usize,
    speculation: Option<Speculation>,
    /// Closed utterances whose final is a speculative decode still running: utterance → samples decoded.
    promoted: HashMap<u64, usize>,
    /// The running partial's own cancel flag: a final or speculative decode makes it useless.
    partial_cancel: Arc<AtomicBool>,
    partial_in_flight: bool,
    /// A partial that came due while another was decoding: sent when that one returns.
    deferred_partial: Option<SegmentEvent>,
}

impl Session {
    pub(super) fn new(app: Arc<App>, id: String, tier: Tier, language: Option<String>, pcm: PcmDecoder, resampler: StreamResampler, out: mpsc::Sender<Message>) -> Self {
        let (results_tx, results_rx) = mpsc::unbounded_channel::<DecodeResult>();
        Session {
            segmenter: Segmenter::new(app.engine.vad().clone(), EndpointConfig::default()),
            app,
            id,
            stream_key: rand::random(),
            tier,
            language,
            prompt: None,
            pcm,
            resampler,
            stable: StablePrefix::default(),
            out,
            cancel: Arc::new(AtomicBool::new(false)),
            finals_order: VecDeque::new(),
            finals_done: BTreeMap::new(),
            last_final_submitted: None,
            results_tx,
            results_rx,
            outstanding: 0,
            speculation: None,
            promoted: HashMap::new(),
            partial_cancel: Arc::new(AtomicBool::new(false)),
            partial_in_flight: false,
            deferred_partial: None,
        }
    }

    pub(super) fn tier_info(&self) -> TierInfo {
        TierInfo { name: self.tier.name.clone(), model: self.tier.model.clone(), decoding: self.tier.decoding.clone(), beam: self.tier.beam }
    }

    /// Queues a message for the client (waits when the queue is full).
    pub(super) async fn send(&self, msg: Message) {
        let _ = self.out.send(msg).await;
    }

    /// Cancels every decode of this stream and waits until none is running.
    pub(super) async fn stop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(spec) = &self.speculation {
            spec.cancel.store(true, Ordering::Relaxed);
        }
        self.partial_cancel.store(true, Ordering::Relaxed);
        self.drain().await;
    }
}

impl Session {
    /// Runs until the stream ends; returns the close code and reason.
    pub(super) async fn run(&mut self, stream: &mut futures_util::stream::SplitStream<WebSocket>) -> (u16, String) {
        let idle = self.app.limits.idle_timeout;
        let mut ending = false;
        loop {
            if ending && self.finals_order.is_empty() {
                return (close::NORMAL, "end of stream".into());
            }
            tokio::select! {
                biased;
                Some(r) = self.results_rx.recv() => self.on_result(r).await,
                incoming = tokio::time::timeout(idle, stream.next()), if !ending => {
                    let msg = match incoming {
                        Err(_) => return (close::GOING_AWAY, format!("idle for {} s", idle.as_secs())),
                        Ok(None) | Ok(Some(Err(_))) => return (close::GOING_AWAY, "client went away".into()),
                        Ok(Some(Ok(m))) => m,
                    };
                    match msg {
                        Message::Binary(bytes) => {
                            if bytes.len() > self.app.limits.max_frame_bytes {
                                let m = format!("frame of {} bytes exceeds the limit of {}", bytes.len(), self.app.limits.max_frame_bytes);
                                self.send_error("frame_too_large", &m).await;
                                return (close::TOO_BIG, m);
                            }
                            let samples = self.pcm.push(&bytes);
                            let pcm16k = self.resampler.push(&samples);
                            if let Err(e) = self.feed(&pcm16k) {
                                return self.internal(e).await;
                            }
                        }
                        Message::Text(text) => match serde_json::from_str::<ControlMessage>(&text) {
                            Ok(ControlMessage::End) => {
                                let tail = self.resampler.flush();
                                if let Err(e) = self.feed(&tail) {
                                    return self.internal(e).await;
                                }
                                if let Some(ev) = self.segmenter.finish() {
                                    self.submit(ev);
                                }
                                ending = true;
                            }
                            Ok(ControlMessage::Config { tier, language, prompt }) => self.reconfigure(tier, language, prompt).await,
                            Err(e) => self.send_error("bad_control", &format!("control message is not valid: {e}")).await,
                        },
                        Message::Close(_) => return (close::NORMAL, "client closed".into()),
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
            }
        }
    }

    fn feed(&mut self, pcm16k: &[f32]) -> anyhow::Result<()> {
        for ev in self.segmenter.push(pcm16k)? {
            self.submit(ev);
        }
        Ok(())
    }

    /// Waits for every submitted decode to report back (they were cancelled: this is quick).
    async fn drain(&mut self) {
        while self.outstanding > 0 {
            match self.results_rx.recv().await {
                Some(_) => self.outstanding -= 1,
                None => break,
            }
        }
    }

    fn submit(&mut self, ev: SegmentEvent) {
        let (kind, utterance, start, end, pcm) = match ev {
            SegmentEvent::Resumed { utterance } => {
                if let Some(spec) = self.speculation.take_if(|s| s.utterance == utterance) {
                    spec.cancel.store(true, Ordering::Relaxed);
                }
                return;
            }
            SegmentEvent::Partial { utterance, start, pcm } => {
                if self.partial_in_flight {
                    self.deferred_partial = Some(SegmentEvent::Partial { utterance, start, pcm });
                    return;
                }
                // Interim results only from spare compute: finals are never delayed by them.
                if !self.app.engine.pool().has_spare_capacity() {
                    return;
                }
                self.partial_in_flight = true;
                let end = start + pcm.len() as f64 / 16000.0;
                (Kind::Partial, utterance, start, end, pcm)
            }
            SegmentEvent::Speculative { utterance, start, pcm } => {
                if let Some(old) = self.speculation.take() {
                    old.cancel.store(true, Ordering::Relaxed);
                }
                let end = start + pcm.len() as f64 / 16000.0;
                (Kind::Speculative, utterance, start, end, pcm)
            }
            SegmentEvent::Final { utterance, start, end, pcm, speech_len } => {
                self.finals_order.push_back(utterance);
                self.last_final_submitted = Some(utterance);
                self.stable.reset();
                // A speculative decode that already holds all of this utterance's speech is the final.
                if self.speculation.as_ref().is_some_and(|s| s.utterance == utterance && s.len >= speech_len) {
                    let spec = self.speculation.take().expect("checked above");
                    match spec.result {
                        Some(mut r) => {
                            r.endpoint_at = Instant::now();
                            self.finish_final(r);
                        }
                        None => {
                            self.promoted.insert(utterance, spec.len);
                        }
                    }
                    return;
                }
                if let Some(old) = self.speculation.take() {
                    old.cancel.store(true, Ordering::Relaxed);
                }
                (Kind::Final, utterance, start, end, pcm)
            }
        };
        let cancel = match kind {
            Kind::Speculative => Arc::new(AtomicBool::new(false)),
            Kind::Partial => {
                self.partial_cancel = Arc::new(AtomicBool::new(false));
                self.partial_cancel.clone()
            }
            Kind::Final => self.cancel.clone(),
        };
        if kind != Kind::Partial {
            // The utterance is closing: its partial would arrive too late to matter.
            self.partial_cancel.store(true, Ordering::Relaxed);
            self.deferred_partial = None;
        }
        if kind == Kind::Speculative {
            self.speculation = Some(Speculation { utterance, len: pcm.len(), cancel: cancel.clone(), result: None });
        }
        let job = DecodeJob {
            priority: if kind == Kind::Partial { Priority::Partial } else { Priority::Final },
            stream: self.stream_key,
            config: self.tier.config.clone(),
            pcm,
            language: self.language.clone(),
            prompt: self.prompt.clone(),
            cancel,
        };
        let rx = self.app.engine.pool().submit(job);
        self.outstanding += 1;
        let tx = self.results_tx.clone();
        let endpoint_at = Instant::now();
        tokio::spawn(async move {
            let result = rx.await.unwrap_or(Err(JobError::Cancelled));
            let _ = tx.send(DecodeResult { kind, utterance, start, end, endpoint_at, result });
        });
    }

    async fn on_result(&mut self, r: DecodeResult) {
        self.outstanding -= 1;
        match r.kind {
            Kind::Partial => self.on_partial(r),
            Kind::Final => self.finish_final(r),
            Kind::Speculative => {
                // Only the speculation that was kept counts: an older one of the same utterance decoded
                // less audio.
                let decoded = ((r.end - r.start) * 16000.0).round() as i64;
                let same = |len: usize| (len as i64 - decoded).abs() <= 1;
                if self.promoted.get(&r.utterance).is_some_and(|&len| same(len)) {
                    self.promoted.remove(&r.utterance);
                    // Latency counts from the endpoint, which came before this result.
                    self.finish_final(r);
                    self.flush_finals().await;
                    return;
                }
                let Some(spec) = self.speculation.as_mut().filter(|s| s.utterance == r.utterance && same(s.len)) else {
                    return;
                };
                if r.result.is_ok() {
                    spec.result = Some(r);
                } else {
                    // Failed or cancelled: the final will be decoded normally.
                    self.speculation = None;
                }
            }
        }
        self.flush_finals().await;
    }

    fn on_partial(&mut self, r: DecodeResult) {
        self.partial_in_flight = false;
        if let Some(ev) = self.deferred_partial.take() {
            self.submit(ev);
        }
        // A partial that lost the race with its utterance's final is stale.
        if self.last_final_submitted.is_some_and(|f| f >= r.utterance) {
            return;
        }
        let Ok(out) = r.result else { return };
        let text = out.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return;
        }
        let stable = first_words(&text, self.stable.update(&text));
        let msg = ServerMessage::Partial { utterance: r.utterance, text, stable, start: r.start, end: r.end };
        publish(&self.app, &self.id, &msg);
        // Dropped when the client is behind: the next partial supersedes it.
        let _ = self.out.try_send(json(&msg));
    }

    /// Turns a final (or promoted speculative) decode into the message waiting for its turn.
    fn finish_final(&mut self, r: DecodeResult) {
        let msg = match r.result {
            Ok(out) => {
                let text = out.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
                let words = out
                    .segments
                    .iter()
                    .flat_map(|s| s.words.iter())
                    .map(|w| crate::engine::Word { start: w.start + r.start, end: w.end + r.start, ..w.clone() })
                    .collect();
                ServerMessage::Final {
                    utterance: r.utterance,
                    text,
                    start: r.start,
                    end: r.end,
                    words,
                    latency_ms: r.endpoint_at.elapsed().as_secs_f64() * 1000.0,
                    decode_ms: out.decode_ms,
                    model: out.config.model,
                    beam: out.config.beam,
                }
            }
            Err(JobError::Cancelled) => ServerMessage::Error { code: "cancelled".into(), message: String::new() },
            Err(e) => ServerMessage::Error { code: "decode_failed".into(), message: format!("utterance {}: {e}", r.utterance) },
        };
        self.finals_done.insert(r.utterance, msg);
    }

    /// Sends finished finals in utterance order. Finals with no text (noise) are not sent.
    async fn flush_finals(&mut self) {
        while let Some(&next) = self.finals_order.front() {
            let Some(msg) = self.finals_done.remove(&next) else { break };
            self.finals_order.pop_front();
            let skip = match &msg {
                ServerMessage::Final { text, .. } => text.trim().is_empty(),
                ServerMessage::Error { code, .. } => code == "cancelled",
                _ => false,
            };
            if !skip {
                publish(&self.app, &self.id, &msg);
                let _ = self.out.send(json(&msg)).await;
            }
        }
    }

    async fn reconfigure(&mut self, tier: Option<String>, language: Option<String>, prompt: Option<String>) {
        if let Some(name) = tier {
            match self.app.tiers.resolve(&TierRequest { tier: Some(name) }) {
                Ok(t) => self.tier = t.clone(),
                Err(e) => return self.send_error("bad_tier", &e.to_string()).await,
            }
        }
        if let Some(l) = language {
            self.language = (l != "auto").then_some(l);
        }
        if prompt.is_some() {
            self.prompt = prompt;
        }
    }

    async fn send_error(&self, code: &str, message: &str) {
        let _ = self.out.send(json(&ServerMessage::Error { code: code.into(), message: message.into() })).await;
    }

    async fn internal(&self, e: anyhow::Error) -> (u16, String) {
        tracing::error!(error = %format!("{e:#}"), "session failed");
        self.send_error("internal", "internal error").await;
        (close::INTERNAL, "internal error".into())
    }
}
