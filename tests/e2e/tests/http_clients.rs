//! JSON over HTTP, as a CRM connector calls it: each service's own HTTP
//! port, transcoded from the protos' `google.api.http` routes into the same
//! gRPC stack. The stock client is curl (`scripts/http_flow.sh`); the rest
//! checks the proto3 JSON forms, the HTTP codes and `google.rpc.Status`
//! bodies of refusals, tenant isolation, NDJSON streams both ways, the
//! OpenAPI document and a restart.

use std::path::Path;

use earshot_e2e::{ALL, Suite, cry_for_help, eventually, run_client_script, token};
use serde_json::{Value, json};

/// The one HTTP client the project builds (rustls with ring), as a
/// connector would use one.
fn http() -> reqwest::Client {
    earshot_webhooks::http_client(std::time::Duration::from_secs(60))
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = http().request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the HTTP port answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

fn mention(external_id: &str) -> Value {
    let m = cry_for_help(external_id);
    json!({
        "source": m.source,
        "externalId": m.external_id,
        "channel": "CHANNEL_X",
        "public": true,
        "author": {"externalId": format!("author-{external_id}"), "handle": format!("h_{external_id}")},
        "text": m.text,
        "language": "en",
        "threadKey": format!("x:{external_id}"),
        "postedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// The first case of the tenant, once the mention has opened it.
async fn first_case(suite: &Suite, token: &str) -> Value {
    let url = format!("{}/v1/cases?page_size=10", suite.case.http_url());
    eventually("the mention opens a case", || {
        let url = url.clone();
        async move {
            let (status, body, _) = call(reqwest::Method::GET, url, token, None).await;
            (status == 200)
                .then(|| body["cases"].get(0).cloned())
                .flatten()
        }
    })
    .await
}

#[tokio::test]
async fn curl_runs_a_support_flow_over_json() {
    let suite = Suite::start().await;
    let stdout = run_client_script(
        Path::new("bash"),
        "http_flow.sh",
        &[suite.listening.http_url(), suite.case.http_url()],
    )
    .await;
    assert!(stdout.contains("HTTP 400 naming case_id"), "{stdout}");
}

#[tokio::test]
async fn json_speaks_proto3_and_refusals_carry_codes_and_fields() {
    let mut suite = Suite::start().await;
    let acme = token("acme", ALL);
    let case_url = suite.case.http_url();

    let (status, heard, _) = call(
        reqwest::Method::POST,
        format!("{}/v1/mentions:ingest", suite.listening.http_url()),
        &acme,
        Some(json!({"mentions": [mention("http-1")]})),
    )
    .await;
    assert_eq!(status, 200, "{heard}");
    assert_eq!(heard["accepted"], 1, "{heard}");
    let case = first_case(&suite, &acme).await;
    let case_id = case["caseId"].as_str().expect("a case id").to_owned();
    assert!(case["version"].is_string(), "int64 as a string: {case}");
    assert!(
        case["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("CASE_STATUS_")),
        "enums by name: {case}"
    );
    assert_eq!(case["channel"], "CHANNEL_X");

    let (status, got, _) = call(
        reqwest::Method::GET,
        format!("{case_url}/v1/cases/{case_id}"),
        &acme,
        None,
    )
    .await;
    assert_eq!((status, &got["caseId"]), (200, &json!(case_id)));

    // Another tenant does not see it.
    let (status, other, _) = call(
        reqwest::Method::GET,
        format!("{case_url}/v1/cases/{case_id}"),
        &token("globex", ALL),
        None,
    )
    .await;
    assert_eq!(status, 404, "{other}");
    assert_eq!(other["code"], 5);

    // A bad id: 400 with the field violation the gRPC caller gets.
    let (status, refusal, _) = call(
        reqwest::Method::GET,
        format!("{case_url}/v1/cases/not-a-uuid"),
        &acme,
        None,
    )
    .await;
    assert_eq!(status, 400, "{refusal}");
    assert_eq!(refusal["code"], 3);
    assert_eq!(
        refusal["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        refusal["details"][0]["fieldViolations"][0]["field"],
        "case_id"
    );

    // A body the proto3 JSON reader refuses names where it went wrong.
    let (status, refusal, _) = call(
        reqwest::Method::POST,
        format!("{}/v1/mentions:ingest", suite.listening.http_url()),
        &acme,
        Some(json!({"mentions": [], "colour": "red"})),
    )
    .await;
    assert_eq!(status, 400, "{refusal}");
    assert_eq!(refusal["details"][0]["fieldViolations"][0]["field"], "body");
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.contains("colour")),
        "{refusal}"
    );

    // A stale version: 409.
    let (status, conflict, _) = call(
        reqwest::Method::POST,
        format!("{case_url}/v1/cases/{case_id}:resolve"),
        &acme,
        Some(json!({"version": "999", "resolutionCode": "answered"})),
    )
    .await;
    assert_eq!(status, 409, "{conflict}");

    // No token: 401 with a challenge; a token without the scope: 403.
    let response = http()
        .get(format!("{case_url}/v1/cases"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let (status, _, _) = call(
        reqwest::Method::POST,
        format!("{case_url}/v1/cases"),
        &token("acme", &["cases:read"]),
        Some(json!({"requestId": "c-1", "subject": "x"})),
    )
    .await;
    assert_eq!(status, 403);

    // No such route, and a route with another verb.
    let (status, missing, _) = call(
        reqwest::Method::GET,
        format!("{case_url}/v1/nothing-here"),
        &acme,
        None,
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    let (status, _, headers) = call(
        reqwest::Method::DELETE,
        format!("{case_url}/v1/cases"),
        &acme,
        None,
    )
    .await;
    assert_eq!(status, 405);
    assert!(headers.get("allow").is_some());

    // The OpenAPI document names the route just used.
    let (status, document, _) = call(
        reqwest::Method::GET,
        format!("{case_url}/openapi.json"),
        &acme,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/v1/cases/{case_id}"]["get"].is_object());

    // What was accepted survives a restart, on the same HTTP port.
    suite.case.restart().await;
    let (status, again, _) = call(
        reqwest::Method::GET,
        format!("{case_url}/v1/cases/{case_id}"),
        &acme,
        None,
    )
    .await;
    assert_eq!((status, &again["caseId"]), (200, &json!(case_id)));
}

#[tokio::test]
async fn streams_are_ndjson_both_ways() {
    let suite = Suite::start().await;
    let acme = token("acme", ALL);
    let url = format!("{}/v1/mentions:stream", suite.listening.http_url());
    let lines = [
        json!({"mentions": [mention("stream-1")]}).to_string(),
        json!({"mentions": [mention("stream-2"), mention("stream-3")]}).to_string(),
    ]
    .join("\n");
    let response = http()
        .post(&url)
        .bearer_auth(&acme)
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-ndjson")
    );
    let text = response.text().await.expect("a body");
    let acks: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let accepted: u64 = acks
        .iter()
        .map(|a| a["accepted"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(accepted, 3, "{text}");
    assert_eq!(
        acks.last().expect("an ack")["durableThrough"],
        "3",
        "{text}"
    );

    // A line that is not a message ends the stream with an error line
    // naming it, after the acks of the lines before it.
    let response = http()
        .post(&url)
        .bearer_auth(&acme)
        .body(format!(
            "{}\n{{not json\n",
            json!({"mentions": [mention("stream-4")]})
        ))
        .send()
        .await
        .expect("answers");
    let text = response.text().await.expect("a body");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["error"]["code"], 3, "{text}");
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 2")),
        "{text}"
    );
}
