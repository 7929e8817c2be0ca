//! Customer effort: how much a customer had to do to get a case resolved —
//! messages sent, channels switched, cases reopened — and how often they
//! came back about the same driver within 7 days.
//!
//! Effort per resolution is read from `case_facts`, not `case_rollups`: the
//! rollups sum messages and switches over every case opened on a day,
//! resolved or not, so dividing them by the resolved cases would charge the
//! resolutions with the effort of cases still open. Here every figure is over
//! the same cases: those opened in the range, resolved, and not merged into
//! another (which counts them itself), grouped by the dimension's value as
//! [`crate::rollups::dimension_value`] gives it. A group with no resolved
//! case has no row. Repeat contacts come from `driver_rollups`, as the
//! drivers report counts them.

pub mod store;

use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::Dimension;
use sqlx::PgPool;

use crate::metrics::ratio;
use crate::range::Days;

/// One group's sums over its resolved cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffortSums {
    pub key: String,
    pub resolved: i64,
    pub inbound: i64,
    pub channel_switches: i64,
    pub reopened: i64,
}

pub fn row(s: &EffortSums) -> pb::EffortRow {
    let resolved = s.resolved as f64;
    pb::EffortRow {
        key: s.key.clone(),
        resolved: u64::try_from(s.resolved).unwrap_or(0),
        contacts_per_resolution: ratio(s.inbound as f64, resolved),
        channel_switches_per_resolution: ratio(s.channel_switches as f64, resolved),
        reopen_rate: ratio(s.reopened as f64, resolved),
    }
}

/// Customer effort of the cases opened in `days` by `dim`, most resolved first.
pub async fn customer_effort(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    dim: Dimension,
) -> Result<pb::CustomerEffort, sqlx::Error> {
    let mut groups = store::groups(pool, tenant_id, days, dim).await?;
    groups.sort_by(|a, b| b.resolved.cmp(&a.resolved).then_with(|| a.key.cmp(&b.key)));
    let (repeat, contacts) = store::repeat_contacts(pool, tenant_id, days).await?;
    Ok(pb::CustomerEffort {
        rows: groups.iter().map(row).collect(),
        repeat_contacts: u64::try_from(repeat).unwrap_or(0),
        contacts: u64::try_from(contacts).unwrap_or(0),
        repeat_contact_rate: ratio(repeat as f64, contacts as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_is_per_resolved_case_and_zero_without_one() {
        let r = row(&EffortSums {
            key: "X".into(),
            resolved: 4,
            inbound: 10,
            channel_switches: 2,
            reopened: 1,
        });
        assert_eq!(
            (
                r.resolved,
                r.contacts_per_resolution,
                r.channel_switches_per_resolution,
                r.reopen_rate
            ),
            (4, 2.5, 0.5, 0.25)
        );
        let none = row(&EffortSums {
            key: String::new(),
            resolved: 0,
            inbound: 3,
            channel_switches: 1,
            reopened: 0,
        });
        assert_eq!((none.contacts_per_resolution, none.reopen_rate), (0.0, 0.0));
    }
}
