use std::fmt;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// One field of a request and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Longest idempotency key (`request_id`) a call may carry.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// Everything wrong with a request, gathered before any work is done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldViolations(Vec<FieldViolation>);

impl FieldViolations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Adds the violation when `violated` holds.
    pub fn check(&mut self, violated: bool, field: impl Into<String>, description: &str) {
        if violated {
            self.add(field, description);
        }
    }

    /// A required UUID field: the id, or `None` with the violation added.
    pub fn id(&mut self, raw: &str, field: &str) -> Option<uuid::Uuid> {
        if raw.is_empty() {
            self.add(field, "is required");
            return None;
        }
        uuid::Uuid::parse_str(raw)
            .map_err(|_| self.add(field, "must be a UUID"))
            .ok()
    }

    /// A version the caller read, as optimistic concurrency needs it.
    pub fn version(&mut self, version: i64, field: &str) {
        self.check(
            version < 1,
            field,
            "must be the version last read (1 or more)",
        );
    }

    /// A client's idempotency key, trimmed: required, at most
    /// [`MAX_REQUEST_ID_BYTES`].
    pub fn request_id<'a>(&mut self, raw: &'a str) -> &'a str {
        let request_id = raw.trim();
        self.check(request_id.is_empty(), "request_id", "is required");
        self.check(
            request_id.len() > MAX_REQUEST_ID_BYTES,
            "request_id",
            "must be at most 128 bytes",
        );
        request_id
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(())` when nothing is wrong, else the violations as an error.
    pub fn into_result(self) -> Result<(), ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self))
        }
    }
}

impl fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl From<FieldViolation> for FieldViolations {
    fn from(v: FieldViolation) -> Self {
        Self(vec![v])
    }
}

/// A single-field violation as an error.
pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> ServiceError {
    let mut violations = FieldViolations::new();
    violations.add(field, description);
    ServiceError::InvalidArgument(violations)
}

/// The errors of every Earshot RPC, mapped to a gRPC status in exactly one place.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    InvalidArgument(FieldViolations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("unexpected error")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// SQLSTATE classes that mean "try again later", not "your request is wrong":
/// connection exceptions (08), operator intervention such as a shutdown (57),
/// and insufficient resources (53).
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c.starts_with("53")),
        _ => false,
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            Self::Unavailable(e)
        } else {
            Self::Unexpected(Box::new(e))
        }
    }
}

fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl From<ServiceError> for tonic::Status {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in violations.iter() {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                tonic::Status::with_error_details(
                    Code::InvalidArgument,
                    violations.to_string(),
                    details,
                )
            }
            ServiceError::NotFound(what) => tonic::Status::not_found(format!("{what} not found")),
            ServiceError::AlreadyExists(m) => tonic::Status::already_exists(m),
            ServiceError::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            ServiceError::Aborted(m) => tonic::Status::aborted(m),
            ServiceError::PermissionDenied(m) => tonic::Status::permission_denied(m),
            ServiceError::Unavailable(cause) => {
                tracing::warn!(error = %cause_chain(&cause), "database unavailable");
                tonic::Status::unavailable("the database is unavailable; retry with backoff")
            }
            ServiceError::Unexpected(cause) => {
                // The cause goes to our logs, never to the caller.
                tracing::error!(error = %cause_chain(cause.as_ref()), "unexpected error");
                tonic::Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_name_every_field() {
        let mut v = FieldViolations::new();
        v.check(true, "mentions[0].text", "must not be empty");
        v.check(false, "mentions[0].source", "never added");
        v.add("page_size", "must be at most 500");
        let status: tonic::Status = v.into_result().expect_err("invalid").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "mentions[0].text: must not be empty; page_size: must be at most 500"
        );
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("field violations attached");
        assert_eq!(bad_request.field_violations.len(), 2);
        assert_eq!(bad_request.field_violations[0].field, "mentions[0].text");
    }

    #[test]
    fn database_outages_are_unavailable_and_other_errors_hide_their_cause() {
        let status: tonic::Status = ServiceError::from(sqlx::Error::PoolTimedOut).into();
        assert_eq!(status.code(), Code::Unavailable);
        let status: tonic::Status = ServiceError::from(sqlx::Error::RowNotFound).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("row"));
    }
}
