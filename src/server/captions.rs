//! Following a live session from elsewhere: each session publishes its partials and finals to the hub;
//! `GET /v1/sessions/{id}/events` streams them as server-sent events (finals so far first), and
//! `GET /v1/sessions/{id}/captions.vtt` returns the finals as WebVTT, live or after the session ended.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::broadcast;

use super::App;
use crate::transcript::timestamp;

/// Finished sessions whose captions stay downloadable.
const KEEP_FINISHED: usize = 100;

struct Live {
    events: broadcast::Sender<String>,
    finals: Vec<Value>,
}

#[derive(Default)]
pub struct CaptionHub {
    live: Mutex<HashMap<String, Live>>,
    finished: Mutex<VecDeque<(String, Vec<Value>)>>,
}

impl CaptionHub {
    pub fn open(&self, id: &str) {
        let (events, _) = broadcast::channel(256);
        self.live.lock().unwrap().insert(id.to_string(), Live { events, finals: Vec::new() });
    }

    /// Publishes a `partial` or `final` message (as sent to the session's own client).
    pub fn publish(&self, id: &str, message: &Value) {
        let mut live = self.live.lock().unwrap();
        let Some(s) = live.get_mut(id) else { return };
        if message["type"] == "final" {
            s.finals.push(message.clone());
        }
        let _ = s.events.send(message.to_string());
    }

    /// Moves the session to the finished list, then tells followers it ended: a follower that hears
    /// the end can fetch the captions at once.
    pub fn close(&self, id: &str) {
        let mut finished = self.finished.lock().unwrap();
        let Some(s) = self.live.lock().unwrap().remove(id) else { return };
        finished.push_back((id.to_string(), s.finals));
        while finished.len() > KEEP_FINISHED {
            finished.pop_front();
        }
        drop(finished);
        let _ = s.events.send(r#"{"type":"end"}"#.to_string());
    }

    fn finals(&self, id: &str) -> Option<Vec<Value>> {
        // Same lock order as `close`, so a closing session is found in one list or the other.
        let finished = self.finished.lock().unwrap();
        if let Some(s) = self.live.lock().unwrap().get(id) {
            return Some(s.finals.clone());
        }
        finished.iter().find(|(i, _)| i == id).map(|(_, f)| f.clone())
    }
}

fn not_found(id: &str) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": {"message": format!("no session {id}"), "code": "unknown_session"}}))).into_response()
}

pub async fn events(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let (backlog, rx) = {
        // Lock order as in `CaptionHub::close`: finished, then live.
        let finished = app.captions.finished.lock().unwrap();
        let live = app.captions.live.lock().unwrap();
        if let Some(s) = live.get(&id) {
            (s.finals.iter().map(|f| f.to_string()).collect::<Vec<_>>(), Some(s.events.subscribe()))
        } else if let Some((_, f)) = finished.iter().find(|(i, _)| *i == id) {
            (f.iter().map(|f| f.to_string()).chain([r#"{"type":"end"}"#.to_string()]).collect(), None)
        } else {
            return not_found(&id);
        }
    };
    let backlog = futures_util::stream::iter(backlog.into_iter().map(|d| Ok::<_, Infallible>(Event::default().data(d))));
    let live = futures_util::stream::unfold(rx, |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(d) => {
                    let end = d.contains(r#""type":"end""#);
                    return Some((Ok(Event::default().data(d)), (!end).then_some(rx)));
                }
                // A slow follower misses partials, not the stream.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    use futures_util::StreamExt;
    Sse::new(backlog.chain(live)).keep_alive(KeepAlive::default()).into_response()
}

pub async fn vtt(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let id = id.strip_suffix(".vtt").unwrap_or(&id).to_string();
    let Some(finals) = app.captions.finals(&id) else { return not_found(&id) };
    let mut out = String::from("WEBVTT\n\n");
    for f in finals {
        let (start, end) = (f["start"].as_f64().unwrap_or(0.0), f["end"].as_f64().unwrap_or(0.0));
        out.push_str(&format!("{} --> {}\n{}\n\n", timestamp(start, '.'), timestamp(end, '.'), f["text"].as_str().unwrap_or_default()));
    }
    ([(header::CONTENT_TYPE, "text/vtt; charset=utf-8")], out).into_response()
}
