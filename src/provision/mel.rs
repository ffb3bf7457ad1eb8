//! The mel filter bank whisper.cpp reads from a ggml file.
//!
//! Whisper's own `mel_filters.npz` is `librosa.filters.mel(sr=16000, n_fft=400, n_mels=N)`: Slaney's mel
//! scale (linear below 1 kHz, logarithmic above) with Slaney area normalisation. The CTranslate2 files
//! do not carry it, so conversion recomputes it here, in f64 like librosa, then stores f32.

/// Hz → mel on Slaney's scale.
fn hz_to_mel(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// mel → Hz on Slaney's scale.
fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        mel * f_sp
    }
}

/// Row-major `n_mels × (n_fft/2 + 1)` triangular filters from 0 Hz to `sample_rate/2`.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let nyquist = sample_rate as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|i| nyquist * i as f64 / (n_bins - 1) as f64).collect();
    let (mel_min, mel_max) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let mel_points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = Vec::with_capacity(n_mels * n_bins);
    for m in 0..n_mels {
        let (lo, centre, hi) = (mel_points[m], mel_points[m + 1], mel_points[m + 2]);
        let norm = 2.0 / (hi - lo);
        for &f in &fft_freqs {
            let lower = (f - lo) / (centre - lo);
            let upper = (hi - f) / (hi - centre);
            out.push((lower.min(upper).max(0.0) * norm) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values printed by librosa 0.11.0 `filters.mel(sr=16000, n_fft=400, n_mels=80)`, the array
    // whisper's mel_filters.npz holds (see tests/fixtures/PROVENANCE.md for the command).
    #[test]
    fn matches_librosa_reference_values() {
        let f = mel_filters(16000, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        let row = |m: usize| &f[m * 201..(m + 1) * 201];
        let argmax = |r: &[f32]| r.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
        assert_eq!(argmax(row(0)), 1);
        assert_eq!(argmax(row(40)), 43);
        assert_eq!(argmax(row(79)), 192);
        // Slaney area normalisation: every row sums to about the same.
        let sum = |m: usize| row(m).iter().sum::<f32>();
        for (m, want) in [(0, 0.024_862_595), (40, 0.026_664_86), (79, 0.024_925_34)] {
            assert!((sum(m) - want).abs() < 1e-6, "row {m} sums to {}", sum(m));
        }
        for (m, k, want) in [(0, 1, 0.024_862_595), (40, 43, 0.014_735_566), (79, 186, 0.000_366_741_67)] {
            assert!((row(m)[k] - want).abs() < 1e-7, "[{m},{k}] = {}", row(m)[k]);
        }
        let total: f32 = f.iter().sum();
        assert!((total - 1.999_024_2).abs() < 1e-4, "total {total}");
    }

    #[test]
    fn every_filter_is_a_nonnegative_triangle() {
        let f = mel_filters(16000, 400, 128);
        for r in f.chunks(201) {
            assert!(r.iter().all(|v| *v >= 0.0));
            assert!(r.iter().any(|v| *v > 0.0));
        }
    }
}
