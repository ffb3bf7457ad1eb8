//! Live audio → utterances. The segmenter runs the VAD over 16 kHz audio as it arrives, opens an
//! utterance when speech starts, asks for partial decodes while it grows, and closes it after enough
//! non-speech (or at a maximum length) for its final decode. Transport-independent: it takes samples
//! and returns events.

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::Result;

use crate::audio::SAMPLE_RATE;
use crate::backend::vad::{SileroVad, VadState, CHUNK};
use crate::wer::normalize;

/// Endpointing parameters, in milliseconds and probabilities.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// VAD probability that starts speech.
    pub speech_threshold: f32,
    /// VAD probability under which a chunk counts as non-speech (hysteresis below the start threshold).
    pub silence_threshold: f32,
    /// Non-speech that ends an utterance.
    pub end_silence_ms: u32,
    /// Longest utterance before it is closed regardless.
    pub max_utterance_ms: u32,
    /// Utterances with less speech than this are noise blips and are dropped.
    pub min_speech_ms: u32,
    /// Audio kept from before the speech start, so the first phoneme is not clipped.
    pub pre_roll_ms: u32,
    /// New audio between partial decodes.
    pub partial_interval_ms: u32,
    /// Non-speech after which the final decode starts speculatively, before the endpoint is sure;
    /// reused when no speech follows, so the final arrives sooner.
    pub speculate_after_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            speech_threshold: 0.5,
            silence_threshold: 0.35,
            end_silence_ms: 500,
            max_utterance_ms: 20_000,
            min_speech_ms: 200,
            pre_roll_ms: 256,
            partial_interval_ms: 640,
            speculate_after_ms: 192,
        }
    }
}

fn ms_to_samples(ms: u32) -> usize {
    ms as usize * SAMPLE_RATE as usize / 1000
}

#[derive(Debug, Clone, PartialEq)]
pub enum SegmentEvent {
    /// The open utterance so far, for an interim decode.
    Partial { utterance: u64, start: f64, pcm: Vec<f32> },
    /// The open utterance at the onset of silence: decode it now as the likely final.
    Speculative { utterance: u64, start: f64, pcm: Vec<f32> },
    /// Speech resumed after a speculative decode was requested: that decode is wasted.
    Resumed { utterance: u64 },
    /// A closed utterance. `start`/`end` are seconds from the start of the stream; `speech_len` is
    /// how many samples of `pcm` run to the last speech chunk (a speculative decode of at least that
    /// much audio holds all of the utterance's speech).
    Final { utterance: u64, start: f64, end: f64, pcm: Vec<f32>, speech_len: usize },
}

pub struct Segmenter {
    cfg: EndpointConfig,
    vad: Arc<SileroVad>,
    vad_state: VadState,
    /// Samples not yet forming a whole VAD chunk.
    pending: Vec<f32>,
    /// Samples of the stream consumed by the VAD so far.
    consumed: u64,
    pre_roll: VecDeque<f32>,
    utterance: Option<Open>,
    next_id: u64,
}

struct Open {
    id: u64,
    start_sample: u64,
    pcm: Vec<f32>,
    speech_samples: usize,
    silence_run: usize,
    since_partial: usize,
    speech_len: usize,
    speculated: bool,
}

impl Segmenter {
    pub fn new(vad: Arc<SileroVad>, cfg: EndpointConfig) -> Self {
        Segmenter { cfg, vad, vad_state: VadState::default(), pending: Vec::new(), consumed: 0, pre_roll: VecDeque::new(), utterance: None, next_id: 0 }
    }

    /// Whether an utterance is open (speech heard and not yet closed).
    pub fn in_utterance(&self) -> bool {
        self.utterance.is_some()
    }

    /// Seconds of audio consumed.
    pub fn position(&self) -> f64 {
        self.consumed as f64 / SAMPLE_RATE as f64
    }

    /// Feeds 16 kHz samples; returns the events they complete.
    pub fn push(&mut self, pcm: &[f32]) -> Result<Vec<SegmentEvent>> {
        self.pending.extend_from_slice(pcm);
        let mut events = Vec::new();
        let whole = self.pending.len() / CHUNK * CHUNK;
        let chunks: Vec<f32> = self.pending.drain(..whole).collect();
        for chunk in chunks.chunks_exact(CHUNK) {
            let p = self.vad.probability(&mut self.vad_state, chunk)?;
            self.step(chunk, p, &mut events);
            self.consumed += CHUNK as u64;
        }
        Ok(events)
    }

