//! `POST /v1/audio/transcriptions`: OpenAI's audio transcription API, so every OpenAI SDK works as a
//! client. The upload streams to a temporary file (never held whole in memory, refused with 413 the
//! moment it passes the limit), is decoded to 16 kHz, split at silences and decoded in parallel.

use std::io::Write;
use std::sync::Arc;

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::App;
use crate::audio::decode::{decode_file, AudioError};
use crate::audio::Pcm16k;
use crate::engine::tiers::{Tier, TierRequest};
use crate::engine::RequestOptions;
use crate::transcript::{render, verbose_json, Format};

/// An error in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<&'static str>,
    code: &'static str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, param: Option<&'static str>, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), param, code }
    }

    fn bad(code: &'static str, param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, param, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() { "server_error" } else { "invalid_request_error" };
        let body = json!({"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}});
        (self.status, Json(body)).into_response()
    }
}

impl From<AudioError> for ApiError {
    fn from(e: AudioError) -> Self {
        match e {
            AudioError::Unsupported(_) => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_codec", Some("file"), e.to_string()),
            AudioError::Io(..) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", None, "could not read the upload"),
            _ => ApiError::bad("invalid_audio", Some("file"), e.to_string()),
        }
    }
}

/// The form fields, as sent.
#[derive(Default)]
struct Form {
    file: Option<(tempfile::NamedTempFile, u64)>,
    model: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    prompt: Option<String>,
    response_format: Option<String>,
    temperature: Option<String>,
    granularities: Vec<String>,
    tolerance: Option<String>,
    max_latency_ms: Option<String>,
    stream: Option<String>,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", Some("file"), format!("the upload exceeds the limit of {limit} bytes"))
}

fn multipart_error(e: MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::bad("invalid_multipart", None, format!("the multipart body is malformed: {}", e.body_text()))
    }
}

async fn read_form(mut mp: Multipart, limit: usize) -> Result<Form, ApiError> {
    let mut form = Form::default();
    while let Some(mut field) = mp.next_field().await.map_err(|e| multipart_error(e, limit))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let mut tmp = tempfile::NamedTempFile::new().map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", None, "no temporary space"))?;
            let mut size = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
                size += chunk.len() as u64;
                if size > limit as u64 {
                    return Err(too_large(limit));
                }
                tmp.write_all(&chunk).map_err(|_| ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "no_space", None, "the server has no room for the upload"))?;
            }
            form.file = Some((tmp, size));
            continue;
        }
        let value = field.text().await.map_err(|e| multipart_error(e, limit))?;
        match name.as_str() {
            "model" => form.model = Some(value),
            "tier" => form.tier = Some(value),
            "language" => form.language = Some(value),
            "prompt" => form.prompt = Some(value),
            "response_format" => form.response_format = Some(value),
            "temperature" => form.temperature = Some(value),
            "timestamp_granularities[]" | "timestamp_granularities" => form.granularities.push(value),
            "tolerance" => form.tolerance = Some(value),
            "max_latency_ms" => form.max_latency_ms = Some(value),
            "stream" => form.stream = Some(value),
            _ => {} // OpenAI ignores fields it does not use; so do we
        }
    }
    Ok(form)
}

/// The tier: `tier` if given, else `model` when it names a tier, else the default (`whisper-1`).
fn resolve_tier(app: &App, form: &Form) -> Result<Tier, ApiError> {
    if form.tolerance.is_some() || form.max_latency_ms.is_some() {
        let param = if form.tolerance.is_some() { "tolerance" } else { "max_latency_ms" };
        return Err(ApiError::bad(
            "unsupported_parameter",
            Some(param),
            format!("{param} needs a measured profile, which this server does not have yet; ask for a tier by name"),
        ));
    }
    let (name, param) = match (&form.tier, &form.model) {
        (Some(t), _) => (Some(t.clone()), "tier"),
        (None, Some(m)) if m != "whisper-1" && !m.is_empty() => (Some(m.clone()), "model"),
        _ => (None, "model"),
    };
    let tier = app.tiers.resolve(&TierRequest { tier: name }).map_err(|e| ApiError::bad("unknown_tier", Some(param), e.to_string()))?;
    Ok(tier.clone())
}

pub async fn handler(State(app): State<Arc<App>>, headers: HeaderMap, multipart: Result<Multipart, MultipartRejection>) -> Result<Response, ApiError> {
    let limit = app.limits.max_upload_bytes;
    // Refuse a declared oversize body before reading any of it.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64 + 64 * 1024) {
        return Err(too_large(limit));
    }
    let mp = multipart.map_err(|e| ApiError::bad("invalid_request", None, format!("expected a multipart/form-data upload: {}", e.body_text())))?;
    let form = read_form(mp, limit).await?;
    let tier = resolve_tier(&app, &form)?;
    let format = match form.response_format.as_deref() {
        None => Format::Json,
        Some(f) => Format::parse(f).ok_or_else(|| ApiError::bad("invalid_value", Some("response_format"), format!("response_format {f:?} is not one of json, text, srt, vtt, verbose_json")))?,
    };
    if let Some(t) = &form.temperature {
        let ok = t.parse::<f32>().is_ok_and(|v| (0.0..=1.0).contains(&v));
        if !ok {
            return Err(ApiError::bad("invalid_value", Some("temperature"), "temperature must be a number from 0 to 1"));
        }
    }
    let stream = matches!(form.stream.as_deref(), Some("true" | "1"));
    let words = form.granularities.iter().any(|g| g == "word");
    let language = form.language.clone().filter(|l| !l.is_empty());
    let (file, size) = form.file.ok_or_else(|| ApiError::bad("missing_file", Some("file"), "no file was uploaded (form field `file`)"))?;
    if size == 0 {
        return Err(ApiError::bad("empty_file", Some("file"), "the uploaded file is empty"));
    }
    let pcm = tokio::task::spawn_blocking(move || decode_file(file.path()).map(|d| Pcm16k(d.samples)))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", None, "decoding failed"))??;
    let opts = RequestOptions { language: language.clone(), prompt: form.prompt.clone() };
    if stream {
        return Ok(sse(app, pcm, tier, opts).into_response());
    }
    let config = tier.config.clone();
    let engine_app = app.clone();
    let transcript = tokio::task::spawn_blocking(move || engine_app.engine.transcribe_long(&pcm, &config, &opts, |_, _, _| {}))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", None, "transcription failed"))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", None, format!("{e:#}")))?;
    let body = match format {
        Format::VerboseJson => verbose_json(&transcript, language.as_deref().unwrap_or("en"), words, Some(&tier.name)).to_string(),
        other => render(&transcript, other),
    };
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// `stream=true`: a `transcript.text.delta` event per segment as it is decoded, then
/// `transcript.text.done` with the whole text (OpenAI's streaming transcription events).
fn sse(app: Arc<App>, pcm: Pcm16k, tier: Tier, opts: RequestOptions) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    tokio::task::spawn_blocking(move || {
        let delta_tx = tx.clone();
        let result = app.engine.transcribe_long(&pcm, &tier.config, &opts, |s, _, _| {
            let data = json!({"type": "transcript.text.delta", "delta": s.text, "start": s.start, "end": s.end});
            let _ = delta_tx.send(Event::default().data(data.to_string()));
        });
        let done = match result {
            Ok(t) => json!({"type": "transcript.text.done", "text": t.text, "tierd": {"tier": tier.name, "model": t.model, "beam": t.beam}}),
            Err(e) => json!({"type": "error", "error": {"message": format!("{e:#}"), "type": "server_error"}}),
        };
        let _ = tx.send(Event::default().data(done.to_string()));
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    Sse::new(events)
}
