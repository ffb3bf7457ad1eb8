//! `tierd serve`: fetch and load the tiers' models, then serve HTTP and WebSocket clients.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use tierd::engine::tiers::Tiers;
use tierd::provision::progress::Progress;
use tierd::provision::store::ModelStore;
use tierd::server::{self, App, Limits};

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1", env = "TIERD_HOST")]
    pub host: String,
    #[arg(long, default_value_t = 8080, env = "TIERD_PORT")]
    pub port: u16,
    /// A tiers file to use instead of the built-in models/tiers.toml.
    #[arg(long)]
    pub tiers: Option<std::path::PathBuf>,
    /// Concurrent streams before new ones are refused with 1013.
    #[arg(long, default_value_t = 64)]
    pub max_connections: usize,
    /// Largest binary WebSocket frame, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_frame_bytes: usize,
    /// Seconds a stream may stay silent (no frames at all) before it is closed.
    #[arg(long, default_value_t = 30)]
    pub idle_timeout: u64,
    /// Largest audio upload, in bytes.
    #[arg(long, default_value_t = 200 << 20)]
    pub max_upload_bytes: usize,
}

pub fn run(args: ServeArgs, models_dir: &Path) -> Result<ExitCode> {
    let tiers = match &args.tiers {
        Some(p) => Tiers::parse(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)?,
        None => Tiers::builtin()?,
    };
    let limits = Limits {
        max_connections: args.max_connections,
        max_frame_bytes: args.max_frame_bytes,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_upload_bytes: args.max_upload_bytes,
    };
    eprintln!("tierd: preparing models in {} (first start fetches them)", models_dir.display());
    let app = App::start(ModelStore::open(models_dir)?, tiers, limits, &Progress::terminal())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let addr = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        eprintln!("tierd: listening on http://{addr} (WebSocket: ws://{addr}/v1/listen)");
        server::serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}
