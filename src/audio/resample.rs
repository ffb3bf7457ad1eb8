//! Sample-rate conversion to 16 kHz with rubato's FFT resampler (fixed ratio, high quality).

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::decode::AudioError;
use super::SAMPLE_RATE;

/// Resamples mono audio from `rate` Hz to 16 kHz. The output has the same duration as the input.
pub fn to_16k(mono: &[f32], rate: u32) -> Result<Vec<f32>, AudioError> {
    if rate == SAMPLE_RATE {
        return Ok(mono.to_vec());
    }
    if rate == 0 {
        return Err(AudioError::Resample(rate, "the sample rate is zero".into()));
    }
    let err = |e: &dyn std::fmt::Display| AudioError::Resample(rate, e.to_string());
    let mut resampler = Fft::<f32>::new(rate as usize, SAMPLE_RATE as usize, 1024, 1, FixedSync::Input).map_err(|e| err(&e))?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| err(&e))?;
    let out = resampler.process_all(&input, mono.len(), None).map_err(|e| err(&e))?;
    Ok(out.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize).map(|i| (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5).collect()
    }

    #[test]
    fn keeps_duration_and_frequency() {
        for rate in [8000, 22050, 44100, 48000] {
            let out = to_16k(&sine(rate, 440.0, 1.0), rate).unwrap();
            assert!((out.len() as i64 - 16000).abs() <= 2, "{rate}: {} samples", out.len());
            // Count rising zero crossings in the middle: 440 Hz → about 220 per half second.
            let mid = &out[4000..12000];
            let crossings = mid.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
            assert!((crossings as i32 - 220).abs() <= 2, "{rate}: {crossings} crossings");
        }
    }

    #[test]
    fn identity_and_bad_rate() {
        assert_eq!(to_16k(&[0.1, 0.2], 16000).unwrap(), vec![0.1, 0.2]);
        assert!(to_16k(&[0.1], 0).is_err());
    }
}
