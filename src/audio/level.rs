//! Signal level: a cheap check for audio with nothing in it, so the model is not asked to transcribe
//! digital silence (where Whisper invents words such as "you").

/// 30 ms frames at 16 kHz.
const FRAME: usize = 480;
/// About −60 dBFS: quieter than any room recording, louder than dither.
const SILENCE_RMS: f32 = 1e-3;

/// True when no 30 ms frame rises above −60 dBFS RMS.
pub fn is_silent(pcm: &[f32]) -> bool {
    pcm.chunks(FRAME).all(|f| (f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32).sqrt() < SILENCE_RMS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_signal() {
        assert!(is_silent(&vec![0.0; 16000]));
        assert!(is_silent(&vec![1e-4; 16000]));
        let mut pcm = vec![0.0; 16000];
        pcm[8000..8480].iter_mut().enumerate().for_each(|(i, s)| *s = (i as f32 * 0.3).sin() * 0.05);
        assert!(!is_silent(&pcm));
        assert!(is_silent(&[]));
    }
}
