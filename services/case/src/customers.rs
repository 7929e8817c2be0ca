//! Customers: one profile per person with every identity they speak from, the
//! CRM's id, and the attributes that personalise their service. Every query
//! is scoped by tenant; every change is audited in its own transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use earshot_proto::case::v1::{
    Consent, CreateCustomerRequest, Customer, CustomerAttributes, Identity as IdentityProto,
    UpdateCustomerRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_server::convert::timestamp;
use earshot_server::{FieldViolations, ServiceError};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Record};

const MAX_VALUE_CHARS: usize = 256;
const MAX_NAME_CHARS: usize = 200;

/// A platform and the customer's id there, normalised so that the same person
/// written two ways is one identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub platform: String,
    pub value: String,
}

impl Identity {
    /// Normalises and checks an identity: platforms are lower-case words,
    /// addresses are lower-cased, numbers keep their digits (and a leading +),
    /// handles lose a leading @.
    pub fn parse(platform: &str, value: &str) -> Result<Self, &'static str> {
        let platform = platform.trim().to_ascii_lowercase();
        if platform.is_empty()
            || platform.len() > 32
            || !platform
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err("platform must be 1 to 32 lower-case letters, digits or _");
        }
        let value = value.trim();
        if value.is_empty() {
            return Err("value is required");
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err("value must be at most 256 characters");
        }
        let value = match platform.as_str() {
            "email" => {
                let lower = value.to_lowercase();
                match lower.split_once('@') {
                    Some((local, domain)) if !local.is_empty() && domain.contains('.') => lower,
                    _ => return Err("value must be an email address"),
                }
            }
            "phone" => {
                let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                if digits.len() < 5
                    || value
                        .chars()
                        .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
                {
                    return Err("value must be a phone number");
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
                    return Err("value is required");
                }
                handle.to_owned()
            }
        };
        Ok(Self { platform, value })
    }

    /// A request's identity; `field` names it in violations.
    pub fn from_proto(
        identity: Option<&IdentityProto>,
        field: &str,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(identity) = identity else {
            violations.add(field, "is required");
            return None;
        };
        match Self::parse(&identity.platform, &identity.value) {
            Ok(id) => Some(id),
            Err(msg) => {
                let sub = if msg.starts_with("platform") {
                    "platform"
                } else {
                    "value"
                };
                violations.add(format!("{field}.{sub}"), msg);
                None
            }
        }
    }

    pub fn to_proto(&self) -> IdentityProto {
        IdentityProto {
            platform: self.platform.clone(),
            value: self.value.clone(),
        }
    }

    fn key(&self, tenant_id: &str) -> String {
        format!("{tenant_id}\u{1f}{}\u{1f}{}", self.platform, self.value)
    }
}

/// The platform a channel's identities live on: the source (e.g. `trustpilot`)
/// when it names one, else the channel.
pub fn platform_of(channel: Channel, source: &str) -> String {
    let source = source.trim().to_ascii_lowercase();
    if !source.is_empty()
        && source.len() <= 32
        && source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return source;
    }
    match channel {
        Channel::Unspecified => "unknown".to_owned(),
        other => other
            .as_str_name()
            .trim_start_matches("CHANNEL_")
            .to_ascii_lowercase(),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub display_name: String,
    pub crm_external_id: Option<String>,
    pub tier: String,
    pub vip: bool,
    pub followers: i64,
    pub language: String,
    pub consent: i16,
    pub merged_into: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, display_name, crm_external_id, tier, vip, followers, language, consent, \
                       merged_into, version, created_at, updated_at";

impl CustomerRow {
    fn snapshot(&self) -> serde_json::Value {
        json!({
            "display_name": self.display_name,
            "crm_external_id": self.crm_external_id,
            "tier": self.tier,
            "vip": self.vip,
            "followers": self.followers,
            "language": self.language,
            "consent": self.consent,
        })
    }
}

/// A customer with the identities they hold.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub row: CustomerRow,
    pub identities: Vec<Identity>,
}

