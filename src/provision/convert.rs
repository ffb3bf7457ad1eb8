//! CTranslate2 Whisper → whisper.cpp ggml conversion (optionally quantized on the way).
//!
//! The CTranslate2 spec fuses some projections that whisper.cpp keeps apart (self-attention Q|K|V,
//! cross-attention K|V) and names everything differently; `../shared/models.md` has the mapping this
//! module implements. Output is deterministic, so the catalogue can record each result's sha256.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;

use super::ct2::Ct2Model;
use super::ggml::{GgmlWriter, Hparams, Precision};
use super::mel::mel_filters;
use super::vocab::load_regular_tokens;

const WHISPER_SPEC: &str = "WhisperSpec";
const N_FFT: usize = 400;
const SAMPLE_RATE: u32 = 16000;

/// One tensor ready for the writer: whisper.cpp name, PyTorch-order shape, values.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
    force_f32: bool,
}

/// Rows `[from, to)` of a row-major matrix (or elements of a vector).
fn rows(shape: &[usize], data: &[f32], from: usize, to: usize) -> (Vec<usize>, Vec<f32>) {
    let row_len: usize = shape[1..].iter().product();
    let mut s = shape.to_vec();
    s[0] = to - from;
    (s, data[from * row_len..to * row_len].to_vec())
}


/// The sequence of (ct2 variable, ggml tensor) pairs plus fused splits, produced lazily so that only one
/// tensor's f32 copy is alive at a time.
enum Step {
    /// Copy one variable; `f32` forces f32 storage; `column` reshapes a vector to `[n, 1]`.
    Copy { from: String, to: String, f32: bool, column: bool },
    /// Split a fused projection in `parts` equal row blocks, writing the blocks named (None = drop).
    Split { from: String, parts: usize, to: Vec<Option<String>> },
}

fn count_layers(m: &Ct2Model, prefix: &str) -> usize {
    (0..).take_while(|i| m.variables.contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))).count()
}

fn layer_norm(steps: &mut Vec<Step>, from: &str, to: &str) {
    for (a, b) in [("gamma", "weight"), ("beta", "bias")] {
        steps.push(Step::Copy { from: format!("{from}/{a}"), to: format!("{to}.{b}"), f32: false, column: false });
    }
}

fn linear(steps: &mut Vec<Step>, from: &str, to: &str) {
    for p in ["weight", "bias"] {
        steps.push(Step::Copy { from: format!("{from}/{p}"), to: format!("{to}.{p}"), f32: false, column: false });
    }
}

/// Self-attention (fused Q|K|V; the key has no bias in whisper), then the feed-forward block.
fn transformer_block(steps: &mut Vec<Step>, from: &str, to: &str) {
    let sa = format!("{from}/self_attention");
    steps.push(Step::Split {
        from: format!("{sa}/linear_0/weight"),
        parts: 3,
        to: vec![Some(format!("{to}.attn.query.weight")), Some(format!("{to}.attn.key.weight")), Some(format!("{to}.attn.value.weight"))],
    });
    steps.push(Step::Split {
        from: format!("{sa}/linear_0/bias"),
        parts: 3,
        to: vec![Some(format!("{to}.attn.query.bias")), None, Some(format!("{to}.attn.value.bias"))],
    });
    linear(steps, &format!("{sa}/linear_1"), &format!("{to}.attn.out"));
    layer_norm(steps, &format!("{sa}/layer_norm"), &format!("{to}.attn_ln"));
}

fn feed_forward(steps: &mut Vec<Step>, from: &str, to: &str) {
    layer_norm(steps, &format!("{from}/ffn/layer_norm"), &format!("{to}.mlp_ln"));
    linear(steps, &format!("{from}/ffn/linear_0"), &format!("{to}.mlp.0"));
    linear(steps, &format!("{from}/ffn/linear_1"), &format!("{to}.mlp.2"));
}

