//! JSON over HTTP for every RPC, served by the service itself on its HTTP
//! port, from the `google.api.http` annotations in the protos.
//!
//! A request is matched to its RPC, read into the request message (body,
//! path variables and query parameters, proto3 JSON), and called through
//! the service's own gRPC stack in process, so the same admission, auth,
//! span, metrics and input checks apply as for a gRPC caller. The answer is
//! proto3 JSON; a failed call is the HTTP code of its gRPC status with a
//! `google.rpc.Status` body. Streams are NDJSON: one message per line in
//! (StreamMentions) and out (Export, StreamMentions); an error after the
//! first line arrives as a last line `{"error": <google.rpc.Status>}`.
//!
//! The OpenAPI document the build wrote for the service is at `/openapi.json`.

pub mod codec;
pub mod message;
pub mod status;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use earshot_proto::http_rule::{self, HttpRoute, HttpVerb, RouteError};
use futures_util::{Stream, StreamExt, stream};
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceExt};

use self::message::Unreadable;

/// The service's gRPC routes behind its layers, as the transcoder calls
/// them. Its error is a concrete type: with a boxed one, the handler's
/// future is not provably `Send` under tonic's `Into<StdError>` bounds.
pub type GrpcStack = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    tonic::Status,
>;

/// Largest body of a request that is not a stream, as gRPC's default
/// message limit.
const MAX_BODY: usize = 4 << 20;

/// Headers a caller's HTTP request passes on to the call.
const FORWARDED: &[&str] = &["authorization", "traceparent", "tracestate", "x-request-id"];

const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

/// Boxes a layered gRPC service for the transcoder.
pub fn stack<S, B>(service: S) -> GrpcStack
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        service
            .map_response(|response| response.map(tonic::body::Body::new))
            .map_err(|e| tonic::Status::from_error(e.into())),
    )
}

#[derive(Clone)]
struct Api {
    routes: Arc<Vec<HttpRoute>>,
    grpc: GrpcStack,
    openapi: Bytes,
}

/// The HTTP application of a service serving `services` (full protobuf
/// names): its pages first, then `/openapi.json`, then every RPC.
pub fn router(
    services: &[&str],
    grpc: GrpcStack,
    pages: axum::Router,
) -> Result<axum::Router, RouteError> {
    let pool = earshot_proto::descriptor_pool();
    let mut routes = Vec::new();
    for service in services {
        routes.extend(http_rule::routes(pool, service)?);
    }
    // The most literal route first, so `/v1/rules:validate` is never read
    // as a rule named `rules:validate`.
    routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
    let api = Api {
        routes: Arc::new(routes),
        grpc,
        openapi: Bytes::from(openapi(services)),
    };
    Ok(axum::Router::new()
        .route("/openapi.json", axum::routing::get(serve_openapi))
        .fallback(transcode)
        .with_state(api)
        .merge(pages))
}

/// One document for the services served together (a service and the event
/// sink it consumes with), merged from the build's.
fn openapi(services: &[&str]) -> Vec<u8> {
    let mut documents = services
        .iter()
        .filter_map(|s| earshot_proto::openapi_document(s))
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(text).ok());
    let Some(mut merged) = documents.next() else {
        return b"{}".to_vec();
    };
    for document in documents {
        for section in ["paths", "components/schemas"] {
            let pointer = format!("/{section}");
            if let (Some(serde_json::Value::Object(into)), Some(serde_json::Value::Object(from))) = (
                merged.pointer(&pointer).cloned(),
                document.pointer(&pointer),
            ) {
                let mut into = into;
                into.extend(from.clone());
                if let Some(slot) = merged.pointer_mut(&pointer) {
                    *slot = serde_json::Value::Object(into);
                }
            }
        }
    }
    let mut text = serde_json::to_vec_pretty(&merged).unwrap_or_default();
    text.push(b'\n');
    text
}

async fn serve_openapi(State(api): State<Api>) -> Response {
    respond(StatusCode::OK, JSON, Body::from(api.openapi.clone()))
}

