//! Reader for CTranslate2 `model.bin` files (binary version 6).
//!
//! faster-whisper and CTranslate2 ship Whisper weights in this format; the model pipeline reads it to
//! convert the weights to whisper.cpp's ggml format. Only what conversion needs is exposed: named
//! tensors as f32 (whatever the stored type) and integer scalars such as `encoder/num_heads`.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};

/// The only binary version we know the layout of.
pub const BINARY_VERSION: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("not a CTranslate2 model.bin of binary version {BINARY_VERSION} (found version {0})")]
    UnsupportedVersion(u32),
    #[error("the model spec is {found:?}, expected {expected:?}")]
    WrongSpec { found: String, expected: String },
    #[error("the file ends early while reading {what} (offset {offset})")]
    Truncated { what: String, offset: usize },
    #[error("variable {name:?} has data type code {code}, which this reader does not know")]
    UnknownDtype { name: String, code: u8 },
    #[error("variable {name:?} holds {found} bytes, its shape and type need {expected}")]
    BadSize { name: String, found: usize, expected: usize },
    #[error("the model has no variable {0:?}")]
    Missing(String),
    #[error("variable {name:?} is {dtype:?}; quantized int8 weights need a {name}_scale variable")]
    MissingScale { name: String, dtype: DType },
}

/// Element types of CTranslate2 variables, with their on-disk codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 => 3,
            DType::F16 => 4,
            DType::BF16 => 5,
        }
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One stored variable: shape (outermost first, as PyTorch writes it), type and raw bytes.
#[derive(Debug, Clone)]
pub struct Variable {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: Vec<u8>,
}

impl Variable {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values widened to f32 (integers as their numeric value, without any scale).
    pub fn to_f32(&self) -> Vec<f32> {
        let d = &self.data;
        match self.dtype {
            DType::F32 => d.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
            DType::F16 => d.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::BF16 => d.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::I8 => d.iter().map(|&b| b as i8 as f32).collect(),
            DType::I16 => d.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32).collect(),
            DType::I32 => d.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as f32).collect(),
        }
    }
}

/// A parsed model.bin: spec name, revision and every variable by name.
#[derive(Debug)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub variables: BTreeMap<String, Variable>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Ct2Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| Ct2Error::Truncated { what: what.to_string(), offset: self.pos })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn u8(&mut self, what: &str) -> Result<u8, Ct2Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, Ct2Error> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Ct2Error> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    /// A u16 length, then that many bytes; a trailing NUL is not part of the string.
    fn string(&mut self, what: &str) -> Result<String, Ct2Error> {
        let n = self.u16(what)? as usize;
        let raw = self.take(n, what)?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        Ok(String::from_utf8_lossy(raw).into_owned())
    }
}

impl Ct2Model {
    /// Reads and parses a model.bin file.
    pub fn read(path: &Path) -> Result<Self, Ct2Error> {
        let bytes = std::fs::read(path)
            .map_err(|source| Ct2Error::Io { path: path.display().to_string(), source })?;
        Self::parse(&bytes)
    }

