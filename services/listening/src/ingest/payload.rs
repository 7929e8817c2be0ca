//! Ingesting a source's own payload: adapt it, then ingest what adapted,
//! reporting per item what could not be adapted and what is not a mention,
//! and for the payload as a whole a summary no caller can miss.
//!
//! The rule: every item is counted once, as accepted, duplicate, skipped
//! (not a mention) or failed (not adapted, or rejected at ingest). When
//! items failed and nothing was heard or skipped, the call fails with
//! `INVALID_ARGUMENT` naming the failing fields (nothing was stored);
//! otherwise it answers OK with the per-item results, the summary and its
//! outcome, and the same summary in the `earshot-ingest-summary` header.

use earshot_proto::listening::v1::{
    AdaptFailure, IngestOutcome, IngestPayloadResponse, IngestStatus, IngestSummary, PayloadKind,
    SkippedItem,
};
use earshot_server::{FieldViolations, ServiceError, invalid};
use serde_json::Value;

use super::{Incoming, Ingestor, reindex};
use crate::adapters::{self, SourceKind, WHOLE_PAYLOAD};
use crate::mention::NUL;

/// The response header that carries [`summary_header`].
pub const SUMMARY_HEADER: &str = "earshot-ingest-summary";

fn source_kind(kind: i32) -> Result<SourceKind, ServiceError> {
    Ok(match PayloadKind::try_from(kind) {
        Ok(PayloadKind::X) => SourceKind::X,
        Ok(PayloadKind::Facebook) => SourceKind::Facebook,
        Ok(PayloadKind::Instagram) => SourceKind::Instagram,
        Ok(PayloadKind::Review) => SourceKind::Review,
        Ok(PayloadKind::Email) => SourceKind::Email,
        Ok(PayloadKind::Chat) => SourceKind::Chat,
        Ok(PayloadKind::Phone) => SourceKind::Phone,
        Ok(PayloadKind::Whatsapp) => SourceKind::WhatsApp,
        Ok(PayloadKind::Unspecified) | Err(_) => {
            return Err(invalid("kind", "must be a known payload kind"));
        }
    })
}

/// The path inside `value` of the first string (or key) holding a NUL, or
/// `payload` for a NUL at the root (an e-mail's raw message).
fn json_nul(value: &Value, path: String) -> Option<String> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "payload".to_owned()
        } else {
            path
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| json_nul(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(at("(a key)"))
            } else {
                json_nul(item, at(key))
            }
        }),
        _ => None,
    }
}

/// The field a payload-level error names: `payload`, or a path inside it.
fn payload_field(path: &str) -> String {
    match path {
        "" | WHOLE_PAYLOAD => WHOLE_PAYLOAD.to_owned(),
        path => format!("{WHOLE_PAYLOAD}.{path}"),
    }
}

pub async fn ingest_payload(
    ingestor: &Ingestor,
    tenant_id: &str,
    kind: i32,
    payload: &[u8],
) -> Result<IngestPayloadResponse, ServiceError> {
    let kind = source_kind(kind)?;
    if payload.is_empty() {
        return Err(invalid("payload", "must not be empty"));
    }
    let batch = adapters::adapt(kind, payload)
        .map_err(|e| invalid(payload_field(e.path()), e.description()))?;

    let mut failures = Vec::new();
    let mut positions = Vec::new();
    let mut adapted = Vec::new();
    for (item, result) in batch.items.into_iter().enumerate() {
        match result {
            // The raw item is stored as jsonb, which refuses NUL like text
            // does; the mention's own fields are checked with every ingest.
            Ok(a) => match json_nul(&a.raw, a.path.clone()) {
                Some(field) => failures.push(AdaptFailure {
                    item: item as u64,
                    field,
                    reason: format!("{NUL} (the item's JSON is kept for audit)"),
                }),
                None => {
                    positions.push(item as u64);
                    adapted.push(Incoming {
                        mention: a.mention,
                        raw: Some(a.raw.to_string()),
                        language_text: a.language_text,
                    });
                }
            },
            Err(e) => failures.push(AdaptFailure {
                item: item as u64,
                field: e.path().to_owned(),
                reason: e.to_string(),
            }),
        }
    }
    let skipped_items: Vec<SkippedItem> = batch
        .skipped
        .into_iter()
        .map(|s| SkippedItem {
            path: s.path,
            reason: s.reason,
        })
        .collect();
    // Nothing can be stored: refuse before the pipeline runs.
    if adapted.is_empty() && skipped_items.is_empty() {
        return Err(all_failed(&failures, &[]));
    }
    let ingested = if adapted.is_empty() {
        None
    } else {
        let mut response = ingestor.ingest_incoming(tenant_id, adapted).await?;
        for r in &mut response.results {
            let item = positions[r.index as usize];
            reindex(r, item);
        }
        Some(response)
    };
    let rejected: Vec<(u64, String, String)> = ingested
        .iter()
        .flat_map(|i| &i.results)
        .filter(|r| r.status == IngestStatus::Rejected as i32)
        .map(|r| (r.index, r.field.clone(), r.reason.clone()))
        .collect();
    let summary = summarise(
        ingested.as_ref().map_or(0, |i| i.accepted),
        ingested.as_ref().map_or(0, |i| i.duplicates),
        skipped_items.len(),
        failures.len() + rejected.len(),
    );
    // Adapted items that were all rejected, and nothing skipped: no different
    // from a payload whose items all failed to adapt (nothing was stored).
    if summary.outcome == IngestOutcome::AllFailed as i32 && skipped_items.is_empty() {
        return Err(all_failed(&failures, &rejected));
    }
    Ok(IngestPayloadResponse {
        ingested,
        failures,
        skipped: skipped_items
            .iter()
            .map(|s| format!("{}: {}", s.path, s.reason))
            .collect(),
        summary: Some(summary),
        skipped_items,
    })
}

