//! ggml's q8_0 and q5_0 block quantization, ported from ggml's reference quantizers (`quantize_row_*_ref`).
//!
//! Both formats cut a row into blocks of 32 values that share one f16 scale. whisper.cpp reads the
//! blocks as they are, so the layout here must match ggml's structs byte for byte.

use half::f16;

/// Values per block for both formats.
pub const BLOCK: usize = 32;
/// Bytes per q8_0 block: f16 scale + 32 × i8.
pub const Q8_0_BLOCK_BYTES: usize = 2 + BLOCK;
/// Bytes per q5_0 block: f16 scale + u32 of fifth bits + 16 bytes of nibbles.
pub const Q5_0_BLOCK_BYTES: usize = 2 + 4 + BLOCK / 2;

/// Quantizes `x` (length a multiple of 32) to q8_0 blocks: d = max|x| / 127, q = round(x / d).
pub fn quantize_q8_0(x: &[f32]) -> Vec<u8> {
    assert_eq!(x.len() % BLOCK, 0, "q8_0 needs whole blocks of {BLOCK}");
    let mut out = Vec::with_capacity(x.len() / BLOCK * Q8_0_BLOCK_BYTES);
    for block in x.chunks_exact(BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * id).round() as i8 as u8));
    }
    out
}

/// Quantizes `x` (length a multiple of 32) to q5_0 blocks: d = (value of largest magnitude) / −16,
/// q = min(31, trunc(x / d + 16.5)), low nibbles packed in pairs (j, j+16), fifth bits in `qh`.
pub fn quantize_q5_0(x: &[f32]) -> Vec<u8> {
    assert_eq!(x.len() % BLOCK, 0, "q5_0 needs whole blocks of {BLOCK}");
    let mut out = Vec::with_capacity(x.len() / BLOCK * Q5_0_BLOCK_BYTES);
    for block in x.chunks_exact(BLOCK) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in block {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qh: u32 = 0;
        let mut qs = [0u8; BLOCK / 2];
        for j in 0..BLOCK / 2 {
            // `as i8` then min(31) mirrors ggml's `MIN(31, (int8_t)(x + 16.5f))`.
            let q0 = ((block[j] * id + 16.5) as i8).min(31) as u8;
            let q1 = ((block[j + BLOCK / 2] * id + 16.5) as i8).min(31) as u8;
            qs[j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
            qh |= (((q0 & 0x10) >> 4) as u32) << j;
            qh |= (((q1 & 0x10) >> 4) as u32) << (j + BLOCK / 2);
        }
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        out.extend_from_slice(&qh.to_le_bytes());
        out.extend_from_slice(&qs);
    }
    out
}

/// Inverse of [`quantize_q8_0`].
pub fn dequantize_q8_0(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(Q8_0_BLOCK_BYTES)
        .flat_map(|b| {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            b[2..].iter().map(move |&q| q as i8 as f32 * d)
        })
        .collect()
}

/// Inverse of [`quantize_q5_0`].
pub fn dequantize_q5_0(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / Q5_0_BLOCK_BYTES * BLOCK);
    for b in bytes.chunks_exact(Q5_0_BLOCK_BYTES) {
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let qs = &b[6..];
        let mut block = [0f32; BLOCK];
        for j in 0..BLOCK / 2 {
            let hi0 = ((qh >> j) & 1) << 4;
            let hi1 = ((qh >> (j + BLOCK / 2)) & 1) << 4;
            let q0 = ((qs[j] & 0x0f) as u32 | hi0) as i32 - 16;
            let q1 = ((qs[j] >> 4) as u32 | hi1) as i32 - 16;
            block[j] = q0 as f32 * d;
            block[j + BLOCK / 2] = q1 as f32 * d;
        }
        out.extend_from_slice(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0) * 0.2).collect()
    }

    fn max_abs_per_block(x: &[f32]) -> Vec<f32> {
        x.chunks(BLOCK).map(|b| b.iter().fold(0f32, |m, v| m.max(v.abs()))).collect()
    }

    #[test]
    fn q8_0_error_is_within_half_a_step() {
        let x = random(32 * 64, 1);
        let q = quantize_q8_0(&x);
        assert_eq!(q.len(), 64 * Q8_0_BLOCK_BYTES);
        let y = dequantize_q8_0(&q);
        for (bi, amax) in max_abs_per_block(&x).into_iter().enumerate() {
            // Half a quantization step, plus slack for the f16 rounding of the scale.
            let bound = amax / 127.0 * 0.5 + amax * 1e-3;
            for j in 0..BLOCK {
                let i = bi * BLOCK + j;
                assert!((x[i] - y[i]).abs() <= bound, "block {bi}: {} vs {}", x[i], y[i]);
            }
        }
    }

    #[test]
    fn q5_0_error_is_within_one_step() {
        let x = random(32 * 64, 2);
        let y = dequantize_q5_0(&quantize_q5_0(&x));
        for (bi, amax) in max_abs_per_block(&x).into_iter().enumerate() {
            let bound = amax / 16.0 + amax * 1e-3;
            for j in 0..BLOCK {
                let i = bi * BLOCK + j;
                assert!((x[i] - y[i]).abs() <= bound, "block {bi}: {} vs {}", x[i], y[i]);
            }
        }
    }

    #[test]
    fn q8_0_block_layout_is_exact() {
        // Values 0..31 scaled: max 31 → d = 31/127, q_j = round(j * 127/31).
        let x: Vec<f32> = (0..32).map(|j| j as f32).collect();
        let q = quantize_q8_0(&x);
        assert_eq!(q.len(), 34);
        assert_eq!(f16::from_le_bytes([q[0], q[1]]), f16::from_f32(31.0 / 127.0));
        assert_eq!(q[2], 0);
        assert_eq!(q[2 + 31] as i8, 127);
        assert_eq!(q[2 + 1] as i8, (127.0f32 / 31.0).round() as i8);
    }

    #[test]
    fn q5_0_block_layout_is_exact() {
        // The largest magnitude is -16 → d = 1, q = x + 16 (0..31), all integers.
        let x: Vec<f32> = (0..32).map(|j| j as f32 - 16.0).collect();
        let q = quantize_q5_0(&x);
        assert_eq!(q.len(), 22);
        assert_eq!(f16::from_le_bytes([q[0], q[1]]).to_f32(), 1.0);
        // Values 16..31 (second half) have the fifth bit set; the first half has none.
        assert_eq!(u32::from_le_bytes([q[2], q[3], q[4], q[5]]), 0xffff_0000);
        // Byte j holds value j in the low nibble and value j+16 in the high nibble.
        for j in 0..16 {
            assert_eq!(q[6 + j], (j as u8) | ((j as u8) << 4));
        }
        assert_eq!(dequantize_q5_0(&q), x);
    }

    #[test]
    fn zero_blocks_stay_zero() {
        let x = vec![0f32; 64];
        assert!(dequantize_q8_0(&quantize_q8_0(&x)).iter().all(|v| *v == 0.0));
        assert!(dequantize_q5_0(&quantize_q5_0(&x)).iter().all(|v| *v == 0.0));
    }
}
