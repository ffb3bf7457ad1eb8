//! whisper.cpp's legacy ggml model file: writer (for conversion) and header reader (to check files).
//!
//! Layout, little-endian: magic, eleven i32 hyper-parameters, the mel filter bank, the vocabulary, then
//! tensors until the end of the file, each with its dims innermost first.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use half::f16;

use super::quantize::{quantize_q5_0, quantize_q8_0, BLOCK};

pub const MAGIC: u32 = 0x6767_6d6c;
/// whisper.cpp stores quantized files' ftype as `GGML_QNT_VERSION * 1000 + ftype`.
const QNT_VERSION_FACTOR: i32 = 1000;
const QNT_VERSION: i32 = 2;

/// The tensor element types this project writes, with ggml's type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32 = 0,
    F16 = 1,
    Q5_0 = 6,
    Q8_0 = 8,
}

/// Weight precision of a whole model file: what its large matrices are stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F16,
    Q8_0,
    Q5_0,
}

impl Precision {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "f16" => Precision::F16,
            "q8_0" => Precision::Q8_0,
            "q5_0" => Precision::Q5_0,
            other => bail!("unknown precision {other:?}: use f16, q8_0 or q5_0"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F16 => "f16",
            Precision::Q8_0 => "q8_0",
            Precision::Q5_0 => "q5_0",
        }
    }

    /// The `ftype` hyper-parameter whisper.cpp expects for this precision.
    pub fn ftype(self) -> i32 {
        match self {
            Precision::F16 => 1,
            Precision::Q8_0 => QNT_VERSION * QNT_VERSION_FACTOR + 7,
            Precision::Q5_0 => QNT_VERSION * QNT_VERSION_FACTOR + 8,
        }
    }

    /// The type for a 2-D weight matrix. Rows whose length is not a whole number of blocks stay f16.
    fn matrix_type(self, row_len: usize) -> TensorType {
        match self {
            Precision::F16 => TensorType::F16,
            _ if !row_len.is_multiple_of(BLOCK) => TensorType::F16,
            Precision::Q8_0 => TensorType::Q8_0,
            Precision::Q5_0 => TensorType::Q5_0,
        }
    }
}

/// The eleven hyper-parameters at the head of the file, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Hparams {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
    pub ftype: i32,
}

impl Hparams {
    fn to_array(self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    fn from_array(a: [i32; 11]) -> Self {
        Hparams {
            n_vocab: a[0],
            n_audio_ctx: a[1],
            n_audio_state: a[2],
            n_audio_head: a[3],
            n_audio_layer: a[4],
            n_text_ctx: a[5],
            n_text_state: a[6],
            n_text_head: a[7],
            n_text_layer: a[8],
            n_mels: a[9],
            ftype: a[10],
        }
    }

    /// A short description such as "tiny (4+4 layers, 384 wide, English-only)".
    pub fn describe(&self) -> String {
        let size = match self.n_audio_layer {
            4 => "tiny",
            6 => "base",
            12 => "small",
            24 => "medium",
            32 => "large",
            _ => "custom",
        };
        let lang = if self.n_vocab >= 51865 { "multilingual" } else { "English-only" };
        let precision = match self.ftype % QNT_VERSION_FACTOR {
            0 => "f32",
            1 => "f16",
            7 => "q8_0",
            8 => "q5_0",
            _ => "quantized",
        };
        format!("{size}, {lang}, {precision}")
    }
}

/// Streams a ggml file: header first, then one tensor at a time.
pub struct GgmlWriter<W: Write> {
    out: W,
    precision: Precision,
}

impl<W: Write> GgmlWriter<W> {
    /// Writes magic, hparams, filters (`n_mels × n_fft` row-major) and the vocabulary's regular tokens.
    pub fn new(mut out: W, hparams: Hparams, filters: &[f32], n_fft: usize, tokens: &[Vec<u8>], precision: Precision) -> Result<Self> {
        out.write_all(&MAGIC.to_le_bytes())?;
        for v in hparams.to_array() {
            out.write_all(&v.to_le_bytes())?;
        }
        out.write_all(&((filters.len() / n_fft) as i32).to_le_bytes())?;
        out.write_all(&(n_fft as i32).to_le_bytes())?;
        for f in filters {
            out.write_all(&f.to_le_bytes())?;
        }
        out.write_all(&(tokens.len() as i32).to_le_bytes())?;
        for t in tokens {
            out.write_all(&(t.len() as i32).to_le_bytes())?;
            out.write_all(t)?;
        }
        Ok(GgmlWriter { out, precision })
    }

