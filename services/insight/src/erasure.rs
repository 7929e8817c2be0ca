//! Forgetting a customer and the tenant's retention period. Insight keeps
//! only counts per tenant and day, nothing about any one customer, so an
//! erasure finds nothing to erase and says so (`ErasureCompleted` with 0);
//! the retention job deletes days of activity older than the tenant's period.

use earshot_outbox::new_event;
use earshot_proto::events::v1::{CustomerErased, ErasureCompleted, Event, event};
use earshot_server::retention::RetentionJob;

use crate::NAME;

/// The answer to an erasure: insight holds no per-customer facts.
pub fn answer(tenant_id: &str, erased: &CustomerErased) -> Event {
    new_event(
        NAME,
        tenant_id,
        erased.customer_id.clone(),
        event::Payload::ErasureCompleted(ErasureCompleted {
            erasure_id: erased.erasure_id.clone(),
            service: NAME.to_owned(),
            records_erased: 0,
            mention_ids: Vec::new(),
        }),
    )
}

/// Deletes days of activity older than their tenant's period.
pub fn job() -> RetentionJob {
    RetentionJob {
        name: "activity retention",
        delete: "DELETE FROM daily_activity WHERE (tenant_id, day) IN (
                     SELECT a.tenant_id, a.day FROM retention_policies r
                       JOIN daily_activity a
                         ON a.tenant_id = r.tenant_id
                        AND a.day < (now() - make_interval(days => r.days))::date
                      WHERE r.days > 0
                      LIMIT $1
                        FOR UPDATE OF a SKIP LOCKED)",
    }
}
