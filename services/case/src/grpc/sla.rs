//! SLA requests checked into what the domain takes, and policies and business
//! hours as the API shows them.

use earshot_proto::case::v1::{
    BusinessHours, ListSlaPoliciesRequest, OpeningHours, PutBusinessHoursRequest,
    PutSlaPolicyRequest, SlaPolicy,
};
use earshot_server::{FieldViolations, ServiceError, invalid};

use super::convert::lane_to;
use super::routing::required_lane;
use super::{Check, Paged};
use crate::sla::store::{HoursRow, PolicyRow};
use crate::sla::{HoursInput, MAX_SECONDS, PolicyInput};
use crate::vocabulary::priority;

const MINUTES_A_DAY: u32 = 24 * 60;

impl Check for PutSlaPolicyRequest {
    type Input = PolicyInput;

    fn check(&self) -> Result<PolicyInput, ServiceError> {
        let Some(p) = self.policy.as_ref() else {
            return Err(invalid("policy", "is required"));
        };
        let mut v = FieldViolations::new();
        let priority = priority(&p.priority, "policy.priority", &mut v);
        let lane = required_lane(p.lane, "policy.lane", &mut v);
        for (value, field) in [
            (p.first_response_seconds, "policy.first_response_seconds"),
            (p.next_response_seconds, "policy.next_response_seconds"),
            (p.resolution_seconds, "policy.resolution_seconds"),
        ] {
            v.check(value > MAX_SECONDS, field, "must be at most 90 days");
        }
        v.check(
            p.first_response_seconds == 0
                && p.next_response_seconds == 0
                && p.resolution_seconds == 0,
            "policy",
            "must set at least one clock",
        );
        v.check(
            p.version < 0,
            "policy.version",
            "must be 0 to create, else the version last read",
        );
        v.into_result()?;
        let secs = |s: u32| i32::try_from(s).unwrap_or(i32::MAX);
        Ok(PolicyInput {
            priority,
            lane,
            first_response: secs(p.first_response_seconds),
            next_response: secs(p.next_response_seconds),
            resolution: secs(p.resolution_seconds),
            business_hours: p.business_hours,
            version: p.version,
        })
    }
}

impl Check for ListSlaPoliciesRequest {
    type Input = Paged<()>;

    fn check(&self) -> Result<Paged<()>, ServiceError> {
        Paged::of(self.page_size, &self.page_token)
    }
}

impl Check for PutBusinessHoursRequest {
    type Input = HoursInput;

    fn check(&self) -> Result<HoursInput, ServiceError> {
        let Some(h) = self.hours.as_ref() else {
            return Err(invalid("hours", "is required"));
        };
        let mut v = FieldViolations::new();
        let zone = h.time_zone.trim();
        v.check(
            zone.is_empty() || zone.len() > 64,
            "hours.time_zone",
            "must be an IANA time zone such as Europe/Berlin",
        );
        v.check(
            h.days.is_empty(),
            "hours.days",
            "must open on at least one day",
        );
        let mut opens = [0i16; 7];
        let mut closes = [0i16; 7];
        let mut seen = [false; 7];
        for (i, day) in h.days.iter().enumerate() {
            let field = |name: &str| format!("hours.days[{i}].{name}");
            match usize::try_from(day.weekday)
                .ok()
                .filter(|d| (1..=7).contains(d))
            {
                None => v.add(field("weekday"), "must be 1 (Monday) to 7 (Sunday)"),
                Some(d) if seen[d - 1] => v.add(field("weekday"), "is listed twice"),
                Some(d) => {
                    seen[d - 1] = true;
                    if day.closes_minute > MINUTES_A_DAY {
                        v.add(field("closes_minute"), "must be at most 1440 (midnight)");
                    } else if day.opens_minute >= day.closes_minute {
                        v.add(field("opens_minute"), "must be before closes_minute");
                    } else {
                        // Both fit: at most 1440.
                        opens[d - 1] = day.opens_minute as i16;
                        closes[d - 1] = day.closes_minute as i16;
                    }
                }
            }
        }
        v.check(
            h.version < 0,
            "hours.version",
            "must be 0 to create, else the version last read",
        );
        v.into_result()?;
        Ok(HoursInput {
            time_zone: zone.to_owned(),
            opens,
            closes,
            version: h.version,
        })
    }
}

pub fn policy(row: PolicyRow) -> SlaPolicy {
    let secs = |s: i32| u32::try_from(s).unwrap_or(0);
    SlaPolicy {
        priority: row.priority.to_string(),
        lane: lane_to(row.lane) as i32,
        first_response_seconds: secs(row.first_response_secs),
        next_response_seconds: secs(row.next_response_secs),
        resolution_seconds: secs(row.resolution_secs),
        version: row.version,
        business_hours: row.business_hours,
    }
}

pub fn hours(row: HoursRow) -> BusinessHours {
    let days = (0..7)
        .filter(|&d| row.closes.get(d) > row.opens.get(d))
        .map(|d| OpeningHours {
            weekday: d as u32 + 1,
            opens_minute: u32::try_from(row.opens[d]).unwrap_or(0),
            closes_minute: u32::try_from(row.closes[d]).unwrap_or(0),
        })
        .collect();
    BusinessHours {
        time_zone: row.time_zone,
        days,
        version: row.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_name_their_bad_fields() {
        let err = PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                priority: "asap".into(),
                lane: 0,
                first_response_seconds: MAX_SECONDS + 1,
                ..Default::default()
            }),
        }
        .check()
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "policy.priority",
            "policy.lane",
            "policy.first_response_seconds",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
    }
}
