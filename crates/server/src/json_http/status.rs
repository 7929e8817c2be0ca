//! A gRPC status as an HTTP answer: the code Google's HTTP mapping gives it
//! and a `google.rpc.Status` body in proto3 JSON, with the same field
//! violations the gRPC caller gets.

use http::StatusCode;
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

/// The HTTP code of a gRPC code (google/rpc/code.proto's mapping).
pub fn http_code(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Aborted | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // 499 Client Closed Request has no constant.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `google.rpc.Status` of `status` in proto3 JSON.
pub fn body(status: &tonic::Status) -> Value {
    let details = status.get_error_details();
    let mut out = Vec::new();
    if let Some(bad) = details.bad_request() {
        let violations: Vec<Value> = bad
            .field_violations
            .iter()
            .map(|v| json!({"field": v.field, "description": v.description}))
            .collect();
        out.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": violations,
        }));
    }
    if let Some(retry) = details.retry_info()
        && let Some(delay) = retry.retry_delay
    {
        out.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}.{:03}s", delay.as_secs(), delay.subsec_millis()),
        }));
    }
    let mut body = json!({"code": status.code() as i32, "message": status.message()});
    if !out.is_empty() {
        body["details"] = Value::Array(out);
    }
    body
}

/// Whole seconds a shed caller should wait (`Retry-After`), from the
/// status's `RetryInfo`, at least one.
pub fn retry_after_secs(status: &tonic::Status) -> Option<u64> {
    let delay = status.get_error_details().retry_info()?.retry_delay?;
    Some(delay.as_secs() + u64::from(delay.subsec_nanos() > 0)).map(|s| s.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn codes_map_as_google_maps_them() {
        for (code, http) in [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::Aborted, 409),
            (Code::AlreadyExists, 409),
            (Code::ResourceExhausted, 429),
            (Code::Cancelled, 499),
            (Code::Unimplemented, 501),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Internal, 500),
        ] {
            assert_eq!(http_code(code).as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn field_violations_survive_the_crossing() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("case_id", "must be a UUID");
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "bad", details);
        let body = body(&status);
        assert_eq!(body["code"], 3);
        assert_eq!(body["message"], "bad");
        assert_eq!(body["details"][0]["fieldViolations"][0]["field"], "case_id");
        assert_eq!(
            body["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert!(body.get("details").is_some());
        assert!(
            self::body(&tonic::Status::not_found("gone"))
                .get("details")
                .is_none()
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let details = ErrorDetails::with_retry_info(Some(std::time::Duration::from_millis(1500)));
        let status = tonic::Status::with_error_details(Code::ResourceExhausted, "busy", details);
        assert_eq!(retry_after_secs(&status), Some(2));
        assert_eq!(retry_after_secs(&tonic::Status::unavailable("x")), None);
    }
}
