//! Ingesting a source's own payload: adapt it, then ingest what adapted,
//! reporting per item what could not be adapted and what is not a mention.

use earshot_proto::listening::v1::{AdaptFailure, IngestPayloadResponse, PayloadKind};
use earshot_server::{ServiceError, invalid};
use serde_json::Value;

use super::{Incoming, Ingestor, reindex};
use crate::adapters::{self, SourceKind};
use crate::mention::NUL;

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
    let batch = adapters::adapt(kind, payload).map_err(|e| {
        let field = match e.path() {
            "" => "payload".to_owned(),
            path => format!("payload.{path}"),
        };
        invalid(field, e.to_string())
    })?;

    let mut failures = Vec::new();
    let mut positions = Vec::new();
    let mut adapted = Vec::new();
    for (item, result) in batch.items.into_iter().enumerate() {
        match result {
            // The raw item is stored as jsonb, which refuses NUL like text
            // does; the mention's own fields are checked with every ingest.
            Ok(a) => match json_nul(&a.raw, String::new()) {
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
    let skipped = batch
        .skipped
        .into_iter()
        .map(|s| format!("{}: {}", s.path, s.reason))
        .collect();
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
    Ok(IngestPayloadResponse {
        ingested,
        failures,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
