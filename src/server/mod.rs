//! `tierd serve`: the HTTP/WebSocket transport. Routes, shared state and start-up (models fetched and
//! loaded before the port opens).

pub mod captions;
pub mod listen;
pub mod protocol;
mod session;
pub mod transcriptions;
mod web;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::engine::tiers::Tiers;
use crate::engine::Engine;
use crate::provision::progress::Progress;
use crate::provision::store::ModelStore;

/// Configurable limits; every one is answered with a documented close code when hit.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent streams; the next is closed with 1013.
    pub max_connections: usize,
    /// Largest binary frame; a larger one closes the stream with 1009.
    pub max_frame_bytes: usize,
    /// A stream that sends nothing for this long is closed with 1001.
    pub idle_timeout: Duration,
    /// Largest audio upload; a larger one is refused with 413.
    pub max_upload_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 64, max_frame_bytes: 1 << 20, idle_timeout: Duration::from_secs(30), max_upload_bytes: 200 << 20 }
    }
}

#[derive(Default)]
pub struct SessionCounters {
    pub active: AtomicUsize,
    pub started: AtomicUsize,
}

/// State shared by every request.
pub struct App {
    pub engine: Engine,
    pub tiers: Tiers,
    pub limits: Limits,
    pub sessions: SessionCounters,
    pub captions: captions::CaptionHub,
}

impl App {
    /// Fetches (first start) and loads everything the tiers need. Blocking: call before serving.
    pub fn start(store: ModelStore, tiers: Tiers, limits: Limits, progress: &Progress) -> Result<Arc<App>> {
        let engine = Engine::start(store, &tiers.models(), progress)?;
        Ok(Arc::new(App { engine, tiers, limits, sessions: SessionCounters::default(), captions: Default::default() }))
    }
}

pub fn router(app: Arc<App>) -> Router {
    // The upload route streams to disk; its body limit is the upload limit plus room for form fields.
    let upload_limit = DefaultBodyLimit::max(app.limits.max_upload_bytes + 64 * 1024);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/tiers", get(tiers))
        .route("/v1/stats", get(stats))
        .route("/v1/listen", get(listen::handler))
        .route("/v1/audio/transcriptions", post(transcriptions::handler).layer(upload_limit))
        .route("/v1/sessions/{id}/events", get(captions::events))
        .route("/v1/sessions/{id}/captions.vtt", get(captions::vtt))
        .merge(web::routes())
        .with_state(app)
}

async fn tiers(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({ "default": app.tiers.default_name(), "tiers": app.tiers.all() }))
}

async fn stats(State(app): State<Arc<App>>) -> Json<Value> {
    use std::sync::atomic::Ordering;
    Json(json!({
        "active_sessions": app.sessions.active.load(Ordering::SeqCst),
        "sessions_started": app.sessions.started.load(Ordering::SeqCst),
        "decode": app.engine.pool().stats(),
    }))
}

/// Serves until `shutdown` resolves.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await.context("serving")
}