async fn transcode(State(api): State<Api>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let verb = HttpVerb::parse(parts.method.as_str());
    let found = api
        .routes
        .iter()
        .filter(|r| Some(r.verb) == verb)
        .find_map(|r| {
            r.matches(path).map(|values| {
                let values: Vec<(String, String)> = values
                    .into_iter()
                    .map(|(name, raw)| (name.to_owned(), raw.to_owned()))
                    .collect();
                (r.clone(), values)
            })
        });
    let Some((route, raw_values)) = found else {
        return unrouted(&api, parts.method.as_str(), path);
    };
    let mut values = Vec::with_capacity(raw_values.len());
    for (name, raw) in raw_values {
        match message::path_value(&raw) {
            Ok(value) => values.push((name, value)),
            Err(e) => return error(&e.status()),
        }
    }
    let metadata = forwarded(&parts.headers);
    let input = route.method.input();
    let refused: Arc<Mutex<Option<Unreadable>>> = Arc::default();
    let messages = if route.method.is_client_streaming() {
        lines(input, body, refused.clone()).boxed()
    } else {
        let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let status: tonic::Status =
                    crate::invalid("body", format!("cannot be read: {e}")).into();
                return error(&status);
            }
        };
        let query = message::query_pairs(parts.uri.query());
        match message::request(&input, &bytes, &values, &query) {
            Ok(encoded) => stream::iter([encoded]).boxed(),
            Err(e) => return error(&e.status()),
        }
    };

    let mut grpc = tonic::client::Grpc::new(api.grpc.clone());
    if let Err(e) = grpc.ready().await {
        return error(&tonic::Status::unavailable(format!(
            "the service is not ready: {e}"
        )));
    }
    let grpc_path = match http::uri::PathAndQuery::try_from(route.grpc_path()) {
        Ok(p) => p,
        Err(e) => return error(&tonic::Status::internal(format!("bad method path: {e}"))),
    };
    let call = tonic::Request::from_parts(metadata, http::Extensions::default(), messages);
    let mut replies = match grpc.streaming(call, grpc_path, codec::EncodedCodec).await {
        Ok(response) => response.into_inner(),
        Err(status) => return error(&refusal_or(&refused, status)),
    };
    let output = route.method.output();
    // The first message (or the error instead of it) decides the HTTP code.
    let first = match replies.message().await {
        Ok(Some(first)) => first,
        Ok(None) if route.method.is_server_streaming() => {
            return match refused.lock().ok().and_then(|mut r| r.take()) {
                Some(unreadable) => error(&unreadable.status()),
                None => respond(StatusCode::OK, NDJSON, Body::empty()),
            };
        }
        Ok(None) => return error(&tonic::Status::internal("the call answered nothing")),
        Err(status) => return error(&refusal_or(&refused, status)),
    };
    let first = match message::response(&output, &first) {
        Ok(json) => json,
        Err(status) => return error(&status),
    };
    if !route.method.is_server_streaming() {
        return respond(StatusCode::OK, JSON, Body::from(first));
    }
    let rest = stream::unfold(Some(replies), move |state| {
        let output = output.clone();
        let refused = refused.clone();
        async move {
            let mut replies = state?;
            let line = match replies.message().await {
                Ok(Some(bytes)) => match message::response(&output, &bytes) {
                    Ok(json) => return Some((Ok::<_, BoxError>(ndjson(json)), Some(replies))),
                    Err(status) => error_line(&status),
                },
                Ok(None) => match refused.lock().ok().and_then(|mut r| r.take()) {
                    Some(unreadable) => error_line(&unreadable.status()),
                    None => return None,
                },
                Err(status) => error_line(&status),
            };
            Some((Ok(line), None))
        }
    });
    let lines = stream::once(async move { Ok(ndjson(first)) }).chain(rest);
    respond(StatusCode::OK, NDJSON, Body::from_stream(lines))
}