fn cross_attention(steps: &mut Vec<Step>, from: &str, to: &str) {
    let ca = format!("{from}/attention");
    layer_norm(steps, &format!("{ca}/layer_norm"), &format!("{to}.cross_attn_ln"));
    linear(steps, &format!("{ca}/linear_0"), &format!("{to}.cross_attn.query"));
    steps.push(Step::Split {
        from: format!("{ca}/linear_1/weight"),
        parts: 2,
        to: vec![Some(format!("{to}.cross_attn.key.weight")), Some(format!("{to}.cross_attn.value.weight"))],
    });
    steps.push(Step::Split { from: format!("{ca}/linear_1/bias"), parts: 2, to: vec![None, Some(format!("{to}.cross_attn.value.bias"))] });
    linear(steps, &format!("{ca}/linear_2"), &format!("{to}.cross_attn.out"));
}

/// Every tensor whisper.cpp loads, in the order OpenAI's checkpoints list them.
fn plan(n_audio_layer: usize, n_text_layer: usize) -> Vec<Step> {
    let mut s = Vec::new();
    let copy = |from: &str, to: &str, f32: bool, column: bool| Step::Copy { from: from.into(), to: to.into(), f32, column };
    s.push(copy("encoder/position_encodings/encodings", "encoder.positional_embedding", true, false));
    for c in ["conv1", "conv2"] {
        s.push(copy(&format!("encoder/{c}/weight"), &format!("encoder.{c}.weight"), false, false));
        s.push(copy(&format!("encoder/{c}/bias"), &format!("encoder.{c}.bias"), true, true));
    }
    for i in 0..n_audio_layer {
        let (from, to) = (format!("encoder/layer_{i}"), format!("encoder.blocks.{i}"));
        transformer_block(&mut s, &from, &to);
        feed_forward(&mut s, &from, &to);
    }
    layer_norm(&mut s, "encoder/layer_norm", "encoder.ln_post");
    s.push(copy("decoder/position_encodings/encodings", "decoder.positional_embedding", true, false));
    s.push(copy("decoder/embeddings/weight", "decoder.token_embedding.weight", false, false));
    for i in 0..n_text_layer {
        let (from, to) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        transformer_block(&mut s, &from, &to);
        cross_attention(&mut s, &from, &to);
        feed_forward(&mut s, &from, &to);
    }
    layer_norm(&mut s, "decoder/layer_norm", "decoder.ln");
    s
}

impl Step {
    fn run(&self, m: &Ct2Model) -> Result<Vec<Tensor>> {
        match self {
            Step::Copy { from, to, f32, column } => {
                let (mut shape, data) = m.tensor_f32(from)?;
                if *column {
                    shape = vec![data.len(), 1];
                }
                Ok(vec![Tensor { name: to.clone(), shape, data, force_f32: *f32 }])
            }
            Step::Split { from, parts, to } => {
                let (shape, data) = m.tensor_f32(from)?;
                if shape[0] % parts != 0 {
                    bail!("{from} has {} rows, not divisible into {parts} fused projections", shape[0]);
                }
                let n = shape[0] / parts;
                Ok(to
                    .iter()
                    .enumerate()
                    .filter_map(|(k, name)| {
                        let name = name.as_ref()?;
                        let (shape, data) = rows(&shape, &data, k * n, (k + 1) * n);
                        Some(Tensor { name: name.clone(), shape, data, force_f32: false })
                    })
                    .collect())
            }
        }
    }
}

