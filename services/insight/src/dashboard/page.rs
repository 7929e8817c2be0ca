//! The dashboard page and its assets, built into the binary (plain HTML,
//! CSS, JS and the vendored uPlot: nothing to install, nothing fetched from
//! elsewhere). The page asks for a token and reads `/v1/insight/dashboard`
//! with it, so the data stays behind the same auth as every RPC.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Everything the page loads comes from this origin.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/dashboard",
        "text/html; charset=utf-8",
        include_str!("../../dashboard/index.html"),
    ),
    (
        "/dashboard/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboard/dashboard.js"),
    ),
    (
        "/dashboard/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../../dashboard/dashboard.css"),
    ),
    (
        "/dashboard/vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "/dashboard/vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../../dashboard/vendor/uPlot.min.css"),
    ),
];

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `/dashboard` and its assets.
pub fn router() -> Router {
    ASSETS
        .iter()
        .fold(Router::new(), |router, (path, content_type, body)| {
            router.route(path, get(move || async move { asset(content_type, body) }))
        })
}
