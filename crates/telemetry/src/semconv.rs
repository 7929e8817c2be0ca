//! The OpenTelemetry semantic conventions Earshot's RPC spans and metrics
//! follow, pinned here: <https://opentelemetry.io/docs/specs/semconv/rpc/>
//! at [`VERSION`] (the stable RPC conventions: `rpc.system.name`,
//! `rpc.method`, `rpc.response.status_code`, `rpc.server.call.duration`).
//!
//! Span fields are written out in `observe.rs` (tracing needs them as
//! literals); this module names the version, the schema and the values.

use tonic::Code;

/// The semantic conventions version.
pub const VERSION: &str = "1.40.0";

/// Schema URL of [`VERSION`], on the tracer's instrumentation scope.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.40.0";

/// `rpc.system.name` of every Earshot server span.
pub const RPC_SYSTEM: &str = "grpc";

/// `rpc.method` for a method the server does not know, so that unknown
/// paths cannot grow the metrics' cardinality.
pub const OTHER_METHOD: &str = "_OTHER";

/// `rpc.response.status_code`: the code's name as gRPC spells it.
pub fn status_code(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Whether a server span with this code is an error (the gRPC conventions:
/// the server's own failures, not the caller's bad requests).
pub fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// `rpc.method` from a request path: `/earshot.case.v1.CaseService/GetCase`
/// is `earshot.case.v1.CaseService/GetCase`.
pub fn method(path: &str) -> &str {
    path.strip_prefix('/').unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        assert_eq!(
            method("/earshot.case.v1.CaseService/GetCase"),
            "earshot.case.v1.CaseService/GetCase"
        );
        assert_eq!(status_code(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(status_code(Code::Ok), "OK");
        assert!(is_server_error(Code::Internal) && !is_server_error(Code::NotFound));
        assert!(SCHEMA_URL.ends_with(VERSION));
    }
}
