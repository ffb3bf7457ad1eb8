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
