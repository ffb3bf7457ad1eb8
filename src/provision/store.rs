//! The model directory: which models exist, which are installed and intact, and how to get the rest.
//!
//! Layout: `sources/<id>/` holds files taken out of registry packages (a CTranslate2 directory for the
//! Whisper sources, usable by faster-whisper as it is), `ggml-<name>.bin` the built models, each with a
//! `.verified` stamp so an unchanged file is not hashed again, and `user-models.toml` what `models add`
//! registered.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, CatalogModel, Recipe, Source, UserModel, UserModels};
use super::convert::convert_whisper;
use super::fetch::{download_wheel, extract_member, member_size, sha256_file, AtomicFile};
use super::ggml::{read_hparams, Precision};
use super::progress::Progress;

/// Where models live unless `--models-dir` / `TIERD_MODELS_DIR` says otherwise.
pub fn default_models_dir() -> PathBuf {
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("tierd").join("models")
}

/// How a file on disk compares with the sha256 recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    Missing,
    Ok,
    /// Installed, but the catalogue has no sha256 for it yet.
    Unrecorded(String),
    Mismatch { expected: String, actual: String },
}

#[derive(Debug, Clone)]
pub struct ModelStatus {
    pub name: String,
    pub path: PathBuf,
    pub size: Option<u64>,
    pub integrity: Integrity,
    pub precision: Option<Precision>,
    /// "pypi:pkg==ver" for catalogue models, the `add` origin for user models.
    pub origin: String,
}

/// What `pull` did for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    AlreadyInstalled,
    Built { sha256: String, recorded: bool },
}

/// Size and modification time of a file when its sha256 was last checked.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Stamp {
    sha256: String,
    size: u64,
    modified_ns: u128,
}

fn stamp_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

fn current_stamp(file: &Path, sha256: &str) -> Result<Stamp> {
    let meta = std::fs::metadata(file)?;
    let modified_ns = meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Ok(Stamp { sha256: sha256.to_string(), size: meta.len(), modified_ns })
}

fn write_stamp(file: &Path, sha256: &str) -> Result<()> {
    let stamp = current_stamp(file, sha256)?;
    std::fs::write(stamp_path(file), serde_json::to_string(&stamp)?).with_context(|| format!("writing stamp for {}", file.display()))
}

/// The sha256 of `file`: from its stamp when size and mtime are unchanged (unless `deep`), else hashed.
fn file_sha256(file: &Path, deep: bool, progress: &Progress) -> Result<String> {
    if !deep {
        if let Ok(text) = std::fs::read_to_string(stamp_path(file)) {
            if let Ok(stamp) = serde_json::from_str::<Stamp>(&text) {
                if current_stamp(file, &stamp.sha256).ok().as_ref() == Some(&stamp) {
                    return Ok(stamp.sha256);
                }
            }
        }
    }
    let size = std::fs::metadata(file)?.len();
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let bar = progress.bytes(size, format!("checking {name}"));
    let sha = sha256_file(file, &bar)?;
    bar.finish_and_clear();
    write_stamp(file, &sha)?;
    Ok(sha)
}

fn integrity(file: &Path, expected: &str, deep: bool, progress: &Progress) -> Result<Integrity> {
    if !file.exists() {
        return Ok(Integrity::Missing);
    }
    let actual = file_sha256(file, deep, progress)?;
    Ok(if expected.is_empty() {
        Integrity::Unrecorded(actual)
    } else if actual == expected {
        Integrity::Ok
    } else {
        Integrity::Mismatch { expected: expected.to_string(), actual }
    })
}

/// A model name usable as a file name: letters, digits, `.`, `_`, `-`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok || name.starts_with('.') {
        bail!("invalid model name {name:?}: use letters, digits, '.', '_' and '-' (at most 64)");
    }
    Ok(())
}

pub struct ModelStore {
    dir: PathBuf,
    catalog: Catalog,
}

impl ModelStore {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(ModelStore { dir: dir.into(), catalog: Catalog::builtin()? })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn user_models_path(&self) -> PathBuf {
        self.dir.join("user-models.toml")
    }

    pub fn user_models(&self) -> Result<UserModels> {
        UserModels::load(&self.user_models_path())
    }

