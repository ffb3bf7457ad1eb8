//! Every model variant, built by the real pipeline from registry packages, transcribes the real speech
//! fixtures within its WER bound; silence and noise give no text.

mod common;

use std::time::Instant;

use common::*;
use tierd::audio::Pcm16k;
use tierd::engine::{Engine, RequestOptions, SpeechConfig};
use tierd::wer::{wer, WerStats};

/// Decodes every fixture with one configuration; returns corpus WER stats and prints a table row.
fn corpus_wer(engine: &Engine, config: &SpeechConfig) -> WerStats {
    let mut total = WerStats::default();
    let started = Instant::now();
    let mut audio_seconds = 0.0;
    for (path, reference) in speech_fixtures() {
        let pcm = load(&path);
        audio_seconds += pcm.seconds();
        let t = engine.transcribe(&pcm, config, &RequestOptions::default()).unwrap();
        let s = wer(&reference, &t.text);
        if s.errors() > 0 {
            eprintln!("  {}: {:?} vs {:?}", path.file_name().unwrap().to_string_lossy(), t.text, reference);
        }
        total += s;
    }
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "| {} beam {}{} | WER {:.1}% ({}/{}) | {:.1} s wall for {:.1} s audio |",
        config.model,
        config.beam,
        if config.fit_audio_ctx { " fitted ctx" } else { "" },
        100.0 * total.rate(),
        total.errors(),
        total.reference_words,
        wall,
        audio_seconds
    );
    total
}

fn check_variant(model: &str, bound: f64) {
    let engine = engine_with(&[model]);
    let stats = corpus_wer(&engine, &SpeechConfig::new(model, 1));
    assert!(stats.reference_words > 50);
    assert!(stats.rate() <= bound, "{model}: WER {:.3} over bound {bound}", stats.rate());
}

#[test]
fn tiny_en_f16_within_15_percent() {
    check_variant("tiny.en-f16", 0.15);
}

#[test]
fn tiny_en_q8_0_within_15_percent() {
    check_variant("tiny.en-q8_0", 0.15);
}

#[test]
fn tiny_en_q5_0_within_15_percent() {
    check_variant("tiny.en-q5_0", 0.15);
}

#[test]
fn base_f16_within_10_percent() {
    check_variant("base-f16", 0.10);
}

#[test]
fn base_q8_0_within_10_percent() {
    check_variant("base-q8_0", 0.10);
}

#[test]
fn base_q5_0_within_10_percent() {
    check_variant("base-q5_0", 0.10);
}

#[test]
fn beam_search_within_bound() {
    let engine = engine_with(&["tiny.en-q8_0"]);
    let stats = corpus_wer(&engine, &SpeechConfig::new("tiny.en-q8_0", 5));
    assert!(stats.rate() <= 0.15, "beam 5 WER {:.3}", stats.rate());
}

#[test]
fn silence_and_noise_give_no_text() {
    let engine = engine_with(&["tiny.en-q8_0", "base-q8_0"]);
    let inputs = [("silence", vec![0.0f32; 16000 * 5]), ("white noise", white_noise(16000 * 5, 0.1, 7))];
    for model in ["tiny.en-q8_0", "base-q8_0"] {
        for (what, pcm) in &inputs {
            let t = engine.transcribe(&Pcm16k(pcm.clone()), &SpeechConfig::new(model, 1), &RequestOptions::default()).unwrap();
            assert_eq!(t.text, "", "{model} on {what} said {:?}", t.text);
        }
    }
}

#[test]
fn segments_carry_word_timings_inside_the_audio() {
    let engine = engine_with(&["base-q8_0"]);
    let (path, _) = speech_fixtures().into_iter().find(|(p, _)| p.ends_with("sense_and_sensibility_01_austen_64kb-0870.wav")).unwrap();
    let pcm = load(&path);
    let t = engine.transcribe(&pcm, &SpeechConfig::new("base-q8_0", 1), &RequestOptions::default()).unwrap();
    assert!(!t.segments.is_empty());
    let words: Vec<_> = t.segments.iter().flat_map(|s| s.words.iter()).collect();
    assert!(words.len() >= 15, "{words:?}");
    for w in &words {
        assert!(w.start >= 0.0 && w.end >= w.start && w.end <= pcm.seconds() + 0.5, "{w:?}");
        assert!((0.0..=1.0).contains(&w.p));
    }
    assert!(words.iter().any(|w| w.word.to_lowercase().contains("dashwood")));
}

