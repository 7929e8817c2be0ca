//! A webhook receiver for tests: an HTTP endpoint on a loopback port that
//! keeps what it is sent and answers as scripted, and Standard Webhooks
//! verification written from the specification (an HMAC-SHA256 of its own,
//! not the delivering crate's), so a test checks signatures independently.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::eventually;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub content_type: String,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The body's `type`, e.g. `"case.opened"`.
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

struct Script {
    got: Vec<Received>,
    /// Answers to give (a status and a `Retry-After`), in order; then
    /// `otherwise`.
    answers: VecDeque<(u16, Option<&'static str>)>,
    otherwise: u16,
}

/// An HTTP endpoint on a loopback port that keeps what it is sent.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
        let script = Arc::new(Mutex::new(Script {
            got: Vec::new(),
            answers: VecDeque::new(),
            otherwise: 200,
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(script.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the receiver serves");
        });
        Self { url, script }
    }

    /// Answers the next request with `status` and, if given, a
    /// `Retry-After` (after the answers scripted before).
    pub fn answer(&self, status: u16, retry_after: Option<&'static str>) {
        self.lock().answers.push_back((status, retry_after));
    }

    /// Answers `status` once the scripted answers are spent (200 at first).
    pub fn otherwise(&self, status: u16) {
        self.lock().otherwise = status;
    }

    pub fn got(&self) -> Vec<Received> {
        self.lock().got.clone()
    }

    /// What it got, once it got at least `n` requests.
    pub async fn wait(&self, what: &str, n: usize) -> Vec<Received> {
        eventually(what, || {
            let got = self.got();
            async move { (got.len() >= n).then_some(got) }
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("no thread panicked holding it")
    }
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut script = script.lock().expect("not poisoned");
    script.got.push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body,
        at: Instant::now(),
    });
    let (status, retry_after) = script
        .answers
        .pop_front()
        .unwrap_or((script.otherwise, None));
    let mut response = HeaderMap::new();
    if let Some(after) = retry_after {
        response.insert("retry-after", after.parse().expect("ascii"));
    }
    (
        StatusCode::from_u16(status).expect("a valid status"),
        response,
    )
}

/// Standard Webhooks verification, written from the specification: some
/// `v1` signature of the header is the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed with the bytes of the `whsec_` secret.
pub fn verifies(secret: &str, got: &Received) -> bool {
    signature_verifies(secret, &got.id, got.timestamp, &got.body, &got.signature)
}

/// [`verifies`] on the parts: true when any `v1` signature of `header` is
/// the HMAC-SHA256 of `{id}.{timestamp}.{body}` under `secret`.
pub fn signature_verifies(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &str,
    header: &str,
) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_checks_the_specification_example() {
        let example = Received {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek".into(),
            timestamp: 1_614_265_330,
            signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
            content_type: String::new(),
            body: r#"{"test": 2432232314}"#.into(),
            at: Instant::now(),
        };
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(verifies(secret, &example));
        let tampered = Received {
            body: r#"{"test": 2432232315}"#.into(),
            ..example
        };
        assert!(!verifies(secret, &tampered));
    }
}