    /// Every model name: the catalogue's, then the user's.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self.catalog.models.iter().map(|m| m.name.clone()).collect();
        names.extend(self.user_models()?.models.into_iter().map(|m| m.name));
        Ok(names)
    }

    fn unknown(&self, name: &str) -> anyhow::Error {
        let names = self.names().unwrap_or_default().join(", ");
        anyhow::anyhow!("unknown model {name:?}; known models: {names} (or register one with `tierd models add`)")
    }

    /// The CTranslate2 directory a catalogue source is extracted to.
    pub fn source_dir(&self, source_id: &str) -> PathBuf {
        self.dir.join("sources").join(source_id)
    }

    /// Path of a model's ggml file, installed or not.
    pub fn model_path(&self, name: &str) -> Result<PathBuf> {
        if let Some(m) = self.catalog.model(name) {
            return Ok(match (&m.recipe, &m.file) {
                (Recipe::Extract, Some(file)) => self.source_dir(&m.source).join(file),
                _ => self.dir.join(format!("ggml-{name}.bin")),
            });
        }
        let user = self.user_models()?;
        let m = user.models.iter().find(|m| m.name == name).ok_or_else(|| self.unknown(name))?;
        Ok(self.dir.join(&m.file))
    }

    /// Status of one model; `deep` re-hashes even when the stamp says the file is unchanged.
    pub fn status(&self, name: &str, deep: bool, progress: &Progress) -> Result<ModelStatus> {
        let path = self.model_path(name)?;
        let (expected, precision, origin) = match self.catalog.model(name) {
            Some(m) => {
                let src = self.catalog.source(&m.source).expect("validated at parse");
                let origin = src.wheels.iter().map(|w| format!("pypi:{}", w.requirement())).collect::<Vec<_>>().join(" + ");
                let expected = match &m.file {
                    Some(f) => src.files.iter().find(|sf| &sf.name == f).map(|sf| sf.sha256.clone()).unwrap_or_default(),
                    None => m.sha256.clone(),
                };
                (expected, m.precision, origin)
            }
            None => {
                let user = self.user_models()?;
                let m = user.models.into_iter().find(|m| m.name == name).ok_or_else(|| self.unknown(name))?;
                (m.sha256, None, m.origin)
            }
        };
        let integrity = integrity(&path, &expected, deep, progress)?;
        let size = std::fs::metadata(&path).ok().map(|m| m.len());
        Ok(ModelStatus { name: name.to_string(), path, size, integrity, precision, origin })
    }

    /// A path to an installed, intact model, for loading. Does not fetch.
    pub fn installed_path(&self, name: &str) -> Result<PathBuf> {
        let st = self.status(name, false, &Progress::hidden())?;
        match st.integrity {
            Integrity::Ok | Integrity::Unrecorded(_) => Ok(st.path),
            Integrity::Missing => bail!("model {name} is not installed: run `tierd models pull {name}`"),
            Integrity::Mismatch { expected, actual } => {
                bail!("model {name} is damaged (sha256 {actual}, expected {expected}): run `tierd models pull {name}` to rebuild it")
            }
        }
    }

    /// Holds an exclusive lock on the model directory while pulling, so that parallel pulls (threads or
    /// processes) do the work once.
    fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let f = File::create(self.dir.join(".lock")).with_context(|| format!("creating lock in {}", self.dir.display()))?;
        f.lock().context("locking the model directory")?;
        Ok(f)
    }

    /// Fetches, converts and verifies one catalogue model; no work when it is already installed intact.
    pub fn pull(&self, name: &str, progress: &Progress) -> Result<Pulled> {
        let model = match self.catalog.model(name) {
            Some(m) => m.clone(),
            None if self.user_models()?.models.iter().any(|m| m.name == name) => {
                self.installed_path(name)?;
                return Ok(Pulled::AlreadyInstalled);
            }
            None => return Err(self.unknown(name)),
        };
        let _lock = self.lock()?;
        let source = self.catalog.source(&model.source).expect("validated at parse").clone();
        if let (Recipe::Extract, Some(file)) = (model.recipe, &model.file) {
            let sha256 = source.files.iter().find(|f| &f.name == file).map(|f| f.sha256.clone()).unwrap_or_default();
            let before = integrity(&self.model_path(name)?, &sha256, false, progress)?;
            self.ensure_source(&source, progress)?;
            return Ok(if before == Integrity::Ok { Pulled::AlreadyInstalled } else { Pulled::Built { sha256, recorded: true } });
        }
        let target = self.model_path(name)?;
        match integrity(&target, &model.sha256, false, progress)? {
            Integrity::Ok | Integrity::Unrecorded(_) => return Ok(Pulled::AlreadyInstalled),
            Integrity::Mismatch { actual, .. } => tracing::warn!(model = name, %actual, "installed file does not match the catalogue; rebuilding"),
            Integrity::Missing => {}
        }
        let ct2_dir = self.ensure_source(&source, progress)?;
        let sha256 = self.build(&model, &ct2_dir, &target, progress)?;
        let recorded = !model.sha256.is_empty();
        if !recorded {
            tracing::warn!(model = name, %sha256, "no sha256 recorded in models/catalog.toml; record this one");
        }
        Ok(Pulled::Built { sha256, recorded })
    }

    fn build(&self, model: &CatalogModel, ct2_dir: &Path, target: &Path, progress: &Progress) -> Result<String> {
        match model.recipe {
            Recipe::Ct2WhisperToGgml => {
                let precision = model.precision.expect("validated at parse");
                self.convert_into(ct2_dir, precision, target, Some(&model.sha256), &model.name, progress)
            }
            Recipe::Extract => unreachable!("extracted files are not built"),
        }
    }

    fn convert_into(&self, ct2_dir: &Path, precision: Precision, target: &Path, expected: Option<&str>, label: &str, progress: &Progress) -> Result<String> {
        tracing::info!(model = label, precision = precision.name(), "converting to ggml");
        let mut out = AtomicFile::new(target)?;
        let verb = if precision == Precision::F16 { "converting" } else { "converting + quantizing" };
        let bar = progress.steps(0, format!("{verb} {label}"));
        {
            let mut w = out.writer();
            convert_whisper(ct2_dir, precision, &mut w, &bar)?;
            w.flush().map_err(|e| super::fetch::explain_io(e, target))?;
        }
        bar.finish_and_clear();
        let size = std::fs::metadata(out.path())?.len();
        let hash_bar = progress.bytes(size, format!("verifying {label}"));
        let sha = out.commit(expected, &hash_bar)?;
        hash_bar.finish_and_clear();
        write_stamp(target, &sha)?;
        Ok(sha)
    }

    /// Makes sure every file of a source is extracted and intact, downloading its wheels if needed.
    pub fn ensure_source(&self, source: &Source, progress: &Progress) -> Result<PathBuf> {
        let dir = self.source_dir(&source.id);
        let mut missing = Vec::new();
        for f in &source.files {
            if integrity(&dir.join(&f.name), &f.sha256, false, progress)? != Integrity::Ok {
                missing.push(f);
            }
        }
        if missing.is_empty() {
            return Ok(dir);
        }
        let downloads = tempfile::Builder::new().prefix(".downloads-").tempdir_in(&self.dir)?;
        let wheels: Vec<PathBuf> = source.wheels.iter().map(|w| download_wheel(w, downloads.path(), progress)).collect::<Result<_>>()?;
        for f in missing {
            let target = dir.join(&f.name);
            let mut total = 0;
            for part in &f.parts {
                for w in &wheels {
                    total += member_size(w, part)?.unwrap_or(0);
                }
            }
            let bar = progress.bytes(total, format!("extracting {}/{}", source.id, f.name));
            let mut out = AtomicFile::new(&target)?;
            {
                let mut writer = out.writer();
                for part in &f.parts {
                    let mut found = false;
                    for w in &wheels {
                        if extract_member(w, part, &mut writer, &bar)? {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        bail!("no package of source {} contains {part}", source.id);
                    }
                }
                writer.flush().map_err(|e| super::fetch::explain_io(e, &target))?;
            }
            bar.finish_and_clear();
            let sha = out.commit(Some(&f.sha256), &progress.bytes(0, ""))?;
            write_stamp(&target, &sha)?;
        }
        Ok(dir)
    }

    fn register(&self, model: UserModel) -> Result<()> {
        let mut user = self.user_models()?;
        user.models.retain(|m| m.name != model.name);
        user.models.push(model);
        let path = self.user_models_path();
        let mut out = AtomicFile::new(&path)?;
        out.writer().write_all(user.to_toml()?.as_bytes())?;
        out.commit(None, &indicatif::ProgressBar::hidden())?;
        Ok(())
    }

    fn check_new_name(&self, name: &str) -> Result<()> {
        check_name(name)?;
        if self.catalog.model(name).is_some() {
            bail!("{name} is a catalogue model; choose another name for your own");
        }
        Ok(())
    }

    /// Registers a whisper.cpp ggml file (e.g. an official ggml-small.en.bin) under `name`, copying it
    /// into the model directory.
    pub fn add_ggml(&self, name: &str, file: &Path, progress: &Progress) -> Result<UserModel> {
        self.check_new_name(name)?;
        let hp = read_hparams(file)?;
        let _lock = self.lock()?;
        let file_name = format!("ggml-{name}.bin");
        let target = self.dir.join(&file_name);
        let mut out = AtomicFile::new(&target)?;
        let size = std::fs::metadata(file)?.len();
        let bar = progress.bytes(size, format!("copying {}", file.display()));
        {
            let mut src = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let mut w = out.writer();
            let mut counted = bar.wrap_read(&mut src);
            std::io::copy(&mut counted, &mut w).map_err(|e| super::fetch::explain_io(e, &target))?;
            w.flush().map_err(|e| super::fetch::explain_io(e, &target))?;
        }
        bar.finish_and_clear();
        let sha256 = out.commit(None, &progress.bytes(size, format!("hashing {name}")))?;
        write_stamp(&target, &sha256)?;
        let model = UserModel { name: name.into(), file: file_name, sha256, origin: format!("ggml file {} ({})", file.display(), hp.describe()) };
        self.register(model.clone())?;
        Ok(model)
    }

    /// Converts any CTranslate2 Whisper directory (faster-whisper layout) and registers it as `name`.
    pub fn add_ct2(&self, name: &str, dir: &Path, precision: Precision, progress: &Progress) -> Result<UserModel> {
        self.check_new_name(name)?;
        let _lock = self.lock()?;
        let file_name = format!("ggml-{name}.bin");
        let target = self.dir.join(&file_name);
        let sha256 = self.convert_into(dir, precision, &target, None, name, progress)?;
        let hp = read_hparams(&target)?;
        let model = UserModel { name: name.into(), file: file_name, sha256, origin: format!("CTranslate2 {} ({})", dir.display(), hp.describe()) };
        self.register(model.clone())?;
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("small.en-q8_0").unwrap();
    }

    #[test]
    fn unknown_models_list_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        let err = store.model_path("huge").unwrap_err().to_string();
        assert!(err.contains("unknown model") && err.contains("tiny.en-q8_0"), "{err}");
        let err = store.installed_path("tiny.en-f16").unwrap_err().to_string();
        assert!(err.contains("not installed") && err.contains("models pull"), "{err}");
    }

    #[test]
    fn stamps_avoid_rehashing_and_notice_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.bin");
        std::fs::write(&f, b"hello").unwrap();
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(integrity(&f, sha, false, &Progress::hidden()).unwrap(), Integrity::Ok);
        assert!(stamp_path(&f).exists());
        std::fs::write(&f, b"hellO").unwrap();
        assert!(matches!(integrity(&f, sha, false, &Progress::hidden()).unwrap(), Integrity::Mismatch { .. }));
    }

    #[test]
    fn add_ggml_rejects_files_that_are_not_whisper_models() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path().join("models")).unwrap();
        let bogus = dir.path().join("bogus.bin");
        std::fs::write(&bogus, vec![7u8; 100]).unwrap();
        let err = store.add_ggml("mine", &bogus, &Progress::hidden()).unwrap_err().to_string();
        assert!(err.contains("not a whisper.cpp ggml model"), "{err}");
        assert!(store.add_ggml("base-f16", &bogus, &Progress::hidden()).unwrap_err().to_string().contains("catalogue model"));
    }
}
