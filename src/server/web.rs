//! The browser demo (`/`) and live-caption view (`/captions`), embedded in the binary so `tierd serve`
//! works from any directory.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use super::App;

macro_rules! asset {
    ($file:literal, $mime:literal) => {
        get(|| async { ([(header::CONTENT_TYPE, $mime)], include_str!(concat!("../../web/", $file))).into_response() })
    };
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", asset!("index.html", "text/html; charset=utf-8"))
        .route("/captions", asset!("captions.html", "text/html; charset=utf-8"))
        .route("/app.js", asset!("app.js", "text/javascript; charset=utf-8"))
        .route("/captions.js", asset!("captions.js", "text/javascript; charset=utf-8"))
        .route("/mic-worklet.js", asset!("mic-worklet.js", "text/javascript; charset=utf-8"))
        .route("/style.css", asset!("style.css", "text/css; charset=utf-8"))
}
