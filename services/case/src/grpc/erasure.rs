//! Erasure and retention requests checked into what the domain takes, and
//! erasures and policies as the API shows them.

use earshot_proto::case::v1::{
    EraseCustomerRequest, Erasure, GetErasureRequest, PutRetentionPolicyRequest, RetentionPolicy,
    ServiceErasure, service_erasure::State,
};
use earshot_server::convert::timestamp;
use earshot_server::{FieldViolations, ServiceError, invalid};
use uuid::Uuid;

use super::Check;
use crate::erasure::{EraseInput, ErasureView};
use crate::retention::store::PolicyRow;
use crate::retention::{MAX_DAYS, PolicyInput};

impl Check for EraseCustomerRequest {
    type Input = EraseInput;

    fn check(&self) -> Result<EraseInput, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id).to_owned();
        let customer_id = v.id(&self.customer_id, "customer_id");
        v.into_result()?;
        Ok(EraseInput {
            request_id,
            customer_id: customer_id.expect("checked above"),
        })
    }
}

impl Check for GetErasureRequest {
    type Input = Uuid;

    fn check(&self) -> Result<Uuid, ServiceError> {
        earshot_server::convert::parse_id(&self.erasure_id, "erasure_id")
    }
}

impl Check for PutRetentionPolicyRequest {
    type Input = PolicyInput;

    fn check(&self) -> Result<PolicyInput, ServiceError> {
        let Some(p) = self.policy.as_ref() else {
            return Err(invalid("policy", "is required"));
        };
        let mut v = FieldViolations::new();
        v.check(
            p.days > MAX_DAYS,
            "policy.days",
            "must be at most 36500 (a hundred years); 0 keeps everything",
        );
        v.check(
            p.version < 0,
            "policy.version",
            "must be 0 to create, else the version last read",
        );
        v.into_result()?;
        Ok(PolicyInput {
            // At most MAX_DAYS, checked above.
            days: i32::try_from(p.days).unwrap_or(i32::MAX),
            version: p.version,
        })
    }
}

pub fn erasure(view: ErasureView) -> Erasure {
    let complete = view.complete();
    let ErasureView { erasure, services } = view;
    Erasure {
        erasure_id: erasure.id.to_string(),
        customer_id: erasure.customer_id.to_string(),
        requested_by: erasure.requested_by,
        requested_at: Some(timestamp(erasure.requested_at)),
        services: services
            .into_iter()
            .map(|s| ServiceErasure {
                service: s.service,
                state: if s.completed_at.is_some() {
                    State::Done
                } else {
                    State::Pending
                } as i32,
                records_erased: u64::try_from(s.records_erased).unwrap_or_default(),
                completed_at: s.completed_at.map(timestamp),
            })
            .collect(),
        complete,
    }
}

pub fn policy(row: PolicyRow) -> RetentionPolicy {
    RetentionPolicy {
        days: u32::try_from(row.days).unwrap_or_default(),
        version: row.version,
        updated_at: row.updated_at.map(timestamp),
    }
}
