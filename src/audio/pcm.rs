//! Raw PCM from the wire: little-endian s16 or f32 in frames of any length. A partial sample at the end
//! of a frame is carried to the next frame, never dropped.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    PcmS16le,
    PcmF32le,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pcm_s16le" => Some(Encoding::PcmS16le),
            "pcm_f32le" => Some(Encoding::PcmF32le),
            _ => None,
        }
    }

    fn width(self) -> usize {
        match self {
            Encoding::PcmS16le => 2,
            Encoding::PcmF32le => 4,
        }
    }
}

pub struct PcmDecoder {
    encoding: Encoding,
    carry: Vec<u8>,
}

impl PcmDecoder {
    pub fn new(encoding: Encoding) -> Self {
        PcmDecoder { encoding, carry: Vec::with_capacity(4) }
    }

    /// Decodes the whole samples in `carry + bytes` to f32 in [-1, 1]; keeps the remainder. Non-finite
    /// f32 values become 0 (they would poison the model's input).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<f32> {
        let w = self.encoding.width();
        let mut out = Vec::with_capacity((self.carry.len() + bytes.len()) / w);
        let mut rest = bytes;
        if !self.carry.is_empty() {
            let need = (w - self.carry.len()).min(rest.len());
            self.carry.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
            if self.carry.len() == w {
                out.push(self.sample(&self.carry.clone()));
                self.carry.clear();
            }
        }
        let whole = rest.len() / w * w;
        out.extend(rest[..whole].chunks_exact(w).map(|b| self.sample(b)));
        self.carry.extend_from_slice(&rest[whole..]);
        out
    }

    fn sample(&self, b: &[u8]) -> f32 {
        match self.encoding {
            Encoding::PcmS16le => i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0,
            Encoding::PcmF32le => {
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if v.is_finite() {
                    v.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_splits_lose_nothing() {
        let samples: Vec<i16> = (0..100).map(|i| (i * 300 - 15000) as i16).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut d = PcmDecoder::new(Encoding::PcmS16le);
        let mut out = Vec::new();
        for piece in bytes.chunks(7) {
            out.extend(d.push(piece));
        }
        assert_eq!(out.len(), 100);
        for (a, b) in out.iter().zip(&samples) {
            assert_eq!(*a, *b as f32 / 32768.0);
        }
    }

    #[test]
    fn f32_with_one_byte_frames_and_bad_values() {
        let vals = [0.5f32, -0.25, f32::NAN, 7.0];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut d = PcmDecoder::new(Encoding::PcmF32le);
        let out: Vec<f32> = bytes.chunks(1).flat_map(|b| d.push(b)).collect();
        assert_eq!(out, vec![0.5, -0.25, 0.0, 1.0]);
        assert_eq!(Encoding::parse("mp3"), None);
    }
}
