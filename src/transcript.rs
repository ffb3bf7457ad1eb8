//! A finished transcription and its renderings: plain text, JSON, SubRip (SRT) and WebVTT.

use serde::Serialize;

use crate::engine::Segment;

#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    pub text: String,
    pub segments: Vec<Segment>,
    /// The configuration that produced it.
    pub model: String,
    pub beam: u32,
    /// Seconds of audio, and wall-clock seconds spent decoding it.
    pub duration: f64,
    pub decode_seconds: f64,
}

impl Transcript {
    pub fn from_segments(segments: Vec<Segment>, model: &str, beam: u32, duration: f64, decode_seconds: f64) -> Self {
        let text = segments.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        Transcript { text, segments, model: model.to_string(), beam, duration, decode_seconds }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Srt,
    Vtt,
}

/// `HH:MM:SS` + `sep` + milliseconds.
fn timestamp(seconds: f64, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

pub fn render(t: &Transcript, format: Format) -> String {
    let spoken = || t.segments.iter().filter(|s| !s.text.trim().is_empty());
    match format {
        Format::Text => format!("{}\n", t.text),
        Format::Json => serde_json::to_string_pretty(t).expect("transcript serialises") + "\n",
        Format::Srt => spoken()
            .enumerate()
            .map(|(i, s)| format!("{}\n{} --> {}\n{}\n\n", i + 1, timestamp(s.start, ','), timestamp(s.end, ','), s.text.trim()))
            .collect(),
        Format::Vtt => {
            let cues: String = spoken().map(|s| format!("{} --> {}\n{}\n\n", timestamp(s.start, '.'), timestamp(s.end, '.'), s.text.trim())).collect();
            format!("WEBVTT\n\n{cues}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, text: &str) -> Segment {
        Segment { start, end, text: text.into(), words: vec![], avg_logprob: -0.1, no_speech_prob: 0.0 }
    }

    #[test]
    fn renders_subtitles() {
        let t = Transcript::from_segments(vec![seg(0.0, 2.5, " Hello there."), seg(3661.25, 3662.0, "Bye.")], "m", 1, 3662.0, 1.0);
        assert_eq!(t.text, "Hello there. Bye.");
        assert_eq!(render(&t, Format::Srt), "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:02,000\nBye.\n\n");
        assert!(render(&t, Format::Vtt).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n"));
        let json: serde_json::Value = serde_json::from_str(&render(&t, Format::Json)).unwrap();
        assert_eq!(json["segments"][1]["start"], 3661.25);
    }
}
