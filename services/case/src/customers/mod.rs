//! Customers: one profile per person with every identity they speak from, the
//! CRM's id, and the attributes that personalise their service. Every query
//! is scoped by tenant; every change is audited in its own transaction.

pub mod store;

use std::collections::{BTreeMap, HashMap};

use earshot_outbox::Outbox;
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use self::store::CustomerRow;
use crate::audit::{self, Record};
use crate::record::{self, Merge, Versioned};

const MAX_VALUE_CHARS: usize = 256;
/// Platforms whose handles are not case-sensitive: @JaneDoe is @janedoe.
const CASE_INSENSITIVE_HANDLES: [&str; 3] = ["x", "instagram", "facebook"];

/// A platform and the customer's id there, normalised so that the same person
/// written two ways is one identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub platform: String,
    pub value: String,
}

/// What is wrong with an identity: its platform or its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    Platform(&'static str),
    Value(&'static str),
}

impl IdentityError {
    pub fn message(self) -> &'static str {
        match self {
            IdentityError::Platform(m) | IdentityError::Value(m) => m,
        }
    }
}

impl Identity {
    /// Normalises and checks an identity: platforms are lower-case words,
    /// addresses are lower-cased, numbers keep their digits (and a leading +),
    /// handles lose a leading @ and are lower-cased where the platform does
    /// not tell cases apart.
    pub fn parse(platform: &str, value: &str) -> Result<Self, IdentityError> {
        let platform = platform.trim().to_ascii_lowercase();
        if platform.is_empty()
            || platform.len() > 32
            || !platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(IdentityError::Platform(
                "platform must be 1 to 32 lower-case letters, digits or _",
            ));
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(IdentityError::Value("value is required"));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(IdentityError::Value("value must be at most 256 characters"));
        }
        let value = match platform.as_str() {
            "email" => {
                let lower = value.to_lowercase();
                match lower.split_once('@') {
                    Some((local, domain)) if !local.is_empty() && domain.contains('.') => lower,
                    _ => return Err(IdentityError::Value("value must be an email address")),
                }
            }
            "phone" => {
                let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                if digits.len() < 5
                    || value
                        .chars()
                        .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
                {
                    return Err(IdentityError::Value("value must be a phone number"));
                }
                if value.starts_with('+') {
                    format!("+{digits}")
                } else {
                    digits
                }
            }
            _ => {
                let handle = value.trim_start_matches('@');
                if handle.is_empty() {
                    return Err(IdentityError::Value("value is required"));
                }
                if CASE_INSENSITIVE_HANDLES.contains(&platform.as_str()) {
                    handle.to_lowercase()
                } else {
                    handle.to_owned()
                }
            }
        };
        Ok(Self { platform, value })
    }

    /// `platform:value`, as the audit trail writes it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.platform, self.value)
    }

    /// The advisory-lock key of this identity in `tenant_id`.
    fn key(&self, tenant_id: &str) -> String {
        format!("{tenant_id}\u{1f}{}\u{1f}{}", self.platform, self.value)
    }
}

/// The platform a channel's identities live on: the source (e.g. `trustpilot`)
/// when it names one, else the channel's own platform.
pub fn platform_of(channel_platform: &str, source: &str) -> String {
    let source = source.trim().to_ascii_lowercase();
    if !source.is_empty()
        && source.len() <= 32
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return source;
    }
    channel_platform.to_owned()
}

/// Attributes as stored, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub tier: String,
    pub vip: bool,
    pub followers: i64,
    pub language: String,
    pub consent: i16,
}

/// A checked `CreateCustomer`.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub request_id: String,
    pub display_name: String,
    pub crm_external_id: Option<String>,
    pub attributes: Attributes,
    pub identities: Vec<Identity>,
}

/// A checked `UpdateCustomer`.
#[derive(Debug, Clone)]
pub struct CustomerUpdate {
    pub customer: Versioned,
    pub display_name: String,
    pub crm_external_id: Option<String>,
    pub attributes: Attributes,
}

/// A checked `LinkIdentity` or `UnlinkIdentity`.
#[derive(Debug, Clone)]
pub struct IdentityChange {
    pub customer: Versioned,
    pub identity: Identity,
}

/// A customer with the identities they hold.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub row: CustomerRow,
    pub identities: Vec<Identity>,
}

fn identity_labels(identities: &[Identity]) -> Vec<String> {
    identities.iter().map(Identity::label).collect()
}

/// Creates a customer, once per `request_id`: a retry returns the same one.
pub async fn create(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    new: NewCustomer,
) -> Result<CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    let row = match store::insert(&mut tx, tenant_id, &new).await? {
        Some(row) => {
            store::link_all(&mut tx, tenant_id, row.id, &new.identities).await?;
            let mut after = row.snapshot();
            after["identities"] = json!(identity_labels(&new.identities));
            audit::store::append(
                &mut tx,
                tenant_id,
                actor,
                &[Record::customer(
                    row.id,
                    "customer.created",
                    json!({}),
                    after,
                )],
            )
            .await?;
            row
        }
        None => store::by_request(&mut tx, tenant_id, &new.request_id).await?,
    };
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<CustomerView, ServiceError> {
    let mut conn = pool.acquire().await?;
    let row = store::get(&mut conn, tenant_id, id).await?;
    Ok(store::view(&mut conn, row).await?)
}

