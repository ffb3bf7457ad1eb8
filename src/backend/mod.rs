//! Inference backends: the bottom layer that runs models. Whisper through whisper-rs (whisper.cpp).

pub mod whisper;
pub mod onnx;
pub mod vad;
