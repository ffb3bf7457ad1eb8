//! Sample-rate conversion to 16 kHz with rubato's FFT resampler (fixed ratio, high quality), chunk by
//! chunk so that live streams and long files are converted as they arrive.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::decode::AudioError;
use super::SAMPLE_RATE;

/// Resamples a live stream to 16 kHz chunk by chunk, keeping state between calls.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    /// Output samples still to drop: the resampler's start-up delay.
    skip: usize,
    rate: u32,
    total_in: u64,
    total_out: u64,
}

impl StreamResampler {
    pub fn new(rate: u32) -> Result<Self, AudioError> {
        if rate == SAMPLE_RATE {
            return Ok(StreamResampler { inner: None, pending: Vec::new(), skip: 0, rate, total_in: 0, total_out: 0 });
        }
        // 20 ms input chunks keep the added latency small.
        let chunk = (rate as usize / 50).max(64);
        if rate == 0 {
            return Err(AudioError::Resample(rate, "the sample rate is zero".into()));
        }
        let inner = Fft::<f32>::new(rate as usize, SAMPLE_RATE as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| AudioError::Resample(rate, e.to_string()))?;
        let skip = inner.output_delay();
        Ok(StreamResampler { inner: Some(inner), pending: Vec::new(), skip, rate, total_in: 0, total_out: 0 })
    }

    /// Feeds samples at the input rate; returns the 16 kHz samples now available.
    pub fn push(&mut self, input: &[f32]) -> Vec<f32> {
        self.total_in += input.len() as u64;
        let out = self.process(input);
        self.total_out += out.len() as u64;
        out
    }

    fn process(&mut self, input: &[f32]) -> Vec<f32> {
        let Some(r) = self.inner.as_mut() else { return input.to_vec() };
        self.pending.extend_from_slice(input);
        let mut out = Vec::new();
        loop {
            let need = r.input_frames_next();
            if self.pending.len() < need {
                break;
            }
            let chunk: Vec<f32> = self.pending.drain(..need).collect();
            let Ok(buf) = InterleavedSlice::new(&chunk, 1, need) else { break };
            match r.process(&buf, None) {
                Ok(res) => out.extend(res.take_data()),
                Err(e) => {
                    tracing::warn!(error = %e, "resampling failed; chunk dropped");
                    break;
                }
            }
        }
        let drop_now = self.skip.min(out.len());
        self.skip -= drop_now;
        out.drain(..drop_now);
        out
    }

    /// End of stream: pads the last partial chunk with silence so its audio comes out.
    /// End of stream: pushes silence through until every input sample has come out, and no more.
    pub fn flush(&mut self) -> Vec<f32> {
        let Some(r) = self.inner.as_ref() else { return Vec::new() };
        let expected = self.total_in * SAMPLE_RATE as u64 / self.rate as u64;
        let missing = expected.saturating_sub(self.total_out) as usize;
        if missing == 0 {
            return Vec::new();
        }
        // Enough input to cover the missing output, the resampler's delay and one whole chunk.
        let pad = (missing + r.output_delay()) * self.rate as usize / SAMPLE_RATE as usize + 2 * r.input_frames_max();
        let mut out = self.process(&vec![0.0; pad]);
        out.truncate(missing);
        self.total_out += out.len() as u64;
        out
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    #[test]
    fn streamed_resampling_keeps_duration_and_frequency() {
        for rate in [8000u32, 16000, 22050, 44100, 48000] {
            let input: Vec<f32> = (0..rate).map(|i| (i as f32 / rate as f32 * 440.0 * std::f32::consts::TAU).sin() * 0.5).collect();
            let mut r = StreamResampler::new(rate).unwrap();
            let mut out = Vec::new();
            for piece in input.chunks(777) {
                out.extend(r.push(piece));
            }
            out.extend(r.flush());
            assert_eq!(out.len(), 16_000, "{rate}");
            // 440 Hz: about 220 rising zero crossings in half a second.
            let crossings = out[4000..12000].windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
            assert!((crossings as i32 - 220).abs() <= 2, "{rate}: {crossings}");
        }
    }

    #[test]
    fn zero_rate_is_an_error() {
        assert!(StreamResampler::new(0).is_err());
    }
}
