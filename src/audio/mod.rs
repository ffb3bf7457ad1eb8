//! Audio in: decoding files and turning any rate and channel count into what Whisper wants,
//! 16 kHz mono f32.

pub mod decode;
pub mod level;
pub mod pcm;
pub mod resample;

/// Whisper's input sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// Mono samples at [`SAMPLE_RATE`], in [-1, 1].
#[derive(Debug, Clone, Default)]
pub struct Pcm16k(pub Vec<f32>);

impl Pcm16k {
    pub fn seconds(&self) -> f64 {
        self.0.len() as f64 / SAMPLE_RATE as f64
    }
}

/// Reads an audio file of any supported format, rate and channel count as 16 kHz mono.
pub fn load_file(path: &std::path::Path) -> Result<Pcm16k, decode::AudioError> {
    Ok(Pcm16k(decode::decode_file(path)?.samples))
}

/// A 16-bit PCM WAV file's bytes; `samples` are interleaved when `channels` > 1, in [-1, 1].
pub fn encode_wav_s16(samples: &[f32], rate: u32, channels: u16) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    let mut b = Vec::with_capacity(44 + data.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}