    fn step(&mut self, chunk: &[f32], p: f32, events: &mut Vec<SegmentEvent>) {
        let cfg = &self.cfg;
        match &mut self.utterance {
            None => {
                if p >= cfg.speech_threshold {
                    let mut pcm: Vec<f32> = self.pre_roll.drain(..).collect();
                    let start_sample = self.consumed - pcm.len() as u64;
                    pcm.extend_from_slice(chunk);
                    let speech_len = pcm.len();
                    self.utterance = Some(Open { id: self.next_id, start_sample, pcm, speech_samples: CHUNK, silence_run: 0, since_partial: CHUNK, speech_len, speculated: false });
                    self.next_id += 1;
                } else {
                    self.pre_roll.extend(chunk);
                    let keep = ms_to_samples(cfg.pre_roll_ms);
                    while self.pre_roll.len() > keep {
                        self.pre_roll.pop_front();
                    }
                }
            }
            Some(u) => {
                u.pcm.extend_from_slice(chunk);
                u.since_partial += CHUNK;
                if p < cfg.silence_threshold {
                    u.silence_run += CHUNK;
                } else {
                    u.silence_run = 0;
                    u.speech_samples += CHUNK;
                    u.speech_len = u.pcm.len();
                    if u.speculated {
                        u.speculated = false;
                        events.push(SegmentEvent::Resumed { utterance: u.id });
                    }
                }
                let ended = u.silence_run >= ms_to_samples(cfg.end_silence_ms);
                let too_long = u.pcm.len() >= ms_to_samples(cfg.max_utterance_ms);
                if ended || too_long {
                    if let Some(e) = self.close() {
                        events.push(e);
                    }
                } else if !u.speculated && u.silence_run >= ms_to_samples(cfg.speculate_after_ms) && u.speech_samples >= ms_to_samples(cfg.min_speech_ms) {
                    u.speculated = true;
                    let start = u.start_sample as f64 / SAMPLE_RATE as f64;
                    events.push(SegmentEvent::Speculative { utterance: u.id, start, pcm: u.pcm.clone() });
                } else if u.since_partial >= ms_to_samples(cfg.partial_interval_ms) && u.silence_run == 0 {
                    u.since_partial = 0;
                    let start = u.start_sample as f64 / SAMPLE_RATE as f64;
                    events.push(SegmentEvent::Partial { utterance: u.id, start, pcm: u.pcm.clone() });
                }
            }
        }
    }

    /// Closes the open utterance: a final event, or nothing when it held too little speech.
    fn close(&mut self) -> Option<SegmentEvent> {
        let mut u = self.utterance.take()?;
        // Keep a little of the trailing silence: whisper ends sentences better with it.
        let trailing_keep = ms_to_samples(200);
        let cut = u.silence_run.saturating_sub(trailing_keep).min(u.pcm.len());
        u.pcm.truncate(u.pcm.len() - cut);
        if u.speech_samples < ms_to_samples(self.cfg.min_speech_ms) {
            return None;
        }
        let start = u.start_sample as f64 / SAMPLE_RATE as f64;
        let end = start + u.pcm.len() as f64 / SAMPLE_RATE as f64;
        Some(SegmentEvent::Final { utterance: u.id, start, end, speech_len: u.speech_len.min(u.pcm.len()), pcm: u.pcm })
    }

    /// End of stream: the open utterance (with any audio short of a whole VAD chunk) becomes final.
    pub fn finish(&mut self) -> Option<SegmentEvent> {
        let rest: Vec<f32> = self.pending.drain(..).collect();
        if let Some(u) = &mut self.utterance {
            u.pcm.extend_from_slice(&rest);
        }
        self.close()
    }
}

/// LocalAgreement-2: the words two consecutive partials agree on are stable; clients can render them
/// as settled while the tail may still change.
#[derive(Default)]
pub struct StablePrefix {
    previous: Vec<String>,
}

impl StablePrefix {
    /// Given a new partial's text, returns how many of its leading words are stable.
    pub fn update(&mut self, text: &str) -> usize {
        let words: Vec<&str> = text.split_whitespace().collect();
        let keys: Vec<String> = words.iter().map(|w| normalize(w).join(" ")).collect();
        let agreed = keys.iter().zip(&self.previous).take_while(|(a, b)| a == b).count();
        self.previous = keys;
        agreed
    }

    pub fn reset(&mut self) {
        self.previous.clear();
    }
}

/// The first `n` words of `text`.
pub fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace().take(n).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_prefix_is_what_two_partials_agree_on() {
        let mut s = StablePrefix::default();
        assert_eq!(s.update("eight of"), 0);
        assert_eq!(s.update("Eight of spades"), 2);
        assert_eq!(s.update("Eight of spades, four"), 3);
        assert_eq!(s.update("Eight of spades for clubs"), 3);
        assert_eq!(first_words("Eight of spades for clubs", 3), "Eight of spades");
        s.reset();
        assert_eq!(s.update("x"), 0);
    }
}
