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
    /// OpenAI's plain JSON: `{"text": ...}`.
    Json,
    Srt,
    Vtt,
    /// OpenAI's verbose JSON: segments with timings, words, and the configuration used.
    VerboseJson,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => Format::Text,
            "json" => Format::Json,
            "srt" => Format::Srt,
            "vtt" => Format::Vtt,
            "verbose_json" => Format::VerboseJson,
            _ => return None,
        })
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json | Format::VerboseJson => "json",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text | Format::Srt => "text/plain; charset=utf-8",
            Format::Vtt => "text/vtt; charset=utf-8",
            Format::Json | Format::VerboseJson => "application/json",
        }
    }
}

fn language_name(code: &str) -> &str {
    match code {
        "en" => "english",
        "de" => "german",
        "fr" => "french",
        "es" => "spanish",
        "it" => "italian",
        "nl" => "dutch",
        "pt" => "portuguese",
        other => other,
    }
}

/// OpenAI's `verbose_json` transcription object, plus tierd's `tierd` block naming the configuration.
pub fn verbose_json(t: &Transcript, language: &str, words: bool, tier: Option<&str>) -> serde_json::Value {
    let segments: Vec<serde_json::Value> = t
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({
                "id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [],
                "temperature": 0.0, "avg_logprob": s.avg_logprob, "compression_ratio": 1.0, "no_speech_prob": s.no_speech_prob,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "task": "transcribe",
        "language": language_name(language),
        "duration": t.duration,
        "text": t.text,
        "segments": segments,
        "tierd": { "tier": tier, "model": t.model, "beam": t.beam, "decode_seconds": t.decode_seconds },
    });
    if words {
        let w: Vec<serde_json::Value> = t
            .segments
            .iter()
            .flat_map(|s| &s.words)
            .map(|w| serde_json::json!({"word": w.word, "start": w.start, "end": w.end}))
            .collect();
        v["words"] = serde_json::Value::Array(w);
    }
    v
}

/// `HH:MM:SS` + `sep` + milliseconds (`,` for SRT, `.` for WebVTT).
pub fn timestamp(seconds: f64, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

pub fn render(t: &Transcript, format: Format) -> String {
    let spoken = || t.segments.iter().filter(|s| !s.text.trim().is_empty());
    match format {
        Format::Text => format!("{}\n", t.text),
        Format::Json => serde_json::json!({ "text": t.text }).to_string() + "\n",
        Format::VerboseJson => serde_json::to_string_pretty(&verbose_json(t, "en", true, None)).expect("serialises") + "\n",
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
        assert_eq!(json, serde_json::json!({"text": "Hello there. Bye."}));
        let v: serde_json::Value = serde_json::from_str(&render(&t, Format::VerboseJson)).unwrap();
        assert_eq!(v["segments"][1]["start"], 3661.25);
        assert_eq!((v["language"].as_str(), v["tierd"]["model"].as_str()), (Some("english"), Some("m")));
    }
}
