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

/// Most field violations one error carries to the caller; the rest are
/// counted. Every violation is repeated in the message and in the
/// `google.rpc.BadRequest` details, both in the trailers (percent- and
/// base64-encoded), and gRPC-core clients refuse metadata past 8 KiB
/// (`RESOURCE_EXHAUSTED "received metadata size exceeds hard limit"`), which
/// would hide the real code. The first few name the mistake; a caller that
/// made more gets the count.
pub const MAX_VIOLATIONS_SENT: usize = 20;
/// Bytes of field names and descriptions sent at most, over all the
/// violations sent (the first is always sent). The message goes out twice
/// (`grpc-message`, percent-encoded, and inside `grpc-status-details-bin`,
/// base64), so this keeps the trailers near 3.5 KiB for plain texts and under
/// 6 KiB whatever the texts hold.
pub const MAX_VIOLATION_BYTES: usize = 768;
/// Longest field name or description sent, in bytes; longer ones are cut (at
/// a character boundary).
pub const MAX_VIOLATION_TEXT_BYTES: usize = 200;

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

    /// A calendar day inside the request time range: the date, or `None`
    /// with the violation added.
    pub fn day(
        &mut self,
        year: i32,
        month: u32,
        day: u32,
        field: &str,
    ) -> Option<chrono::NaiveDate> {
        match crate::convert::calendar_day(year, month, day, field) {
            Ok(date) => Some(date),
            Err(ServiceError::InvalidArgument(found)) => {
                self.0.extend(found.0);
                None
            }
            Err(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// The violations a caller is sent: the first ones, at most
    /// [`MAX_VIOLATIONS_SENT`] and [`MAX_VIOLATION_BYTES`] of text.
    fn sent(&self) -> &[FieldViolation] {
        let mut bytes = 0;
        let mut count = 0;
        for v in self.0.iter().take(MAX_VIOLATIONS_SENT) {
            bytes += clip(&v.field).len() + clip(&v.description).len();
            if count > 0 && bytes > MAX_VIOLATION_BYTES {
                break;
            }
            count += 1;
        }
        &self.0[..count]
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

/// The first [`MAX_VIOLATION_TEXT_BYTES`] bytes of `text`, cut at a character
/// boundary, with an ellipsis when something was cut.
fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_VIOLATION_TEXT_BYTES {
        return text.into();
    }
    let mut end = MAX_VIOLATION_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// The message of an `INVALID_ARGUMENT`: the violations sent, then how many
/// more there were.
impl fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sent = self.sent();
        for (i, v) in sent.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", clip(&v.field), clip(&v.description))?;
        }
        let more = self.0.len() - sent.len();
        if more > 0 {
            write!(f, "; … and {more} more")?;
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
    /// The caller's deadline passed before the work was committed: nothing
    /// was stored (see [`crate::Deadline`]).
    #[error("the deadline passed before the call was done")]
    DeadlineExceeded,
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
                for v in violations.sent() {
                    details.add_bad_request_violation(clip(&v.field), clip(&v.description));
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
            ServiceError::DeadlineExceeded => tonic::Status::deadline_exceeded(
                "the deadline passed before the call was done; nothing was stored",
            ),
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
    fn a_hundred_violations_send_the_first_few_and_a_count() {
        let mut v = FieldViolations::new();
        for i in 0..100 {
            v.add(
                format!("topics[{i}]"),
                "must be 1 to 64 lower-case letters, digits, _ or -",
            );
        }
        let status: tonic::Status = v.into_result().expect_err("invalid").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("topics[0]: must be"));
        // About 60 bytes each: a dozen fit the budget, and the count says the rest.
        let sent = status.message().matches("topics[").count();
        assert!(
            (10..=MAX_VIOLATIONS_SENT).contains(&sent),
            "{}",
            status.message()
        );
        assert!(
            status.message().ends_with(&format!(
                "topics[{}]: must be 1 to 64 lower-case letters, digits, _ or -; … and {} more",
                sent - 1,
                100 - sent
            )),
            "{}",
            status.message()
        );
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("field violations attached");
        assert_eq!(bad_request.field_violations.len(), sent);
        // What goes on the wire: the message and the details, percent- and
        // base64-encoded in the trailers; well under the 8 KiB gRPC-core allows.
        let mut trailers = http::HeaderMap::new();
        status.add_header(&mut trailers).expect("encodable");
        let size: usize = trailers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        assert!(size < 4096, "{size} bytes of trailers");
    }

    #[test]
    fn trailers_stay_small_whatever_the_texts_hold() {
        let mut v = FieldViolations::new();
        for i in 0..1000 {
            v.add(format!("{}[{i}]", "ü".repeat(500)), "\u{1F4A9}".repeat(500));
        }
        let status: tonic::Status = v.into_result().expect_err("invalid").into();
        let mut trailers = http::HeaderMap::new();
        status.add_header(&mut trailers).expect("encodable");
        let size: usize = trailers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        assert!(size < 6 * 1024, "{size} bytes of trailers");
        assert!(status.message().ends_with("more"));
    }

    #[test]
    fn long_violation_texts_are_cut_at_a_character_boundary() {
        let mut v = FieldViolations::new();
        v.add("title", "é".repeat(1000));
        let status: tonic::Status = v.into_result().expect_err("invalid").into();
        assert!(status.message().len() <= MAX_VIOLATION_TEXT_BYTES + "title: …".len() + 4);
        assert!(status.message().ends_with('…'));
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("attached");
        assert!(bad_request.field_violations[0].description.len() <= MAX_VIOLATION_TEXT_BYTES + 3);
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