pub fn to_proto(view: CustomerView) -> Customer {
    let row = view.row;
    Customer {
        customer_id: row.id.to_string(),
        display_name: row.display_name,
        crm_external_id: row.crm_external_id.unwrap_or_default(),
        attributes: Some(CustomerAttributes {
            tier: row.tier,
            vip: row.vip,
            followers: u64::try_from(row.followers).unwrap_or(0),
            language: row.language,
            consent: i32::from(row.consent),
        }),
        identities: view.identities.iter().map(Identity::to_proto).collect(),
        version: row.version,
        merged_into_customer_id: row.merged_into.map(|id| id.to_string()).unwrap_or_default(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
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

fn attributes(raw: Option<&CustomerAttributes>, v: &mut FieldViolations) -> Attributes {
    let Some(a) = raw else {
        return Attributes::default();
    };
    let tier = a.tier.trim().to_owned();
    v.check(
        tier.chars().count() > 64,
        "attributes.tier",
        "must be at most 64 characters",
    );
    let language = a.language.trim().to_owned();
    v.check(
        !language.is_empty()
            && (language.len() > 35
                || !language
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')),
        "attributes.language",
        "must be a BCP 47 language tag such as en or pt-BR",
    );
    v.check(
        Consent::try_from(a.consent).is_err(),
        "attributes.consent",
        "must be a known consent value",
    );
    let followers = i64::try_from(a.followers).unwrap_or(i64::MAX);
    Attributes {
        tier,
        vip: a.vip,
        followers,
        language,
        consent: i16::try_from(a.consent).unwrap_or(0),
    }
}

fn name_and_crm(
    display_name: &str,
    crm: &str,
    v: &mut FieldViolations,
) -> (String, Option<String>) {
    let name = display_name.trim().to_owned();
    v.check(
        name.chars().count() > MAX_NAME_CHARS,
        "display_name",
        "must be at most 200 characters",
    );
    let crm = crm.trim();
    v.check(
        crm.chars().count() > 128,
        "crm_external_id",
        "must be at most 128 characters",
    );
    (name, (!crm.is_empty()).then(|| crm.to_owned()))
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

pub fn validate_create(req: &CreateCustomerRequest) -> Result<NewCustomer, ServiceError> {
    let mut v = FieldViolations::new();
    let request_id = v.request_id(&req.request_id);
    let (display_name, crm_external_id) =
        name_and_crm(&req.display_name, &req.crm_external_id, &mut v);
    let attributes = attributes(req.attributes.as_ref(), &mut v);
    v.check(
        req.identities.len() > 50,
        "identities",
        "must hold at most 50 identities",
    );
    let mut identities: Vec<Identity> = Vec::new();
    for (i, raw) in req.identities.iter().enumerate() {
        if let Some(id) = Identity::from_proto(Some(raw), &format!("identities[{i}]"), &mut v)
            && !identities.contains(&id)
        {
            identities.push(id);
        }
    }
    v.into_result()?;
    Ok(NewCustomer {
        request_id: request_id.to_owned(),
        display_name,
        crm_external_id,
        attributes,
        identities,
    })
}

/// A checked `UpdateCustomer`.
#[derive(Debug, Clone)]
pub struct CustomerUpdate {
    pub display_name: String,
    pub crm_external_id: Option<String>,
    pub attributes: Attributes,
}

/// Checks an `UpdateCustomer`'s fields, gathering what is wrong into `v`.
pub fn check_update(req: &UpdateCustomerRequest, v: &mut FieldViolations) -> CustomerUpdate {
    let (display_name, crm_external_id) = name_and_crm(&req.display_name, &req.crm_external_id, v);
    let attributes = attributes(req.attributes.as_ref(), v);
    CustomerUpdate {
        display_name,
        crm_external_id,
        attributes,
    }
}

/// Translates a unique violation of the customer tables into what the caller did wrong.
fn conflict(e: sqlx::Error) -> ServiceError {
    if let sqlx::Error::Database(db) = &e {
        match db.constraint() {
            Some("customers_one_per_crm_id") => {
                return ServiceError::AlreadyExists(
                    "another customer of this tenant has that crm_external_id".to_owned(),
                );
            }
            Some("customer_identities_pkey") => {
                return ServiceError::AlreadyExists(
                    "that identity is linked to another customer".to_owned(),
                );
            }
            _ => {}
        }
    }
    ServiceError::from(e)
}

async fn identities_of(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Identity>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT platform, value FROM customer_identities
          WHERE customer_id = $1 ORDER BY linked_at, platform, value",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(platform, value)| Identity { platform, value })
        .collect())
}

async fn view(conn: &mut PgConnection, row: CustomerRow) -> Result<CustomerView, sqlx::Error> {
    let identities = identities_of(conn, row.id).await?;
    Ok(CustomerView { row, identities })
}

/// Locks a customer of the tenant for a change, checking the version read.
async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    version: i64,
) -> Result<CustomerRow, ServiceError> {
    let row: CustomerRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))?;
    if let Some(into) = row.merged_into {
        return Err(ServiceError::FailedPrecondition(format!(
            "customer {id} was merged into {into}; change that one"
        )));
    }
    if row.version != version {
        return Err(ServiceError::Aborted(format!(
            "customer {id} changed since version {version}; it is at version {}: read it again",
            row.version
        )));
    }
    Ok(row)
}

async fn bump(conn: &mut PgConnection, id: Uuid) -> Result<CustomerRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE customers SET version = version + 1, updated_at = now() WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Creates a customer, once per `request_id`: a retry returns the same one.
pub async fn create(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    new: NewCustomer,
) -> Result<CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    let a = &new.attributes;
    let inserted: Option<CustomerRow> = sqlx::query_as(&format!(
        "INSERT INTO customers (id, tenant_id, display_name, crm_external_id, tier, vip, followers,
                                language, consent, request_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now())
         ON CONFLICT ON CONSTRAINT customers_one_per_request DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(&new.display_name)
    .bind(&new.crm_external_id)
    .bind(&a.tier)
    .bind(a.vip)
    .bind(a.followers)
    .bind(&a.language)
    .bind(a.consent)
    .bind(&new.request_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(conflict)?;
    let row = match inserted {
        Some(row) => {
            let platforms: Vec<&str> = new.identities.iter().map(|i| i.platform.as_str()).collect();
            let values: Vec<&str> = new.identities.iter().map(|i| i.value.as_str()).collect();
            sqlx::query(
                "INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
                 SELECT $1, p, v, $2, now() FROM unnest($3::text[], $4::text[]) AS u(p, v)",
            )
            .bind(tenant_id)
            .bind(row.id)
            .bind(&platforms)
            .bind(&values)
            .execute(&mut *tx)
            .await
            .map_err(conflict)?;
            let mut after = row.snapshot();
            after["identities"] = json!(identity_labels(&new.identities));
            audit::append(
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
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND request_id = $2"
            ))
            .bind(tenant_id)
            .bind(&new.request_id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let view = view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

fn identity_labels(identities: &[Identity]) -> Vec<String> {
    identities
        .iter()
        .map(|i| format!("{}:{}", i.platform, i.value))
        .collect()
}

pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<CustomerView, ServiceError> {
    let mut conn = pool.acquire().await?;
    let row: CustomerRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))?;
    Ok(view(&mut conn, row).await?)
}

/// The customer holding `identity`.
pub async fn find(
    pool: &PgPool,
    tenant_id: &str,
    identity: &Identity,
) -> Result<CustomerView, ServiceError> {
    let id: Uuid = sqlx::query_scalar(
        "SELECT customer_id FROM customer_identities
          WHERE tenant_id = $1 AND platform = $2 AND value = $3",
    )
    .bind(tenant_id)
    .bind(&identity.platform)
    .bind(&identity.value)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        ServiceError::NotFound(format!(
            "customer with identity {}:{}",
            identity.platform, identity.value
        ))
    })?;
    get(pool, tenant_id, id).await
}

pub async fn update(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    version: i64,
    change: CustomerUpdate,
) -> Result<CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    let before = lock(&mut tx, tenant_id, id, version).await?;
    let a = &change.attributes;
    let row: CustomerRow = sqlx::query_as(&format!(
        "UPDATE customers
            SET display_name = $2, crm_external_id = $3, tier = $4, vip = $5, followers = $6,
                language = $7, consent = $8, version = version + 1, updated_at = now()
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&change.display_name)
    .bind(&change.crm_external_id)
    .bind(&a.tier)
    .bind(a.vip)
    .bind(a.followers)
    .bind(&a.language)
    .bind(a.consent)
    .fetch_one(&mut *tx)
    .await
    .map_err(conflict)?;
    audit::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::customer(
            id,
            "customer.updated",
            before.snapshot(),
            row.snapshot(),
        )],
    )
    .await?;
    let view = view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