/// A request whose line could not be read ends the stream early; the call's
/// own status then says less than the line's problem does.
fn refusal_or(refused: &Mutex<Option<Unreadable>>, status: tonic::Status) -> tonic::Status {
    match refused.lock().ok().and_then(|mut r| r.take()) {
        Some(unreadable) => unreadable.status(),
        None => status,
    }
}

/// An NDJSON request body as encoded request messages. A line that cannot
/// be read ends the stream and is kept in `refused` for the answer.
fn lines(
    input: prost_reflect::MessageDescriptor,
    body: Body,
    refused: Arc<Mutex<Option<Unreadable>>>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    struct Reader {
        chunks: axum::body::BodyDataStream,
        pending: BytesMut,
        number: usize,
        ended: bool,
    }
    let reader = Reader {
        chunks: body.into_data_stream(),
        pending: BytesMut::new(),
        number: 0,
        ended: false,
    };
    stream::unfold(Some(reader), move |state| {
        let input = input.clone();
        let refused = refused.clone();
        async move {
            let mut reader = state?;
            loop {
                let line = match reader.pending.iter().position(|b| *b == b'\n') {
                    Some(at) => Some(reader.pending.split_to(at + 1)),
                    None if reader.ended && !reader.pending.is_empty() => {
                        Some(reader.pending.split())
                    }
                    None if reader.ended => return None,
                    None => None,
                };
                if let Some(line) = line {
                    reader.number += 1;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return match message::line(&input, &line, reader.number) {
                        Ok(encoded) => Some((encoded, Some(reader))),
                        Err(unreadable) => {
                            if let Ok(mut slot) = refused.lock() {
                                *slot = Some(unreadable);
                            }
                            None
                        }
                    };
                }
                if reader.pending.len() > MAX_BODY {
                    break;
                }
                match reader.chunks.next().await {
                    Some(Ok(chunk)) => reader.pending.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        if let Ok(mut slot) = refused.lock() {
                            *slot = Some(Unreadable {
                                field: "body".into(),
                                problem: format!("cannot be read: {e}"),
                            });
                        }
                        return None;
                    }
                    None => reader.ended = true,
                }
            }
            if let Ok(mut slot) = refused.lock() {
                *slot = Some(Unreadable {
                    field: format!("line {}", reader.number + 1),
                    problem: format!("is longer than {MAX_BODY} bytes"),
                });
            }
            None
        }
    })
}

fn forwarded(headers: &HeaderMap) -> tonic::metadata::MetadataMap {
    let mut kept = HeaderMap::new();
    for name in FORWARDED {
        for value in headers.get_all(*name) {
            kept.append(*name, value.clone());
        }
    }
    tonic::metadata::MetadataMap::from_headers(kept)
}

/// No route for this verb and path: 405 when the path has another verb's.
fn unrouted(api: &Api, method: &str, path: &str) -> Response {
    let allowed: Vec<&str> = api
        .routes
        .iter()
        .filter(|r| r.matches(path).is_some())
        .map(|r| r.verb.as_str())
        .collect();
    if allowed.is_empty() {
        return error(&tonic::Status::not_found(format!(
            "no RPC answers {method} {path}; see /openapi.json"
        )));
    }
    let mut response = error(&tonic::Status::unimplemented(format!(
        "{path} answers {}, not {method}",
        allowed.join(", ")
    )));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

fn ndjson(mut json: Vec<u8>) -> Bytes {
    json.push(b'\n');
    Bytes::from(json)
}

fn error_line(status: &tonic::Status) -> Bytes {
    let mut line =
        serde_json::to_vec(&serde_json::json!({"error": status::body(status)})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn error(status: &tonic::Status) -> Response {
    let body = serde_json::to_vec(&status::body(status)).unwrap_or_default();
    let code = status::http_code(status.code());
    let mut response = respond(code, JSON, Body::from(body));
    if code == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(secs) = status::retry_after_secs(status) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn respond(code: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
