//! The append-only audit trail: every change to a case, a customer or the
//! tenant's configuration (routing rules, agents, SLA policies, business
//! hours, the guard policy), with the actor, the action, the fields before and
//! after, and the time. Entries are written in the transaction of the change
//! they record.

pub mod store;

use serde_json::Value;
use uuid::Uuid;

/// Actor of what the service does by itself (opening cases from events, reopening).
pub const SYSTEM: &str = "system";

/// One entry to append.
#[derive(Debug, Clone)]
pub struct Record {
    pub case_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub action: &'static str,
    pub before: Value,
    pub after: Value,
}

impl Record {
    pub fn case(case_id: Uuid, action: &'static str, before: Value, after: Value) -> Self {
        Self {
            case_id: Some(case_id),
            customer_id: None,
            action,
            before,
            after,
        }
    }

    pub fn customer(customer_id: Uuid, action: &'static str, before: Value, after: Value) -> Self {
        Self {
            case_id: None,
            customer_id: Some(customer_id),
            action,
            before,
            after,
        }
    }

    /// A change to the tenant's configuration: neither case nor customer.
    pub fn configuration(action: &'static str, before: Value, after: Value) -> Self {
        Self {
            case_id: None,
            customer_id: None,
            action,
            before,
            after,
        }
    }
}

/// Whose trail to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Case(Uuid),
    Customer(Uuid),
    Configuration,
}
