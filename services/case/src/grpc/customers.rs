//! Customer requests checked into what the domain takes, and customers as the
//! API shows them.

use std::collections::HashSet;

use earshot_proto::case::v1::{
    Consent, CreateCustomerRequest, Customer, CustomerAttributes, FindCustomerRequest,
    GetCustomerRequest, Identity as IdentityProto, LinkIdentityRequest, MergeCustomersRequest,
    UnlinkIdentityRequest, UpdateCustomerRequest,
};
use earshot_server::convert::{parse_id, timestamp};
use earshot_server::{FieldViolations, ServiceError, invalid};
use uuid::Uuid;

use super::Check;
use super::cases::merge_sides;
use crate::customers::{
    Attributes, CustomerUpdate, CustomerView, Identity, IdentityChange, IdentityError, NewCustomer,
};
use crate::record::{Merge, Versioned};
use crate::vocabulary::at_most;

const MAX_NAME_CHARS: usize = 200;

/// A request's identity; `field` names it in violations.
fn identity(
    identity: Option<&IdentityProto>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<Identity> {
    let Some(identity) = identity else {
        v.add(field, "is required");
        return None;
    };
    match Identity::parse(&identity.platform, &identity.value) {
        Ok(id) => Some(id),
        Err(e) => {
            let sub = match e {
                IdentityError::Platform(_) => "platform",
                IdentityError::Value(_) => "value",
            };
            v.add(format!("{field}.{sub}"), e.message());
            None
        }
    }
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
    Attributes {
        tier,
        vip: a.vip,
        followers: i64::try_from(a.followers).unwrap_or(i64::MAX),
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

/// Identities one `CreateCustomer` may link.
pub const MAX_IDENTITIES: usize = 50;

impl Check for CreateCustomerRequest {
    type Input = NewCustomer;

    fn check(&self) -> Result<NewCustomer, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id);
        let (display_name, crm_external_id) =
            name_and_crm(&self.display_name, &self.crm_external_id, &mut v);
        let attributes = attributes(self.attributes.as_ref(), &mut v);
        let mut identities: Vec<Identity> = Vec::new();
        let mut seen = HashSet::new();
        let listed = at_most(&self.identities, MAX_IDENTITIES, "identities", &mut v);
        for (i, raw) in listed.unwrap_or_default().iter().enumerate() {
            if let Some(id) = identity(Some(raw), &format!("identities[{i}]"), &mut v)
                && seen.insert(id.clone())
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
}

impl Check for GetCustomerRequest {
    type Input = Uuid;

    fn check(&self) -> Result<Uuid, ServiceError> {
        parse_id(&self.customer_id, "customer_id")
    }
}

impl Check for FindCustomerRequest {
    type Input = Identity;

    fn check(&self) -> Result<Identity, ServiceError> {
        let mut v = FieldViolations::new();
        let found = identity(self.identity.as_ref(), "identity", &mut v);
        v.into_result()?;
        found.ok_or_else(|| invalid("identity", "is required"))
    }
}

impl Check for UpdateCustomerRequest {
    type Input = CustomerUpdate;

    fn check(&self) -> Result<CustomerUpdate, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.customer_id, "customer_id");
        v.version(self.version, "version");
        let (display_name, crm_external_id) =
            name_and_crm(&self.display_name, &self.crm_external_id, &mut v);
        let attributes = attributes(self.attributes.as_ref(), &mut v);
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("customer_id", "is required"))?;
        Ok(CustomerUpdate {
            customer: Versioned {
                id,
                version: self.version,
            },
            display_name,
            crm_external_id,
            attributes,
        })
    }
}

/// A customer id, version and identity of a link or unlink.
fn identity_change(
    customer_id: &str,
    version: i64,
    raw: Option<&IdentityProto>,
) -> Result<IdentityChange, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(customer_id, "customer_id");
    v.version(version, "version");
    let identity = identity(raw, "identity", &mut v);
    v.into_result()?;
    match (id, identity) {
        (Some(id), Some(identity)) => Ok(IdentityChange {
            customer: Versioned { id, version },
            identity,
        }),
        _ => Err(invalid("identity", "is required")),
    }
}

impl Check for LinkIdentityRequest {
    type Input = IdentityChange;

    fn check(&self) -> Result<IdentityChange, ServiceError> {
        identity_change(&self.customer_id, self.version, self.identity.as_ref())
    }
}

impl Check for UnlinkIdentityRequest {
    type Input = IdentityChange;

    fn check(&self) -> Result<IdentityChange, ServiceError> {
        identity_change(&self.customer_id, self.version, self.identity.as_ref())
    }
}

impl Check for MergeCustomersRequest {
    type Input = Merge;

    fn check(&self) -> Result<Merge, ServiceError> {
        merge_sides(
            (&self.source_customer_id, self.source_version),
            (&self.target_customer_id, self.target_version),
            "customer",
        )
    }
}

pub fn customer(view: CustomerView) -> Customer {
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
        identities: view
            .identities
            .iter()
            .map(|i| IdentityProto {
                platform: i.platform.clone(),
                value: i.value.clone(),
            })
            .collect(),
        version: row.version,
        merged_into_customer_id: row.merged_into.map(|id| id.to_string()).unwrap_or_default(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_names_every_bad_field() {
        let err = CreateCustomerRequest {
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
        }
        .check()
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
