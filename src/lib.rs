//! tierd: speech recognition and image classification served at measured accuracy/latency tiers.
//!
//! Layers, top to bottom: transports (`cli`, later HTTP/WebSocket) → `engine` (configurations and the
//! models they run) → `backend` (whisper.cpp) and `audio` → `provision` (model files). Nothing calls up.

pub mod audio;
pub mod backend;
pub mod client;
pub mod engine;
pub mod provision;
pub mod server;
pub mod transcript;
pub mod wer;
