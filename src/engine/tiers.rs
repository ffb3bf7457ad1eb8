//! Tiers: the names clients ask for, and the configuration each resolves to.
//!
//! Every transport resolves a client's request through [`Tiers::resolve`], so that replacing the
//! hand-written table with measured, tolerance-based selection changes this module only.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::SpeechConfig;

/// The table shipped with this build.
pub const TIERS_TOML: &str = include_str!("../../models/tiers.toml");

#[derive(Debug, Clone, Deserialize)]
struct TierEntry {
    name: String,
    description: String,
    model: String,
    beam: u32,
    threads: u32,
    #[serde(default)]
    fit_audio_ctx: bool,
    #[serde(default)]
    measured: Option<Measured>,
}

/// What a configuration measured on a reference machine: what a client is buying.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
pub struct Measured {
    /// Word error rate, 0–1.
    pub wer: f64,
    /// Final latency after end of speech, 95th percentile, one stream.
    pub latency_p95_ms: u64,
}

#[derive(Debug, Deserialize)]
struct TierFile {
    default: String,
    #[serde(rename = "tier")]
    tiers: Vec<TierEntry>,
}

/// A tier as clients see it (`GET /v1/tiers`, the WebSocket `ready` message).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    pub name: String,
    pub description: String,
    pub model: String,
    /// "greedy" or "beam".
    pub decoding: String,
    pub beam: u32,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
    #[serde(skip)]
    pub config: SpeechConfig,
}

/// What a client asked for. Only `tier` exists today; tolerance and latency bounds come with profiles.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TierRequest {
    pub tier: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TierError {
    #[error("unknown tier {0:?}; available tiers: {1}")]
    Unknown(String, String),
}

#[derive(Debug, Clone)]
pub struct Tiers {
    default: String,
    tiers: Vec<Tier>,
}

impl Tiers {
    pub fn builtin() -> Result<Self> {
        Self::parse(TIERS_TOML).context("the built-in models/tiers.toml is invalid")
    }

    pub fn parse(text: &str) -> Result<Self> {
        let file: TierFile = toml::from_str(text)?;
        let tiers: Vec<Tier> = file
            .tiers
            .into_iter()
            .map(|t| Tier {
                decoding: if t.beam > 1 { "beam".into() } else { "greedy".into() },
                config: SpeechConfig { model: t.model.clone(), beam: t.beam.max(1), threads: t.threads.max(1), fit_audio_ctx: t.fit_audio_ctx },
                measured: t.measured,
                name: t.name,
                description: t.description,
                model: t.model,
                beam: t.beam.max(1),
            })
            .collect();
        if !tiers.iter().any(|t| t.name == file.default) {
            bail!("the default tier {:?} is not defined", file.default);
        }
        Ok(Tiers { default: file.default, tiers })
    }

    pub fn all(&self) -> &[Tier] {
        &self.tiers
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// Every model variant some tier uses.
    pub fn models(&self) -> Vec<String> {
        let mut m: Vec<String> = self.tiers.iter().map(|t| t.model.clone()).collect();
        m.dedup();
        m
    }

    pub fn resolve(&self, req: &TierRequest) -> Result<&Tier, TierError> {
        let name = req.tier.as_deref().unwrap_or(&self.default);
        self.tiers.iter().find(|t| t.name == name).ok_or_else(|| {
            let names = self.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
            TierError::Unknown(name.to_string(), names)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tiers_resolve() {
        let t = Tiers::builtin().unwrap();
        assert_eq!(t.resolve(&TierRequest::default()).unwrap().name, "balanced");
        let fast = t.resolve(&TierRequest { tier: Some("fast".into()) }).unwrap();
        assert_eq!((fast.model.as_str(), fast.decoding.as_str()), ("tiny.en-q5_0", "greedy"));
        let acc = t.resolve(&TierRequest { tier: Some("accurate".into()) }).unwrap();
        assert_eq!((acc.model.as_str(), acc.beam), ("base-f16", 5));
        assert!(acc.measured.is_some_and(|m| m.wer > 0.0 && m.latency_p95_ms > 0));
        let err = t.resolve(&TierRequest { tier: Some("ludicrous".into()) }).unwrap_err();
        assert!(err.to_string().contains("fast, balanced, accurate"));
    }

    #[test]
    fn default_must_exist() {
        assert!(Tiers::parse("default = 'x'\ntier = []").is_err());
    }
}
