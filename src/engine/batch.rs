//! Long-form transcription: a whole recording split at VAD silences into chunks of up to ~28 s,
//! decoded in parallel on the decode pool (after live streams' finals), and stitched back with
//! absolute timestamps.
//!
//! Every whisper decode runs a 30 s encoder window whatever the audio length, so chunks are packed as
//! close to that as the pauses allow. At most a few chunks are in flight at once, so memory stays flat
//! however long the recording.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};

use super::pool::{DecodeJob, Priority};
use super::stream::{EndpointConfig, SegmentEvent, Segmenter};
use super::{Engine, RequestOptions, Segment, SpeechConfig};
use crate::audio::{Pcm16k, SAMPLE_RATE};
use crate::backend::vad::SileroVad;
use crate::transcript::Transcript;

/// Longest chunk handed to whisper, in seconds (its window is 30 s).
const MAX_CHUNK_S: f64 = 28.0;

/// A span of the recording to decode, in samples, and the VAD utterances inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub utterances: Vec<(usize, usize)>,
}

/// Splits a recording into chunks of speech: VAD utterances packed together while they fit in
/// [`MAX_CHUNK_S`]. Silence-only audio gives no chunks.
pub fn plan_chunks(vad: &Arc<SileroVad>, pcm: &[f32]) -> Result<Vec<Chunk>> {
    let cfg = EndpointConfig {
        end_silence_ms: 400,
        max_utterance_ms: (MAX_CHUNK_S * 1000.0) as u32,
        partial_interval_ms: u32::MAX,
        speculate_after_ms: u32::MAX,
        ..EndpointConfig::default()
    };
    let mut seg = Segmenter::new(vad.clone(), cfg);
    let mut utterances = Vec::new();
    let mut collect = |ev: SegmentEvent| {
        if let SegmentEvent::Final { start, pcm, .. } = ev {
            let s = (start * SAMPLE_RATE as f64).round() as usize;
            utterances.push((s, s + pcm.len()));
        }
    };
    // Feed in 1 s pieces: the segmenter's own buffers stay small.
    for piece in pcm.chunks(SAMPLE_RATE as usize) {
        seg.push(piece)?.into_iter().for_each(&mut collect);
    }
    if let Some(ev) = seg.finish() {
        collect(ev);
    }
    let max = (MAX_CHUNK_S * SAMPLE_RATE as f64) as usize;
    let mut chunks: Vec<Chunk> = Vec::new();
    for (s, e) in utterances {
        let e = e.min(pcm.len());
        match chunks.last_mut() {
            Some(c) if e - c.start <= max => {
                c.end = e;
                c.utterances.push((s, e));
            }
            _ => chunks.push(Chunk { start: s, end: e, utterances: vec![(s, e)] }),
        }
    }
    Ok(chunks)
}

/// Whisper's segment times are coarse when a chunk holds several utterances (its timestamps come in
/// steps, and the pause before a sentence is counted into it). The VAD knows where speech is: a
/// segment is snapped to the span of the utterances it overlaps, and its words kept inside.
fn snap_to_speech(seg: &mut Segment, utterances: &[(f64, f64)]) {
    // An utterance belongs to the segment when they share at least 0.5 s (or half the utterance): a
    // sliver of overlap is whisper's boundary being off, not shared speech.
    let overlapping: Vec<&(f64, f64)> = utterances
        .iter()
        .filter(|(s, e)| seg.end.min(*e) - seg.start.max(*s) >= 0.5f64.min((e - s) / 2.0))
        .collect();
    let (Some(first), Some(last)) = (overlapping.first(), overlapping.last()) else { return };
    seg.start = first.0;
    seg.end = last.1;
    for w in &mut seg.words {
        w.start = w.start.clamp(seg.start, seg.end);
        w.end = w.end.clamp(w.start, seg.end);
    }
}

impl Engine {
    /// Transcribes a whole recording; `on_segment` sees each segment, in order, as soon as it and all
    /// before it are decoded. Blocking: call from a blocking thread.
    pub fn transcribe_long(
        &self,
        pcm: &Pcm16k,
        config: &SpeechConfig,
        opts: &RequestOptions,
        mut on_segment: impl FnMut(&Segment, usize, usize),
    ) -> Result<Transcript> {
        let started = Instant::now();
        let chunks = plan_chunks(self.vad(), &pcm.0)?;
        // Chunks run side by side, one thread each: across chunks parallelism beats threads in a decode.
        let workers = self.cpu_total() as usize;
        let chunk_config = SpeechConfig { threads: 1, ..config.clone() };
        let cancel = Arc::new(AtomicBool::new(false));
        let mut pending = VecDeque::new();
        let mut next = 0;
        let mut segments = Vec::new();
        while next < chunks.len() || !pending.is_empty() {
            while next < chunks.len() && pending.len() < workers * 2 {
                let c = chunks[next].clone();
                let job = DecodeJob {
                    priority: Priority::Batch,
                    stream: 0,
                    config: chunk_config.clone(),
                    pcm: pcm.0[c.start..c.end].to_vec(),
                    language: opts.language.clone(),
                    prompt: opts.prompt.clone(),
                    cancel: cancel.clone(),
                };
                pending.push_back((c, self.pool().submit(job)));
                next += 1;
            }
            let (chunk, rx) = pending.pop_front().expect("loop condition");
            let out = rx.blocking_recv().map_err(|_| anyhow!("the decode pool stopped"))??;
            let offset = chunk.start as f64 / SAMPLE_RATE as f64;
            let seconds = |x: usize| x as f64 / SAMPLE_RATE as f64;
            let speech: Vec<(f64, f64)> = chunk.utterances.iter().map(|&(s, e)| (seconds(s), seconds(e))).collect();
            for mut s in out.segments {
                s.start += offset;
                s.end += offset;
                for w in &mut s.words {
                    w.start += offset;
                    w.end += offset;
                }
                snap_to_speech(&mut s, &speech);
                on_segment(&s, next - pending.len(), chunks.len());
                segments.push(s);
            }
        }
        Ok(Transcript::from_segments(segments, &config.model, config.beam, pcm.seconds(), started.elapsed().as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Word;

    fn seg(start: f64, end: f64) -> Segment {
        let w = |s: f64, e: f64| Word { word: "w".into(), start: s, end: e, p: 0.9 };
        Segment { start, end, text: "x".into(), words: vec![w(start, start + 0.5), w(end - 0.2, end + 0.7)], avg_logprob: -0.2, no_speech_prob: 0.0 }
    }

    #[test]
    fn segments_snap_to_the_speech_they_cover() {
        let speech = [(2.0, 9.1), (11.1, 16.4), (18.4, 21.7)];
        // Whisper counted the pause before the second sentence into it.
        let mut s = seg(8.98, 16.98);
        snap_to_speech(&mut s, &speech);
        assert_eq!((s.start, s.end), (11.1, 16.4));
        assert!(s.words.iter().all(|w| w.start >= 11.1 && w.end <= 16.4));
        // Two sentences merged into one segment keep both.
        let mut s = seg(1.5, 17.0);
        snap_to_speech(&mut s, &speech);
        assert_eq!((s.start, s.end), (2.0, 16.4));
        // No speech under it: left alone.
        let mut s = seg(9.2, 10.9);
        snap_to_speech(&mut s, &speech);
        assert_eq!((s.start, s.end), (9.2, 10.9));
    }
}