/// Derives whisper.cpp's hyper-parameters from the tensors themselves, so any Whisper size converts.
fn hparams(m: &Ct2Model, precision: Precision) -> Result<Hparams> {
    let dims = |name: &str| -> Result<Vec<usize>> { Ok(m.get(name)?.shape.clone()) };
    let enc_pe = dims("encoder/position_encodings/encodings")?;
    let dec_pe = dims("decoder/position_encodings/encodings")?;
    let emb = dims("decoder/embeddings/weight")?;
    let conv1 = dims("encoder/conv1/weight")?;
    let (n_audio_layer, n_text_layer) = (count_layers(m, "encoder"), count_layers(m, "decoder"));
    if n_audio_layer == 0 || n_text_layer == 0 {
        bail!("found no encoder or decoder layers: not a Whisper model");
    }
    // Whisper's heads are 64 wide; the spec records the count, older files may not.
    let heads = |name: &str, width: usize| m.scalar_i64(name).map(|h| h as i32).unwrap_or((width / 64) as i32);
    Ok(Hparams {
        n_vocab: emb[0] as i32,
        n_audio_ctx: enc_pe[0] as i32,
        n_audio_state: enc_pe[1] as i32,
        n_audio_head: heads("encoder/num_heads", enc_pe[1]),
        n_audio_layer: n_audio_layer as i32,
        n_text_ctx: dec_pe[0] as i32,
        n_text_state: dec_pe[1] as i32,
        n_text_head: heads("decoder/num_heads", dec_pe[1]),
        n_text_layer: n_text_layer as i32,
        n_mels: conv1[1] as i32,
        ftype: precision.ftype(),
    })
}

/// Converts the CTranslate2 Whisper directory `ct2_dir` (model.bin + vocabulary) to a ggml file written
/// to `out`, advancing `progress` once per tensor. Returns the hyper-parameters written.
pub fn convert_whisper(ct2_dir: &Path, precision: Precision, out: impl Write, progress: &ProgressBar) -> Result<Hparams> {
    let bin = ct2_dir.join("model.bin");
    let model = Ct2Model::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    model.expect_spec(WHISPER_SPEC).with_context(|| format!("{} is not a Whisper model", bin.display()))?;
    let tokens = load_regular_tokens(ct2_dir)?;
    let hp = hparams(&model, precision)?;
    let filters = mel_filters(SAMPLE_RATE, N_FFT, hp.n_mels as usize);
    let steps = plan(hp.n_audio_layer as usize, hp.n_text_layer as usize);
    progress.set_length(steps.len() as u64);
    let mut writer = GgmlWriter::new(out, hp, &filters, N_FFT / 2 + 1, &tokens, precision)?;
    for step in &steps {
        for t in step.run(&model)? {
            writer.tensor(&t.name, &t.shape, &t.data, t.force_f32).with_context(|| format!("writing tensor {}", t.name))?;
        }
        progress.inc(1);
    }
    writer.finish()?;
    Ok(hp)
}

#[cfg(test)]
mod tests {
    use super::super::ct2::{write_model_bin, DType};
    use super::*;