    /// Writes one tensor. `shape` is outermost first (PyTorch order); the file stores it reversed.
    /// Vectors, positional embeddings and `force_f32` tensors stay f32; 3-D convolution kernels are f16;
    /// 2-D matrices take the file's precision.
    pub fn tensor(&mut self, name: &str, shape: &[usize], data: &[f32], force_f32: bool) -> Result<()> {
        let typ = if force_f32 || shape.len() < 2 {
            TensorType::F32
        } else if shape.len() == 2 {
            self.precision.matrix_type(shape[1])
        } else {
            TensorType::F16
        };
        self.out.write_all(&(shape.len() as i32).to_le_bytes())?;
        self.out.write_all(&(name.len() as i32).to_le_bytes())?;
        self.out.write_all(&(typ as i32).to_le_bytes())?;
        for d in shape.iter().rev() {
            self.out.write_all(&(*d as i32).to_le_bytes())?;
        }
        self.out.write_all(name.as_bytes())?;
        let bytes: Vec<u8> = match typ {
            TensorType::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            TensorType::F16 => data.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
            TensorType::Q8_0 => quantize_q8_0(data),
            TensorType::Q5_0 => quantize_q5_0(data),
        };
        self.out.write_all(&bytes)?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads and checks the hyper-parameters of a ggml file, without loading it.
pub fn read_hparams(path: &Path) -> Result<Hparams> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 48];
    f.read_exact(&mut head)
        .with_context(|| format!("{} is too short to be a whisper.cpp model", path.display()))?;
    let word = |i: usize| i32::from_le_bytes(head[i * 4..i * 4 + 4].try_into().unwrap());
    if word(0) as u32 != MAGIC {
        bail!("{} is not a whisper.cpp ggml model (bad magic {:#x}; GGUF and other files are not whisper models)", path.display(), word(0));
    }
    let hp = Hparams::from_array(std::array::from_fn(|i| word(i + 1)));
    let sane = hp.n_vocab > 0 && hp.n_audio_state > 0 && hp.n_audio_layer > 0 && hp.n_text_layer > 0 && (hp.n_mels == 80 || hp.n_mels == 128);
    if !sane {
        bail!("{} has implausible hyper-parameters {hp:?}", path.display());
    }
    Ok(hp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32_at(b: &[u8], off: usize) -> i32 {
        i32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    fn hp(ftype: i32) -> Hparams {
        Hparams::from_array([51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, ftype])
    }

    #[test]
    fn header_filters_and_vocab_layout() {
        let filters = vec![0.5f32; 2 * 3];
        let w = GgmlWriter::new(Vec::new(), hp(1), &filters, 3, &[b"ab".to_vec(), b" c".to_vec()], Precision::F16).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(i32_at(&b, 0) as u32, MAGIC);
        assert_eq!(i32_at(&b, 4), 51864);
        assert_eq!(i32_at(&b, 44), 1);
        assert_eq!((i32_at(&b, 48), i32_at(&b, 52)), (2, 3));
        let after_filters = 56 + 6 * 4;
        assert_eq!(f32::from_le_bytes(b[56..60].try_into().unwrap()), 0.5);
        assert_eq!(i32_at(&b, after_filters), 2);
        assert_eq!(i32_at(&b, after_filters + 4), 2);
        assert_eq!(&b[after_filters + 8..after_filters + 10], b"ab");
        assert_eq!(b.len(), after_filters + 4 + (4 + 2) * 2);
    }

    #[test]
    fn tensors_reverse_dims_and_pick_types() {
        let mut w = GgmlWriter::new(Vec::new(), hp(2007), &[], 1, &[], Precision::Q8_0).unwrap();
        let start = w.out.len();
        w.tensor("m", &[2, 64], &vec![1.0; 128], false).unwrap();
        let b = w.finish().unwrap();
        let t = &b[start..];
        assert_eq!((i32_at(t, 0), i32_at(t, 4), i32_at(t, 8)), (2, 1, TensorType::Q8_0 as i32));
        // Innermost dimension (the row length, 64) first.
        assert_eq!((i32_at(t, 12), i32_at(t, 16)), (64, 2));
        assert_eq!(&t[20..21], b"m");
        assert_eq!(t.len() - 21, 4 * 34);

        let mut w = GgmlWriter::new(Vec::new(), hp(1), &[], 1, &[], Precision::F16).unwrap();
        let s = w.out.len();
        w.tensor("v", &[5], &[1.0; 5], false).unwrap();
        let s2 = w.out.len();
        w.tensor("pe", &[3, 4], &[1.0; 12], true).unwrap();
        let s3 = w.out.len();
        w.tensor("conv", &[2, 3, 4], &[1.0; 24], false).unwrap();
        let s4 = w.out.len();
        w.tensor("odd", &[2, 20], &[1.0; 40], false).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(i32_at(&b, s + 8), TensorType::F32 as i32);
        assert_eq!(i32_at(&b, s2 + 8), TensorType::F32 as i32);
        assert_eq!(i32_at(&b, s3 + 8), TensorType::F16 as i32);
        assert_eq!((i32_at(&b, s3 + 12), i32_at(&b, s3 + 16), i32_at(&b, s3 + 20)), (4, 3, 2));
        assert_eq!(i32_at(&b, s4 + 8), TensorType::F16 as i32);
        assert_eq!(b.len() - s4, 12 + 8 + 3 + 40 * 2);
    }

    #[test]
    fn quantized_rows_of_odd_length_stay_f16() {
        assert_eq!(Precision::Q5_0.matrix_type(384), TensorType::Q5_0);
        assert_eq!(Precision::Q5_0.matrix_type(40), TensorType::F16);
        assert_eq!(Precision::Q8_0.ftype(), 2007);
        assert_eq!(Precision::Q5_0.ftype(), 2008);
    }

    #[test]
    fn read_hparams_rejects_non_ggml_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, b"GGUF and then some more bytes to pass the length check..........").unwrap();
        assert!(read_hparams(&p).unwrap_err().to_string().contains("bad magic"));
        let w = GgmlWriter::new(Vec::new(), hp(1), &[], 1, &[], Precision::F16).unwrap();
        std::fs::write(&p, w.finish().unwrap()).unwrap();
        assert_eq!(read_hparams(&p).unwrap(), hp(1));
    }
}
