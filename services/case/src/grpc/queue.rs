//! `ListQueue` checked into the queue's filter: every bad filter named at once.

use earshot_proto::case::v1::ListQueueRequest;
use earshot_server::convert::{Cursor, page_size};
use earshot_server::{FieldViolations, ServiceError};

use super::convert::{lane_from, status_from};
use super::knowledge::optional_channel;
use super::{Check, Paged};
use crate::queue::Filter;
use crate::vocabulary::{optional_key, priority, valid_agent_id};

/// Adds the field violations of `e` to `v`.
fn absorb(v: &mut FieldViolations, e: ServiceError) {
    if let ServiceError::InvalidArgument(more) = e {
        for f in more.iter() {
            v.add(f.field.clone(), f.description.clone());
        }
    }
}

impl Check for ListQueueRequest {
    type Input = Paged<Filter>;

    fn check(&self) -> Result<Paged<Filter>, ServiceError> {
        let mut v = FieldViolations::new();
        let mut statuses = Vec::new();
        for (i, s) in self.statuses.iter().enumerate() {
            match status_from(*s) {
                Some(status) => statuses.push(status),
                None => v.add(format!("statuses[{i}]"), "must be a known case status"),
            }
        }
        let lane = match self.lane {
            0 => None,
            raw => {
                let lane = lane_from(raw);
                v.check(lane.is_none(), "lane", "must be STANDARD or FAST");
                lane
            }
        };
        let priority =
            (!self.priority.is_empty()).then(|| priority(&self.priority, "priority", &mut v));
        let queue = optional_key(&self.queue, "queue", &mut v);
        let assignee = (!self.assignee.is_empty()).then(|| self.assignee.clone());
        v.check(
            assignee.as_deref().is_some_and(|a| !valid_agent_id(a)),
            "assignee",
            "must be an agent id",
        );
        v.check(
            assignee.is_some() && self.unassigned,
            "unassigned",
            "cannot be combined with assignee",
        );
        let channel = optional_channel(self.channel, "channel", &mut v);
        let topic = optional_key(&self.topic, "topic", &mut v);
        let customer_id = if self.customer_id.is_empty() {
            None
        } else {
            v.id(&self.customer_id, "customer_id")
        };
        let limit = page_size(self.page_size)
            .map_err(|e| absorb(&mut v, e))
            .ok();
        let after = Cursor::decode(&self.page_token)
            .map_err(|e| absorb(&mut v, e))
            .ok();
        v.into_result()?;
        Ok(Paged {
            filter: Filter {
                statuses,
                lane,
                priority,
                queue,
                assignee,
                unassigned: self.unassigned,
                channel,
                topic,
                customer_id,
            },
            limit: limit.unwrap_or(50),
            after: after.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_filter_is_named() {
        let err = ListQueueRequest {
            statuses: vec![0, 42],
            lane: 9,
            priority: "soon".into(),
            queue: "Front Desk".into(),
            assignee: "ann".into(),
            unassigned: true,
            channel: 99,
            topic: "?".into(),
            customer_id: "nope".into(),
            page_size: 9999,
            page_token: "garbage".into(),
        }
        .check()
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "statuses[0]",
            "statuses[1]",
            "lane",
            "priority",
            "queue",
            "unassigned",
            "channel",
            "topic",
            "customer_id",
            "page_size",
            "page_token",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
    }
}