    /// A Whisper-shaped CTranslate2 model with one encoder and one decoder layer, width 64.
    fn tiny_ct2_dir() -> tempfile::TempDir {
        let d = 64usize;
        let f32s = |n: usize, v: f32| -> Vec<u8> { (0..n).flat_map(|i| (v + i as f32 * 1e-3).to_le_bytes()).collect() };
        let mut vars: Vec<(String, Vec<usize>, DType, Vec<u8>)> = vec![
            ("encoder/position_encodings/encodings".into(), vec![10, d], DType::F32, f32s(10 * d, 0.1)),
            ("decoder/position_encodings/encodings".into(), vec![8, d], DType::F32, f32s(8 * d, 0.2)),
            ("decoder/embeddings/weight".into(), vec![5, d], DType::F32, f32s(5 * d, 0.3)),
            ("encoder/conv1/weight".into(), vec![d, 80, 3], DType::F32, f32s(d * 80 * 3, 0.0)),
            ("encoder/conv1/bias".into(), vec![d], DType::F32, f32s(d, 0.0)),
            ("encoder/conv2/weight".into(), vec![d, d, 3], DType::F32, f32s(d * d * 3, 0.0)),
            ("encoder/conv2/bias".into(), vec![d], DType::F32, f32s(d, 0.0)),
            ("encoder/num_heads".into(), vec![], DType::I32, 1i32.to_le_bytes().to_vec()),
        ];
        let mut ln = |p: &str| {
            vars.push((format!("{p}/gamma"), vec![d], DType::F32, f32s(d, 1.0)));
            vars.push((format!("{p}/beta"), vec![d], DType::F32, f32s(d, 0.0)));
        };
        ln("encoder/layer_norm");
        ln("decoder/layer_norm");
        for p in ["encoder/layer_0", "decoder/layer_0"] {
            ln(&format!("{p}/self_attention/layer_norm"));
            ln(&format!("{p}/ffn/layer_norm"));
        }
        ln("decoder/layer_0/attention/layer_norm");
        let mut lin = |p: &str, rows: usize, cols: usize| {
            // Row r of the weight holds value r, so splits can be checked by value.
            let w: Vec<u8> = (0..rows * cols).flat_map(|i| ((i / cols) as f32).to_le_bytes()).collect();
            vars.push((format!("{p}/weight"), vec![rows, cols], DType::F32, w));
            vars.push((format!("{p}/bias"), vec![rows], DType::F32, f32s(rows, 0.0)));
        };
        for p in ["encoder/layer_0", "decoder/layer_0"] {
            lin(&format!("{p}/self_attention/linear_0"), 3 * d, d);
            lin(&format!("{p}/self_attention/linear_1"), d, d);
            lin(&format!("{p}/ffn/linear_0"), 4 * d, d);
            lin(&format!("{p}/ffn/linear_1"), d, 4 * d);
        }
        lin("decoder/layer_0/attention/linear_0", d, d);
        lin("decoder/layer_0/attention/linear_1", 2 * d, d);
        lin("decoder/layer_0/attention/linear_2", d, d);
        let refs: Vec<(&str, Vec<usize>, DType, Vec<u8>)> = vars.iter().map(|(n, s, t, b)| (n.as_str(), s.clone(), *t, b.clone())).collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.bin"), write_model_bin("WhisperSpec", 3, &refs)).unwrap();
        std::fs::write(dir.path().join("vocabulary.txt"), "a\nĠb\nc\n<|endoftext|>\n<|startoftranscript|>").unwrap();
        dir
    }

    /// Walks the tensors of a ggml file: (name, type, dims innermost first, first value as f32 if f32).
    fn tensors(b: &[u8], mut pos: usize) -> Vec<(String, i32, Vec<i32>, usize)> {
        let i = |p: usize| i32::from_le_bytes(b[p..p + 4].try_into().unwrap());
        let mut out = Vec::new();
        while pos < b.len() {
            let (nd, nl, t) = (i(pos) as usize, i(pos + 4) as usize, i(pos + 8));
            let dims: Vec<i32> = (0..nd).map(|k| i(pos + 12 + 4 * k)).collect();
            let name_at = pos + 12 + 4 * nd;
            let name = String::from_utf8(b[name_at..name_at + nl].to_vec()).unwrap();
            let n: usize = dims.iter().map(|d| *d as usize).product();
            let size = match t {
                0 => n * 4,
                1 => n * 2,
                8 => n / 32 * 34,
                6 => n / 32 * 22,
                _ => panic!("type {t}"),
            };
            let data_at = name_at + nl;
            out.push((name, t, dims, data_at));
            pos = data_at + size;
        }
        out
    }

