//! Command-line interface: argument definitions and dispatch to one module per subcommand.

mod bench;
mod bench_decode;
mod listen;
mod models;
mod serve;
mod transcribe;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use tierd::provision::store::default_models_dir;

#[derive(Parser)]
#[command(name = "tierd", version, about = "Speech recognition with measured accuracy/latency tiers")]
pub struct Cli {
    /// Directory holding model files (default: a per-user cache directory).
    #[arg(long, global = true, env = "TIERD_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List, fetch, verify and register models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Transcribe an audio file.
    Transcribe(transcribe::TranscribeArgs),
    /// Serve streaming recognition over WebSocket (fetches the tiers' models on first start).
    Serve(serve::ServeArgs),
    /// Stream a file or the microphone to a server and show the captions live.
    Listen(listen::ListenArgs),
    /// Benchmarks that print a table.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(default_models_dir)
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // whisper.cpp logs a cancelled decode as an error ("failed to encode") and symphonia logs the
    // decode failures tierd reports itself; their own logs show from -vv.
    let default = if verbose >= 2 { default.to_string() } else { format!("{default},whisper_rs=off,symphonia_core=off") };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let models_dir = cli.models_dir();
    match cli.command {
        Command::Models(cmd) => models::run(cmd, &models_dir),
        Command::Transcribe(args) => transcribe::run(args, &models_dir),
        Command::Serve(args) => serve::run(args, &models_dir),
        Command::Bench(cmd) => bench::run(cmd, &models_dir),
        Command::Listen(args) => listen::run(args),
    }
}