/// Links `identity` to the customer. Linking one it already holds changes
/// nothing; one another customer holds is `ALREADY_EXISTS` (merge them instead).
pub async fn link(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    version: i64,
    identity: Identity,
) -> Result<CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    let row = lock(&mut tx, tenant_id, id, version).await?;
    let holder: Option<Uuid> = sqlx::query_scalar(
        "SELECT customer_id FROM customer_identities
          WHERE tenant_id = $1 AND platform = $2 AND value = $3",
    )
    .bind(tenant_id)
    .bind(&identity.platform)
    .bind(&identity.value)
    .fetch_optional(&mut *tx)
    .await?;
    let row = match holder {
        Some(holder) if holder == id => row,
        Some(holder) => {
            return Err(ServiceError::AlreadyExists(format!(
                "identity {}:{} is linked to customer {holder}; merge the two customers instead",
                identity.platform, identity.value
            )));
        }
        None => {
            sqlx::query(
                "INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
                 VALUES ($1, $2, $3, $4, now())",
            )
            .bind(tenant_id)
            .bind(&identity.platform)
            .bind(&identity.value)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(conflict)?;
            let row = bump(&mut tx, id).await?;
            audit::append(
                &mut tx,
                tenant_id,
                actor,
                &[Record::customer(
                    id,
                    "customer.identity_linked",
                    json!({}),
                    json!({ "identity": format!("{}:{}", identity.platform, identity.value) }),
                )],
            )
            .await?;
            row
        }
    };
    let view = view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn unlink(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    version: i64,
    identity: Identity,
) -> Result<CustomerView, ServiceError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, tenant_id, id, version).await?;
    let removed = sqlx::query(
        "DELETE FROM customer_identities
          WHERE tenant_id = $1 AND platform = $2 AND value = $3 AND customer_id = $4",
    )
    .bind(tenant_id)
    .bind(&identity.platform)
    .bind(&identity.value)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed == 0 {
        return Err(ServiceError::NotFound(format!(
            "identity {}:{} of customer {id}",
            identity.platform, identity.value
        )));
    }
    let row = bump(&mut tx, id).await?;
    audit::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::customer(
            id,
            "customer.identity_unlinked",
            json!({ "identity": format!("{}:{}", identity.platform, identity.value) }),
            json!({}),
        )],
    )
    .await?;
    let view = view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(view)
}