    #[test]
    fn converts_a_synthetic_whisper_model() {
        let dir = tiny_ct2_dir();
        let mut bytes = Vec::new();
        let hp = convert_whisper(dir.path(), Precision::F16, &mut bytes, &ProgressBar::hidden()).unwrap();
        assert_eq!((hp.n_vocab, hp.n_audio_ctx, hp.n_audio_state, hp.n_audio_head, hp.n_audio_layer), (5, 10, 64, 1, 1));
        // decoder/num_heads is absent: falls back to width / 64.
        assert_eq!((hp.n_text_ctx, hp.n_text_state, hp.n_text_head, hp.n_text_layer, hp.n_mels, hp.ftype), (8, 64, 1, 1, 80, 1));
        // Header (48) + filters (8 + 80*201*4) + vocab (4 + 3 tokens).
        let tensors_at = 48 + 8 + 80 * 201 * 4 + 4 + (4 + 1) + (4 + 2) + (4 + 1);
        assert_eq!(&bytes[tensors_at - 1..tensors_at], b"c");
        let ts = tensors(&bytes, tensors_at);
        let names: Vec<&str> = ts.iter().map(|t| t.0.as_str()).collect();
        // 5 input tensors, 15 per encoder layer, 2 + 2 output, 24 per decoder layer: what whisper.cpp counts.
        assert_eq!(ts.len(), 5 + 15 + 2 + 2 + 24 + 2);
        assert_eq!(names[0], "encoder.positional_embedding");
        assert!(!names.iter().any(|n| n.ends_with("key.bias")));
        let find = |n: &str| ts.iter().find(|t| t.0 == n).unwrap_or_else(|| panic!("missing {n}"));
        assert_eq!(find("encoder.positional_embedding").1, 0);
        assert_eq!(find("encoder.conv1.weight").1, 1);
        assert_eq!(find("encoder.conv1.weight").2, vec![3, 80, 64]);
        assert_eq!(find("encoder.conv1.bias").2, vec![1, 64]);
        assert_eq!(find("encoder.conv1.bias").1, 0);
        assert_eq!(find("decoder.blocks.0.cross_attn.key.weight").2, vec![64, 64]);
        // The value projection is the third block of the fused Q|K|V: its first row holds 128.
        let v = find("encoder.blocks.0.attn.value.weight");
        assert_eq!(half::f16::from_le_bytes([bytes[v.3], bytes[v.3 + 1]]).to_f32(), 128.0);
        let k = find("decoder.blocks.0.cross_attn.value.weight");
        assert_eq!(half::f16::from_le_bytes([bytes[k.3], bytes[k.3 + 1]]).to_f32(), 64.0);
    }

    #[test]
    fn quantized_conversion_quantizes_only_matrices() {
        let dir = tiny_ct2_dir();
        let mut bytes = Vec::new();
        let hp = convert_whisper(dir.path(), Precision::Q8_0, &mut bytes, &ProgressBar::hidden()).unwrap();
        assert_eq!(hp.ftype, 2007);
        let tensors_at = 48 + 8 + 80 * 201 * 4 + 4 + 5 + 6 + 5;
        let ts = tensors(&bytes, tensors_at);
        let typ = |n: &str| ts.iter().find(|t| t.0 == n).unwrap().1;
        assert_eq!(typ("encoder.blocks.0.mlp.0.weight"), 8);
        assert_eq!(typ("decoder.token_embedding.weight"), 8);
        assert_eq!(typ("encoder.conv2.weight"), 1);
        assert_eq!(typ("decoder.positional_embedding"), 0);
        assert_eq!(typ("encoder.blocks.0.mlp.0.bias"), 0);
    }

    #[test]
    fn rejects_other_specs_and_missing_vocabulary() {
        let dir = tiny_ct2_dir();
        std::fs::remove_file(dir.path().join("vocabulary.txt")).unwrap();
        let err = convert_whisper(dir.path(), Precision::F16, Vec::new(), &ProgressBar::hidden()).unwrap_err();
        assert!(format!("{err:#}").contains("vocabulary"), "{err:#}");
        std::fs::write(dir.path().join("model.bin"), write_model_bin("TransformerSpec", 1, &[])).unwrap();
        let err = convert_whisper(dir.path(), Precision::F16, Vec::new(), &ProgressBar::hidden()).unwrap_err();
        assert!(format!("{err:#}").contains("not a Whisper model"), "{err:#}");
    }
}