/// The customer holding `identity`.
pub async fn find(
    pool: &PgPool,
    tenant_id: &str,
    identity: &Identity,
) -> Result<CustomerView, ServiceError> {
    let mut conn = pool.acquire().await?;
    let id = store::holder(&mut conn, tenant_id, identity)
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound(format!("customer with identity {}", identity.label()))
        })?;
    let row = store::get(&mut conn, tenant_id, id).await?;
    Ok(store::view(&mut conn, row).await?)
}

pub async fn update(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    change: CustomerUpdate,
) -> Result<CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    let before = store::lock(&mut tx, tenant_id, change.customer).await?;
    let row = store::update(&mut tx, &change).await?;
    audit::store::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::customer(
            row.id,
            "customer.updated",
            before.snapshot(),
            row.snapshot(),
        )],
    )
    .await?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

/// Links `identity` to the customer. Linking one it already holds changes
/// nothing; one another customer holds is `ALREADY_EXISTS` (merge them instead).
pub async fn link(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    change: IdentityChange,
) -> Result<CustomerView, ServiceError> {
    let IdentityChange { customer, identity } = change;
    let mut tx = pool.begin().await?;
    let row = store::lock(&mut tx, tenant_id, customer).await?;
    let row = match store::holder(&mut tx, tenant_id, &identity).await? {
        Some(holder) if holder == customer.id => row,
        Some(holder) => {
            return Err(ServiceError::AlreadyExists(format!(
                "identity {} is linked to customer {holder}; merge the two customers instead",
                identity.label()
            )));
        }
        None => {
            store::link_all(
                &mut tx,
                tenant_id,
                customer.id,
                std::slice::from_ref(&identity),
            )
            .await?;
            let row = store::bump(&mut tx, customer.id).await?;
            audit::store::append(
                &mut tx,
                tenant_id,
                actor,
                &[Record::customer(
                    customer.id,
                    "customer.identity_linked",
                    json!({}),
                    json!({ "identity": identity.label() }),
                )],
            )
            .await?;
            row
        }
    };
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn unlink(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    change: IdentityChange,
) -> Result<CustomerView, ServiceError> {
    let IdentityChange { customer, identity } = change;
    let mut tx = pool.begin().await?;
    store::lock(&mut tx, tenant_id, customer).await?;
    if !store::unlink(&mut tx, tenant_id, customer.id, &identity).await? {
        return Err(ServiceError::NotFound(format!(
            "identity {} of customer {}",
            identity.label(),
            customer.id
        )));
    }
    let row = store::bump(&mut tx, customer.id).await?;
    audit::store::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::customer(
            customer.id,
            "customer.identity_unlinked",
            json!({ "identity": identity.label() }),
            json!({}),
        )],
    )
    .await?;
    let view = store::view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

/// Folds `source` into `target`: identities move, cases re-point (each bumps
/// its version and tells subscribers), the target takes what it lacks (CRM id,
/// tier, language, the larger audience, VIP), and the source points at the
/// target.
pub async fn merge(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    merge: Merge,
) -> Result<CustomerView, ServiceError> {
    let (source, target) = (merge.source.id, merge.target.id);
    let mut tx = pool.begin().await?;
    // Lock in id order so two opposite merges cannot deadlock.
    let (first, second) = if source < target {
        (merge.source, merge.target)
    } else {
        (merge.target, merge.source)
    };
    let a = store::lock(&mut tx, tenant_id, first).await?;
    let b = store::lock(&mut tx, tenant_id, second).await?;
    let (src, tgt) = if a.id == source { (a, b) } else { (b, a) };

    let moved = store::move_identities(&mut tx, source, target).await?;
    let moved_cases = record::store::repoint_customer(&mut tx, tenant_id, source, target).await?;
    let merged = store::fold(&mut tx, &src, &tgt).await?;

    let moved_labels = identity_labels(&moved);
    let case_ids: Vec<String> = moved_cases
        .iter()
        .map(|(id, _, _)| id.to_string())
        .collect();
    let mut records = vec![
        Record::customer(
            source,
            "customer.merged_into",
            src.snapshot(),
            json!({ "merged_into": target.to_string(), "identities_moved": moved_labels, "cases_moved": case_ids }),
        ),
        Record::customer(target, "customer.merged_from", tgt.snapshot(), {
            let mut after = merged.snapshot();
            after["merged_from"] = json!(source.to_string());
            after["identities_moved"] = json!(moved_labels);
            after["cases_moved"] = json!(case_ids);
            after
        }),
    ];
    for (case_id, _, _) in &moved_cases {
        records.push(Record {
            case_id: Some(*case_id),
            customer_id: Some(target),
            action: "case.customer_changed",
            before: json!({ "customer_id": source.to_string() }),
            after: json!({ "customer_id": target.to_string(), "reason": "customers merged" }),
        });
    }
    audit::store::append(&mut tx, tenant_id, actor, &records).await?;
    let events = moved_cases
        .iter()
        .map(|(id, version, status)| record::case_updated(tenant_id, *id, *status, *version))
        .collect();
    record::store::enqueue(&mut tx, outbox, events).await?;
    let view = store::view(&mut tx, merged).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(view)
}