/// The counts and the outcome they make; see [`IngestOutcome`].
fn summarise(accepted: u32, duplicates: u32, skipped: usize, failed: usize) -> IngestSummary {
    let heard = accepted + duplicates > 0;
    let outcome = match (heard, failed > 0) {
        (true, false) => IngestOutcome::AllHeard,
        (true, true) => IngestOutcome::Partial,
        (false, true) => IngestOutcome::AllFailed,
        (false, false) => IngestOutcome::NothingToHear,
    };
    IngestSummary {
        outcome: outcome as i32,
        accepted,
        duplicates,
        skipped: u32::try_from(skipped).unwrap_or(u32::MAX),
        failed: u32::try_from(failed).unwrap_or(u32::MAX),
    }
}

/// `INVALID_ARGUMENT` for a payload none of whose items could be heard, each
/// failing field named in item order: adapt failures as `payload.<path>`,
/// rejections at ingest as the adapted mention's field (`mentions[2].text`).
fn all_failed(failures: &[AdaptFailure], rejected: &[(u64, String, String)]) -> ServiceError {
    let mut named: Vec<(u64, String, String)> = failures
        .iter()
        .map(|f| {
            let reason = f
                .reason
                .strip_prefix(&format!("{}: ", f.field))
                .unwrap_or(&f.reason);
            (f.item, payload_field(&f.field), reason.to_owned())
        })
        .chain(rejected.iter().cloned())
        .collect();
    named.sort_by_key(|(item, _, _)| *item);
    let mut violations = FieldViolations::new();
    for (_, field, reason) in named {
        violations.add(field, reason);
    }
    ServiceError::InvalidArgument(violations)
}

/// The summary as one header value, e.g.
/// `outcome=partial accepted=3 duplicates=0 skipped=1 failed=1`.
pub fn summary_header(summary: &IngestSummary) -> String {
    let outcome = IngestOutcome::try_from(summary.outcome)
        .unwrap_or(IngestOutcome::Unspecified)
        .as_str_name()
        .trim_start_matches("INGEST_OUTCOME_")
        .to_ascii_lowercase();
    format!(
        "outcome={outcome} accepted={} duplicates={} skipped={} failed={}",
        summary.accepted, summary.duplicates, summary.skipped, summary.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_counts() {
        let outcome = |a, d, s, f| {
            IngestOutcome::try_from(summarise(a, d, s, f).outcome).expect("an outcome")
        };
        assert_eq!(outcome(3, 0, 1, 0), IngestOutcome::AllHeard);
        assert_eq!(outcome(0, 2, 0, 0), IngestOutcome::AllHeard);
        assert_eq!(outcome(3, 0, 1, 1), IngestOutcome::Partial);
        assert_eq!(outcome(0, 1, 0, 4), IngestOutcome::Partial);
        assert_eq!(outcome(0, 0, 2, 0), IngestOutcome::NothingToHear);
        assert_eq!(outcome(0, 0, 2, 1), IngestOutcome::AllFailed);
        assert_eq!(
            summary_header(&summarise(3, 0, 1, 1)),
            "outcome=partial accepted=3 duplicates=0 skipped=1 failed=1"
        );
        assert_eq!(
            summary_header(&summarise(0, 0, 1, 0)),
            "outcome=nothing_to_hear accepted=0 duplicates=0 skipped=1 failed=0"
        );
    }

    #[test]
    fn all_failed_names_every_field_in_item_order() {
        let failures = [
            AdaptFailure {
                item: 0,
                field: "data[0].author_id".into(),
                reason: "data[0].author_id: missing".into(),
            },
            AdaptFailure {
                item: 2,
                field: "data[2].text".into(),
                reason: "data[2].text: must be a string".into(),
            },
        ];
        let rejected = [(
            1,
            "mentions[1].text".to_owned(),
            "must not be empty".to_owned(),
        )];
        let status = tonic::Status::from(all_failed(&failures, &rejected));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "payload.data[0].author_id: missing; mentions[1].text: must not be empty; \
             payload.data[2].text: must be a string"
        );
        assert_eq!(payload_field(""), "payload");
        assert_eq!(payload_field("payload"), "payload");
        assert_eq!(payload_field("object"), "payload.object");
    }

    #[test]
    fn the_kind_is_required() {
        assert!(source_kind(PayloadKind::Email as i32).is_ok());
        for bad in [0, 99] {
            let err = source_kind(bad).expect_err("unknown kind");
            assert!(err.to_string().starts_with("kind:"), "{err}");
        }
    }

    #[test]
    fn a_nul_in_an_items_json_is_found_with_its_path() {
        let item = serde_json::json!({
            "id": "1",
            "from": {"name": "ok"},
            "tags": ["fine", "not\u{0}fine"],
        });
        assert_eq!(json_nul(&item, String::new()).as_deref(), Some("tags[1]"));
        // An item of a batch: the path from the payload's root.
        assert_eq!(
            json_nul(&item, "entry[0].changes[1].value".into()).as_deref(),
            Some("entry[0].changes[1].value.tags[1]")
        );
        let key = serde_json::json!({"from": {"na\u{0}me": "ok"}});
        assert_eq!(
            json_nul(&key, String::new()).as_deref(),
            Some("from.(a key)")
        );
        let email = Value::String("Subject: hi\r\n\r\n\u{0}".into());
        assert_eq!(json_nul(&email, String::new()).as_deref(), Some("payload"));
        assert_eq!(
            json_nul(&serde_json::json!({"a": [1, "b"]}), String::new()),
            None
        );
    }
}