/// What a merge of customers did, for the caller to emit events about.
pub struct CustomerMerge {
    pub target: CustomerView,
    /// Cases that moved to the target, with their new version.
    pub moved_cases: Vec<(Uuid, i64, i16)>,
}

/// Folds `source` into `target`: identities move, cases re-point (each bumps
/// its version), the target takes what it lacks (CRM id, tier, language, the
/// larger audience, VIP), and the source points at the target.
pub async fn merge(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    (source, source_version): (Uuid, i64),
    (target, target_version): (Uuid, i64),
) -> Result<CustomerMerge, ServiceError> {
    // Lock in id order so two opposite merges cannot deadlock.
    let (first, second) = if source < target {
        ((source, source_version), (target, target_version))
    } else {
        ((target, target_version), (source, source_version))
    };
    let a = lock(conn, tenant_id, first.0, first.1).await?;
    let b = lock(conn, tenant_id, second.0, second.1).await?;
    let (src, tgt) = if a.id == source { (a, b) } else { (b, a) };

    let moved: Vec<(String, String)> = sqlx::query_as(
        "UPDATE customer_identities SET customer_id = $2
          WHERE customer_id = $1 RETURNING platform, value",
    )
    .bind(source)
    .bind(target)
    .fetch_all(&mut *conn)
    .await?;
    let moved_cases: Vec<(Uuid, i64, i16)> = sqlx::query_as(
        "UPDATE cases SET customer_id = $3, version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND customer_id = $2
         RETURNING id, version, status",
    )
    .bind(tenant_id)
    .bind(source)
    .bind(target)
    .fetch_all(&mut *conn)
    .await?;
    // The source's CRM id moves only when the target has none.
    let crm = tgt.crm_external_id.clone().or(src.crm_external_id.clone());
    sqlx::query(
        "UPDATE customers SET merged_into = $2, version = version + 1, updated_at = now()
          WHERE id = $1",
    )
    .bind(source)
    .bind(target)
    .execute(&mut *conn)
    .await?;
    let merged: CustomerRow = sqlx::query_as(&format!(
        "UPDATE customers
            SET crm_external_id = $2,
                tier = CASE WHEN tier = '' THEN $3 ELSE tier END,
                language = CASE WHEN language = '' THEN $4 ELSE language END,
                followers = greatest(followers, $5),
                vip = vip OR $6,
                consent = CASE WHEN consent = 0 THEN $7 ELSE consent END,
                display_name = CASE WHEN display_name = '' THEN $8 ELSE display_name END,
                version = version + 1, updated_at = now()
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(target)
    .bind(&crm)
    .bind(&src.tier)
    .bind(&src.language)
    .bind(src.followers)
    .bind(src.vip)
    .bind(src.consent)
    .bind(&src.display_name)
    .fetch_one(&mut *conn)
    .await
    .map_err(conflict)?;

    let moved_labels: Vec<String> = moved.iter().map(|(p, v)| format!("{p}:{v}")).collect();
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
    audit::append(conn, tenant_id, actor, &records).await?;
    let target = view(conn, merged).await?;
    Ok(CustomerMerge {
        target,
        moved_cases,
    })
}

/// Who spoke in a mention or contact, to find or create their customer.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub tenant_id: String,
    pub identity: Identity,
    pub display_name: String,
    pub followers: i64,
    pub language: String,
}

/// The customer of each speaker, creating a profile (with the identity linked)
/// for identities never seen before. Set-based: a fixed number of statements
/// whatever the number of speakers. Concurrent callers creating the same
/// identity are serialised by a transaction-level advisory lock per identity.
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
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k",
    )
    .bind(&keys)
    .execute(&mut *conn)
    .await?;

    let firsts: Vec<&Speaker> = distinct.values().map(|&i| &speakers[i]).collect();
    let tenants: Vec<&str> = firsts.iter().map(|s| s.tenant_id.as_str()).collect();
    let platforms: Vec<&str> = firsts
        .iter()
        .map(|s| s.identity.platform.as_str())
        .collect();
    let values: Vec<&str> = firsts.iter().map(|s| s.identity.value.as_str()).collect();
    let found: Vec<(i64, Uuid)> = sqlx::query_as(
        "SELECT u.i, ci.customer_id
           FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(t, p, v, i)
           JOIN customer_identities ci
             ON ci.tenant_id = u.t AND ci.platform = u.p AND ci.value = u.v",
    )
    .bind(&tenants)
    .bind(&platforms)
    .bind(&values)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_key: Vec<Option<Uuid>> = vec![None; firsts.len()];
    for (i, id) in found {
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| by_key.get_mut(i)) {
            *slot = Some(id);
        }
    }

    // New profiles for identities never seen.
    let missing: Vec<usize> = (0..firsts.len()).filter(|&i| by_key[i].is_none()).collect();
    if !missing.is_empty() {
        let ids: Vec<Uuid> = missing.iter().map(|_| Uuid::now_v7()).collect();
        let pick = |f: &dyn Fn(&Speaker) -> &str| -> Vec<&str> {
            missing.iter().map(|&i| f(firsts[i])).collect()
        };
        let m_tenants = pick(&|s| s.tenant_id.as_str());
        let m_names = pick(&|s| s.display_name.as_str());
        let m_languages = pick(&|s| s.language.as_str());
        let m_platforms = pick(&|s| s.identity.platform.as_str());
        let m_values = pick(&|s| s.identity.value.as_str());
        let m_followers: Vec<i64> = missing.iter().map(|&i| firsts[i].followers).collect();
        sqlx::query(
            "INSERT INTO customers (id, tenant_id, display_name, followers, language, created_at,
                                    updated_at)
             SELECT id, t, n, f, l, now(), now()
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[])
                 AS u(id, t, n, f, l)",
        )
        .bind(&ids)
        .bind(&m_tenants)
        .bind(&m_names)
        .bind(&m_followers)
        .bind(&m_languages)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
             SELECT t, p, v, id, now()
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, t, p, v)",
        )
        .bind(&ids)
        .bind(&m_tenants)
        .bind(&m_platforms)
        .bind(&m_values)
        .execute(&mut *conn)
        .await?;
        for (&i, id) in missing.iter().zip(ids) {
            by_key[i] = Some(id);
        }
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
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE customers c SET followers = u.f
               FROM unnest($1::uuid[], $2::int8[]) AS u(id, f)
              WHERE c.id = u.id AND c.followers < u.f",
        )
        .bind(&ids)
        .bind(&followers)
        .execute(&mut *conn)
        .await?;
    }
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
                .starts_with("platform")
        );
        assert!(Identity::parse("Face Book", "x").is_err());
        assert!(
            Identity::parse("x", "  ")
                .expect_err("empty")
                .starts_with("value")
        );
        assert!(Identity::parse("email", "not-an-address").is_err());
        assert!(Identity::parse("phone", "call me").is_err());
        assert!(Identity::parse("x", &"a".repeat(300)).is_err());
    }

    #[test]
    fn platforms_come_from_the_source_or_the_channel() {
        assert_eq!(platform_of(Channel::Review, "trustpilot"), "trustpilot");
        assert_eq!(platform_of(Channel::WebForm, ""), "web_form");
        assert_eq!(platform_of(Channel::X, "X"), "x");
        assert_eq!(platform_of(Channel::Email, "not a word"), "email");
    }

    #[test]
    fn create_names_every_bad_field() {
        let err = validate_create(&CreateCustomerRequest {
            identities: vec![IdentityProto {
                platform: "email".into(),
                value: "nope".into(),
            }],
            attributes: Some(CustomerAttributes {
                language: "en us!".into(),
                consent: 9,
                ..Default::default()
            }),
            ..Default::default()
        })
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "request_id",
            "identities[0].value",
            "attributes.language",
            "attributes.consent",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
    }
}
