//! Decoding audio files with symphonia (WAV, FLAC, MP3, Ogg/Vorbis, MP4/AAC, AIFF), downmixed to mono
//! and resampled to 16 kHz packet by packet, so the only full copy of the audio is the 16 kHz result.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::resample::StreamResampler;

/// What can go wrong reading audio; transports map these to status codes.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("unsupported audio codec: {0} (supported: {SUPPORTED})")]
    Unsupported(String),
    #[error("the data could not be decoded as audio: {0} (supported: {SUPPORTED})")]
    Malformed(String),
    #[error("the audio contains no samples")]
    Empty,
    #[error("cannot resample from {0} Hz: {1}")]
    Resample(u32, String),
}

/// What the decoder reads, for error messages.
pub const SUPPORTED: &str = "WAV, FLAC, MP3, Ogg/Vorbis, M4A/AAC, AIFF; not Opus";

/// Decoded audio: 16 kHz mono samples, and what the file had.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

fn classify(err: SymError) -> AudioError {
    match err {
        // The probe saying no format reader fits means these bytes are not audio we know.
        SymError::Unsupported(what) if what.contains("probe") => AudioError::Malformed("no known audio container".into()),
        SymError::Unsupported(what) => AudioError::Unsupported(what.to_string()),
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => AudioError::Malformed("the file ends early".into()),
        other => AudioError::Malformed(other.to_string()),
    }
}

/// Decodes the default audio track of a file to 16 kHz mono.
pub fn decode_file(path: &Path) -> Result<Decoded, AudioError> {
    let file = File::open(path).map_err(|e| AudioError::Io(path.display().to_string(), e))?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    decode_stream(MediaSourceStream::new(Box::new(file), Default::default()), &hint)
}

/// Decodes from any media source: packets are downmixed and resampled as they come.
pub fn decode_stream(mss: MediaSourceStream<'static>, hint: &Hint) -> Result<Decoded, AudioError> {
    let mut format = symphonia::default::get_probe()
        .probe(hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(classify)?;
    let track = format.default_track(TrackType::Audio).ok_or_else(|| AudioError::Malformed("no audio track".into()))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::Unsupported("the track has no audio codec parameters".into()))?;
    let codec = format!("{:?}", params.codec);
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => AudioError::Unsupported(format!("no decoder for codec {codec}")),
            other => classify(other),
        })?;

    let mut out = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut resampler: Option<StreamResampler> = None;
    let (mut rate, mut channels) = (0u32, 0usize);
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A truncated final packet ends the stream; what was decoded so far is kept.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(classify(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            // One corrupt packet is skipped, as players do.
            Err(SymError::DecodeError(msg)) => {
                tracing::debug!(msg, "skipping undecodable packet");
                continue;
            }
            Err(e) => return Err(classify(e)),
        };
        if rate == 0 {
            rate = buf.spec().rate();
            channels = buf.spec().channels().count().max(1);
            resampler = Some(StreamResampler::new(rate)?);
        }
        buf.copy_to_vec_interleaved(&mut interleaved);
        mono.clear();
        mono.extend(interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32));
        out.extend(resampler.as_mut().expect("set with the rate").push(&mono));
    }
    if let Some(r) = resampler.as_mut() {
        out.extend(r.flush());
    }
    if out.is_empty() {
        return Err(AudioError::Empty);
    }
    Ok(Decoded { samples: out, sample_rate: rate, channels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_wav_is_downmixed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.wav");
        // Left 0.5, right 0 → mono 0.25.
        let samples: Vec<f32> = (0..200).flat_map(|_| [0.5f32, 0.0]).collect();
        std::fs::write(&p, crate::audio::encode_wav_s16(&samples, 8000, 2)).unwrap();
        let d = decode_file(&p).unwrap();
        // 200 samples at 8 kHz: 400 at 16 kHz, a constant 0.25 in the middle.
        assert_eq!((d.sample_rate, d.channels, d.samples.len()), (8000, 2, 400));
        assert!((d.samples[200] - 0.25).abs() < 0.01, "{}", d.samples[200]);
    }

    #[test]
    fn garbage_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.txt");
        std::fs::write(&p, b"this is plainly not audio, just some text that goes on").unwrap();
        assert!(matches!(decode_file(&p), Err(AudioError::Unsupported(_) | AudioError::Malformed(_))));
        let p = dir.path().join("empty.wav");
        std::fs::write(&p, crate::audio::encode_wav_s16(&[], 16000, 1)).unwrap();
        assert!(decode_file(&p).is_err());
        assert!(matches!(decode_file(&dir.path().join("missing.wav")), Err(AudioError::Io(..))));
    }
}
