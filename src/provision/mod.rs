//! Model provisioning: the bottom layer. Fetches packages from registries, checks them, converts and
//! quantizes weights, and keeps the model directory. Nothing here knows about serving.

pub mod convert;
pub mod ct2;
pub mod ggml;
pub mod mel;
pub mod quantize;
pub mod vocab;
pub mod catalog;
pub mod fetch;
pub mod progress;
pub mod store;
