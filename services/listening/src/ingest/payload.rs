//! Ingesting a source's own payload: adapt it, then ingest what adapted,
//! reporting per item what could not be adapted and what is not a mention.

use earshot_proto::listening::v1::{AdaptFailure, IngestPayloadResponse, PayloadKind};
use earshot_server::{ServiceError, invalid};

use super::Ingestor;
use crate::adapters::{self, SourceKind};

fn source_kind(kind: i32) -> Result<SourceKind, ServiceError> {
    Ok(match PayloadKind::try_from(kind) {
        Ok(PayloadKind::X) => SourceKind::X,
        Ok(PayloadKind::Facebook) => SourceKind::Facebook,
        Ok(PayloadKind::Instagram) => SourceKind::Instagram,
        Ok(PayloadKind::Review) => SourceKind::Review,
        Ok(PayloadKind::Email) => SourceKind::Email,
        Ok(PayloadKind::Chat) => SourceKind::Chat,
        Ok(PayloadKind::Phone) => SourceKind::Phone,
        Ok(PayloadKind::Unspecified) | Err(_) => {
            return Err(invalid("kind", "must be a known payload kind"));
        }
    })
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
            Ok(a) => {
                positions.push(item as u64);
                adapted.push((a.mention, Some(a.raw.to_string())));
            }
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
        let mut response = ingestor.ingest_with_raw(tenant_id, adapted).await?;
        for r in &mut response.results {
            r.index = positions[r.index as usize];
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
}
