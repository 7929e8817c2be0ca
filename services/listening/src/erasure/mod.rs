//! What listening does with what the case service tells it: a customer
//! forgotten (`CustomerErased`) loses every mention they wrote, found by
//! their identities and by the mentions threaded into their cases, with the
//! labels on them; listening answers with `ErasureCompleted`, naming the
//! mentions, so that services holding what they derived from them erase it
//! too. A tenant's retention period (`RetentionChanged`) is kept for the
//! retention job, which deletes mentions heard longer ago.
//!
//! The noise window holds no texts: fingerprints, and for 24 hours the
//! handle of each recent author (to tell one author repeating itself), in
//! each replica's memory; it ages out and is never stored.

pub mod store;

use earshot_outbox::{Outbox, new_event};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::{CustomerErased, ErasureCompleted, Event, RetentionChanged, event};
use earshot_server::retention::{self, RetentionJob};
use earshot_server::{EventHandler, ServiceError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::NAME;

/// Platforms whose handles are not case-sensitive, as the case service
/// stores identities on them.
const CASE_INSENSITIVE_HANDLES: [&str; 3] = ["x", "instagram", "facebook"];

/// An identity as the case service stores it (see `CustomerErased`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub platform: String,
    pub value: String,
}

/// The platform a mention's author speaks on, as the case service names
/// it: the source when it is a word (`trustpilot`), else the channel's.
pub fn platform(channel: i16, source: &str) -> String {
    let source = source.trim().to_ascii_lowercase();
    if !source.is_empty()
        && source.len() <= 32
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return source;
    }
    match Channel::try_from(i32::from(channel)).unwrap_or(Channel::Unspecified) {
        Channel::Unspecified => "unknown".to_owned(),
        other => other
            .as_str_name()
            .trim_start_matches("CHANNEL_")
            .to_ascii_lowercase(),
    }
}

/// An author's id or handle on `platform` as the case service stores it:
/// addresses lower-cased, numbers as digits (with a leading + kept),
/// handles without a leading @, lower-cased where the platform ignores case.
pub fn normalise(platform: &str, raw: &str) -> String {
    let raw = raw.trim();
    match platform {
        "email" => raw.to_lowercase(),
        "phone" => {
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            if raw.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            }
        }
        _ => {
            let handle = raw.trim_start_matches('@');
            if CASE_INSENSITIVE_HANDLES.contains(&platform) {
                handle.to_lowercase()
            } else {
                handle.to_owned()
            }
        }
    }
}

/// Whether a mention's author is one of `identities`.
pub fn written_by(author: &store::Author, identities: &[Identity]) -> bool {
    let platform = platform(author.channel, &author.source);
    [&author.author_external_id, &author.author_handle]
        .into_iter()
        .filter(|raw| !raw.trim().is_empty())
        .any(|raw| {
            let value = normalise(&platform, raw);
            identities
                .iter()
                .any(|i| i.platform == platform && i.value == value)
        })
}

/// Erases one customer's mentions; answers the mentions erased and how many
/// rows went (mentions and their labels).
pub async fn erase(
    conn: &mut PgConnection,
    tenant_id: &str,
    erased: &CustomerErased,
) -> Result<(Vec<Uuid>, u64), sqlx::Error> {
    let identities: Vec<Identity> = erased
        .identities
        .iter()
        .map(|i| Identity {
            platform: i.platform.clone(),
            value: i.value.clone(),
        })
        .collect();
    let mut ids: Vec<Uuid> = erased
        .mention_ids
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect();
    if !identities.is_empty() {
        let candidates = store::candidates(conn, tenant_id, &identities).await?;
        ids.extend(
            candidates
                .into_iter()
                .filter(|a| written_by(a, &identities))
                .map(|a| a.id),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    store::delete(conn, tenant_id, &ids).await
}

/// Listening's `EventSink` handler: it hears the case service only.
pub struct ListeningEvents;

impl EventHandler for ListeningEvents {
    const PRODUCERS: &'static [&'static str] = &["case"];

    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let mut answers = Vec::new();
        let mut retention: Vec<(String, RetentionChanged)> = Vec::new();
        for e in events {
            match e.payload {
                Some(event::Payload::CustomerErased(erased)) => {
                    let (mentions, records) = erase(conn, &e.tenant_id, &erased).await?;
                    answers.push(new_event(
                        NAME,
                        &e.tenant_id,
                        erased.customer_id.clone(),
                        event::Payload::ErasureCompleted(ErasureCompleted {
                            erasure_id: erased.erasure_id,
                            service: NAME.to_owned(),
                            records_erased: records,
                            mention_ids: mentions.iter().map(Uuid::to_string).collect(),
                        }),
                    ));
                }
                Some(event::Payload::RetentionChanged(change)) => {
                    retention.push((e.tenant_id, change));
                }
                _ => {}
            }
        }
        retention::record(conn, &retention).await?;
        outbox.enqueue(conn, answers).await?;
        Ok(())
    }
}