    /// Parses the bytes of a model.bin. The aliases section that may follow the variables is ignored:
    /// Whisper conversion needs no alias.
    pub fn parse(bytes: &[u8]) -> Result<Self, Ct2Error> {
        let mut c = Cursor { bytes, pos: 0 };
        let version = c.u32("binary version")?;
        if version != BINARY_VERSION {
            return Err(Ct2Error::UnsupportedVersion(version));
        }
        let spec = c.string("spec name")?;
        let revision = c.u32("spec revision")?;
        let count = c.u32("variable count")?;
        let mut variables = BTreeMap::new();
        for _ in 0..count {
            let name = c.string("variable name")?;
            let rank = c.u8(&name)? as usize;
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(c.u32(&name)? as usize);
            }
            let code = c.u8(&name)?;
            let dtype = DType::from_code(code).ok_or_else(|| Ct2Error::UnknownDtype { name: name.clone(), code })?;
            let n_bytes = c.u32(&name)? as usize;
            let expected = shape.iter().product::<usize>() * dtype.size();
            if n_bytes != expected {
                return Err(Ct2Error::BadSize { name, found: n_bytes, expected });
            }
            let data = c.take(n_bytes, &name)?.to_vec();
            variables.insert(name, Variable { shape, dtype, data });
        }
        Ok(Ct2Model { spec, revision, variables })
    }

    pub fn expect_spec(&self, expected: &str) -> Result<(), Ct2Error> {
        if self.spec != expected {
            return Err(Ct2Error::WrongSpec { found: self.spec.clone(), expected: expected.to_string() });
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&Variable, Ct2Error> {
        self.variables.get(name).ok_or_else(|| Ct2Error::Missing(name.to_string()))
    }

    /// A tensor as f32 values with its shape. Int8/int16 weights are dequantized with their per-row
    /// `<name>_scale` (CTranslate2 stores `round(w * scale)`).
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), Ct2Error> {
        let var = self.get(name)?;
        let mut values = var.to_f32();
        if matches!(var.dtype, DType::I8 | DType::I16) {
            let scale_name = format!("{name}_scale");
            let scale = self
                .variables
                .get(&scale_name)
                .ok_or_else(|| Ct2Error::MissingScale { name: name.to_string(), dtype: var.dtype })?
                .to_f32();
            let rows = scale.len().max(1);
            let row_len = values.len() / rows;
            for (row, chunk) in values.chunks_mut(row_len).enumerate() {
                let s = scale[row.min(scale.len() - 1)];
                chunk.iter_mut().for_each(|v| *v /= s);
            }
        }
        Ok((var.shape.clone(), values))
    }

    /// An integer scalar such as `encoder/num_heads`.
    pub fn scalar_i64(&self, name: &str) -> Result<i64, Ct2Error> {
        let var = self.get(name)?;
        Ok(var.to_f32().first().copied().ok_or_else(|| Ct2Error::Missing(name.to_string()))? as i64)
    }
}

/// Writes a model.bin; used by tests to make small synthetic models, and kept beside the reader so the
/// two describe one format.
pub fn write_model_bin(spec: &str, revision: u32, vars: &[(&str, Vec<usize>, DType, Vec<u8>)]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&BINARY_VERSION.to_le_bytes());
    string(&mut out, spec);
    out.extend_from_slice(&revision.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    for (name, shape, dtype, data) in vars {
        string(&mut out, name);
        out.push(shape.len() as u8);
        for d in shape {
            out.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        out.push(dtype.code());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| f16::from_f32(*x).to_le_bytes()).collect()
    }

    #[test]
    fn parses_variables_and_widens_types() {
        let bytes = write_model_bin(
            "WhisperSpec",
            3,
            &[
                ("a/weight", vec![2, 3], DType::F16, f16_bytes(&[1.0, -2.0, 0.5, 3.0, 4.0, -0.25])),
                ("encoder/num_heads", vec![], DType::I32, 6i32.to_le_bytes().to_vec()),
                ("q/weight", vec![2, 2], DType::I8, vec![127, 0x81 /* -127 */, 10, 20]),
                ("q/weight_scale", vec![2], DType::F32, [127f32, 10.0].iter().flat_map(|f| f.to_le_bytes()).collect()),
            ],
        );
        let m = Ct2Model::parse(&bytes).unwrap();
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.revision, 3);
        m.expect_spec("WhisperSpec").unwrap();
        assert!(matches!(m.expect_spec("TransformerSpec"), Err(Ct2Error::WrongSpec { .. })));
        let (shape, v) = m.tensor_f32("a/weight").unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(v, vec![1.0, -2.0, 0.5, 3.0, 4.0, -0.25]);
        assert_eq!(m.scalar_i64("encoder/num_heads").unwrap(), 6);
        let (_, q) = m.tensor_f32("q/weight").unwrap();
        assert_eq!(q, vec![1.0, -1.0, 1.0, 2.0]);
        assert!(matches!(m.get("nope"), Err(Ct2Error::Missing(_))));
    }

    #[test]
    fn rejects_other_versions_and_truncation() {
        let mut bytes = write_model_bin("WhisperSpec", 1, &[("x", vec![4], DType::F32, vec![0; 16])]);
        let short = &bytes[..bytes.len() - 3];
        assert!(matches!(Ct2Model::parse(short), Err(Ct2Error::Truncated { .. })));
        bytes[0] = 5;
        assert!(matches!(Ct2Model::parse(&bytes), Err(Ct2Error::UnsupportedVersion(5))));
        assert!(matches!(Ct2Model::parse(b"\x06\x00"), Err(Ct2Error::Truncated { .. })));
    }

    #[test]
    fn rejects_size_that_does_not_match_shape() {
        let bytes = write_model_bin("WhisperSpec", 1, &[("x", vec![4], DType::F32, vec![0; 12])]);
        assert!(matches!(Ct2Model::parse(&bytes), Err(Ct2Error::BadSize { .. })));
    }
}