/// Who spoke in a mention or contact, to find or create their customer.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub tenant_id: String,
    /// How they are told apart (a platform's user id where there is one):
    /// linked to their profile.
    pub identity: Identity,
    /// Other identities they are known by (their handle): a profile holding
    /// one is theirs when none holds `identity`.
    pub also_known_as: Vec<Identity>,
    pub display_name: String,
    pub followers: i64,
    pub language: String,
}

/// The customer of each speaker: the one holding their identity, else the one
/// holding one of the identities they are also known by (their identity is
/// then linked to it), else a new profile with their identity linked.
/// Set-based: a fixed number of statements whatever the number of speakers.
/// Concurrent callers linking the same identity are serialised by a
/// transaction-level advisory lock per identity.
pub async fn find_or_create(
    conn: &mut PgConnection,
    speakers: &[Speaker],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if speakers.is_empty() {
        return Ok(Vec::new());
    }
    // Distinct identities, in a stable order (locks are taken in this order).
    let mut distinct: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in speakers.iter().enumerate() {
        distinct.entry(s.identity.key(&s.tenant_id)).or_insert(i);
    }
    let keys: Vec<&str> = distinct.keys().map(String::as_str).collect();
    store::lock_keys(conn, &keys).await?;

    let firsts: Vec<&Speaker> = distinct.values().map(|&i| &speakers[i]).collect();
    let mut by_key = store::holders(conn, &firsts).await?;

    // Known by another name: their identity joins that profile.
    let known_as = store::holders_of_aliases(conn, &firsts).await?;
    let mut links: Vec<(&Speaker, Uuid)> = Vec::new();
    for (i, found) in known_as.into_iter().enumerate() {
        if let (None, Some(id)) = (by_key[i], found) {
            by_key[i] = Some(id);
            links.push((firsts[i], id));
        }
    }
    store::link_speakers(conn, &links).await?;

    // New profiles for identities never seen.
    let missing: Vec<&Speaker> = (0..firsts.len())
        .filter(|&i| by_key[i].is_none())
        .map(|i| firsts[i])
        .collect();
    let mut created = store::create_for(conn, &missing).await?.into_iter();
    for slot in by_key.iter_mut().filter(|slot| slot.is_none()) {
        *slot = created.next();
    }

    let index: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let result: Vec<Uuid> = speakers
        .iter()
        .map(|s| {
            let key = s.identity.key(&s.tenant_id);
            index
                .get(key.as_str())
                .and_then(|&i| by_key[i])
                .expect("every identity was found or created")
        })
        .collect();

    // Existing profiles learn a larger audience than they knew.
    let mut largest: HashMap<Uuid, i64> = HashMap::new();
    for (s, id) in speakers.iter().zip(&result) {
        let entry = largest.entry(*id).or_insert(0);
        *entry = (*entry).max(s.followers);
    }
    let (ids, followers): (Vec<Uuid>, Vec<i64>) =
        largest.into_iter().filter(|(_, f)| *f > 0).unzip();
    store::grow_followers(conn, &ids, &followers).await?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_normalised() {
        let email = Identity::parse(" Email ", " Jane.Doe@Example.COM ").expect("valid");
        assert_eq!(
            (email.platform.as_str(), email.value.as_str()),
            ("email", "jane.doe@example.com")
        );
        let phone = Identity::parse("phone", "+44 20 7946-0018").expect("valid");
        assert_eq!(phone.value, "+442079460018");
        let handle = Identity::parse("x", "@jane_doe").expect("valid");
        assert_eq!(handle.value, "jane_doe");
    }

    #[test]
    fn bad_identities_say_what_is_wrong() {
        assert!(
            Identity::parse("", "x")
                .expect_err("no platform")
                .message()
                .starts_with("platform")
        );
        assert!(Identity::parse("Face Book", "x").is_err());
        assert!(
            Identity::parse("x", "  ")
                .expect_err("empty")
                .message()
                .starts_with("value")
        );
        assert!(Identity::parse("email", "not-an-address").is_err());
        assert!(Identity::parse("phone", "call me").is_err());
        assert!(Identity::parse("x", &"a".repeat(300)).is_err());
    }

    #[test]
    fn platforms_come_from_the_source_or_the_channel() {
        assert_eq!(platform_of("review", "trustpilot"), "trustpilot");
        assert_eq!(platform_of("web_form", ""), "web_form");
        assert_eq!(platform_of("x", "X"), "x");
        assert_eq!(platform_of("email", "not a word"), "email");
    }
}