/// Deletes mentions heard longer ago than their tenant's period, with their
/// labels and identity keys, where a whole month cannot go at once (see
/// [`crate::mention::partitions`]). Mention ids are UUIDv7 minted on arrival, so the primary key
/// (tenant, id) finds them without an index on time, which the ingest path
/// would pay for on every mention: the bound is the v7 id of the cut-off
/// (its millisecond prefix, the rest zero).
pub fn job() -> RetentionJob {
    RetentionJob {
        name: "mention retention",
        delete: "WITH old AS (
                     SELECT m.tenant_id, m.id FROM retention_policies r
                       JOIN mentions m
                         ON m.tenant_id = r.tenant_id
                        AND m.id < mention_id_floor(now() - make_interval(days => r.days))
                      WHERE r.days > 0
                      LIMIT $1
                        FOR UPDATE OF m SKIP LOCKED
                 ), labels AS (
                     DELETE FROM mention_labels l USING old
                      WHERE l.tenant_id = old.tenant_id AND l.mention_id = old.id
                 ), keys AS (
                     DELETE FROM mention_keys k USING old
                      WHERE k.tenant_id = old.tenant_id AND k.mention_id = old.id
                 )
                 DELETE FROM mentions m USING old
                  WHERE m.tenant_id = old.tenant_id AND m.id = old.id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(channel: Channel, source: &str, external_id: &str, handle: &str) -> store::Author {
        store::Author {
            id: Uuid::nil(),
            channel: channel as i16,
            source: source.into(),
            author_external_id: external_id.into(),
            author_handle: handle.into(),
        }
    }

    fn identity(platform: &str, value: &str) -> Identity {
        Identity {
            platform: platform.into(),
            value: value.into(),
        }
    }

    #[test]
    fn authors_match_identities_as_the_case_service_stores_them() {
        let tweet = author(Channel::X, "x", "2244994945", "@Jane_Doe");
        assert!(written_by(&tweet, &[identity("x", "2244994945")]));
        assert!(written_by(&tweet, &[identity("x", "jane_doe")]));
        // The same handle on another platform is someone else.
        assert!(!written_by(&tweet, &[identity("instagram", "jane_doe")]));
        assert!(!written_by(&tweet, &[identity("x", "jane_do")]));

        let call = author(Channel::Phone, "", "+44 20 7946-0018", "");
        assert!(written_by(&call, &[identity("phone", "+442079460018")]));
        let mail = author(Channel::Email, "", "Jane.Doe@Example.com", "");
        assert!(written_by(
            &mail,
            &[identity("email", "jane.doe@example.com")]
        ));
        let review = author(Channel::Review, "trustpilot", "", "Verified Buyer");
        assert!(written_by(
            &review,
            &[identity("trustpilot", "Verified Buyer")]
        ));
        // Handles keep their case where the platform tells cases apart.
        assert!(!written_by(
            &review,
            &[identity("trustpilot", "verified buyer")]
        ));
    }
}
