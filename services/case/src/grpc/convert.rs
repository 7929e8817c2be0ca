//! The case service's vocabulary to and from the protos. The domain stores
//! the proto enums' numbers; the test below pins that each mapping keeps them.

use earshot_proto::case::v1::{
    CaseStatus, CommitmentState as CommitmentStateProto, Lane as LaneProto, MessageDirection,
    SlaState as SlaStateProto, SlaTarget as SlaTargetProto,
};

use crate::vocabulary::{CommitmentState, Direction, Lane, SlaState, SlaTarget, Status};

/// A case status from a request; `None` for unspecified or unknown.
pub fn status_from(raw: i32) -> Option<Status> {
    Some(match CaseStatus::try_from(raw).ok()? {
        CaseStatus::Unspecified => return None,
        CaseStatus::New => Status::New,
        CaseStatus::Open => Status::Open,
        CaseStatus::PendingCustomer => Status::PendingCustomer,
        CaseStatus::PendingInternal => Status::PendingInternal,
        CaseStatus::Resolved => Status::Resolved,
        CaseStatus::Closed => Status::Closed,
    })
}

pub fn status_to(status: Status) -> CaseStatus {
    match status {
        Status::New => CaseStatus::New,
        Status::Open => CaseStatus::Open,
        Status::PendingCustomer => CaseStatus::PendingCustomer,
        Status::PendingInternal => CaseStatus::PendingInternal,
        Status::Resolved => CaseStatus::Resolved,
        Status::Closed => CaseStatus::Closed,
    }
}

/// A lane from a request; `None` for unspecified or unknown.
pub fn lane_from(raw: i32) -> Option<Lane> {
    Some(match LaneProto::try_from(raw).ok()? {
        LaneProto::Unspecified => return None,
        LaneProto::Standard => Lane::Standard,
        LaneProto::Fast => Lane::Fast,
    })
}

pub fn lane_to(lane: Lane) -> LaneProto {
    match lane {
        Lane::Standard => LaneProto::Standard,
        Lane::Fast => LaneProto::Fast,
    }
}

pub fn sla_target_to(target: SlaTarget) -> SlaTargetProto {
    match target {
        SlaTarget::FirstResponse => SlaTargetProto::FirstResponse,
        SlaTarget::NextResponse => SlaTargetProto::NextResponse,
        SlaTarget::Resolution => SlaTargetProto::Resolution,
    }
}

pub fn sla_state_to(state: SlaState) -> SlaStateProto {
    match state {
        SlaState::Running => SlaStateProto::Running,
        SlaState::Paused => SlaStateProto::Paused,
        SlaState::Met => SlaStateProto::Met,
        SlaState::Breached => SlaStateProto::Breached,
    }
}

pub fn commitment_state_to(state: CommitmentState) -> CommitmentStateProto {
    match state {
        CommitmentState::Open => CommitmentStateProto::Open,
        CommitmentState::Kept => CommitmentStateProto::Kept,
        CommitmentState::Overdue => CommitmentStateProto::Overdue,
    }
}

pub fn direction_to(direction: Direction) -> MessageDirection {
    match direction {
        Direction::Inbound => MessageDirection::Inbound,
        Direction::Outbound => MessageDirection::Outbound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::GoodwillKind;
    use earshot_proto::events::v1::goodwill_gesture::Kind;

    /// Rows hold the proto numbers: a mapping that changed one would misread them.
    #[test]
    fn every_stored_enum_keeps_its_proto_number() {
        for s in Status::ALL {
            assert_eq!(status_to(s) as i32, s as i32, "{s:?}");
            assert_eq!(status_from(s as i32), Some(s));
            assert_eq!(
                status_to(s).as_str_name(),
                format!("CASE_STATUS_{}", s.label())
            );
        }
        assert_eq!(status_from(0), None);
        assert_eq!(status_from(42), None);
        for l in [Lane::Standard, Lane::Fast] {
            assert_eq!(lane_to(l) as i32, l as i32);
            assert_eq!(lane_from(l as i32), Some(l));
            assert_eq!(lane_to(l).as_str_name(), format!("LANE_{}", l.label()));
        }
        for t in [
            SlaTarget::FirstResponse,
            SlaTarget::NextResponse,
            SlaTarget::Resolution,
        ] {
            assert_eq!(sla_target_to(t) as i32, t as i32);
            assert_eq!(
                sla_target_to(t).as_str_name(),
                format!("SLA_TARGET_{}", t.label())
            );
        }
        for s in [
            SlaState::Running,
            SlaState::Paused,
            SlaState::Met,
            SlaState::Breached,
        ] {
            assert_eq!(sla_state_to(s) as i32, s as i32);
            assert_eq!(
                sla_state_to(s).as_str_name(),
                format!("SLA_STATE_{}", s.label())
            );
        }
        for c in [
            CommitmentState::Open,
            CommitmentState::Kept,
            CommitmentState::Overdue,
        ] {
            assert_eq!(commitment_state_to(c) as i32, c as i32);
        }
        for d in [Direction::Inbound, Direction::Outbound] {
            assert_eq!(direction_to(d) as i32, d as i32);
        }
        for k in [
            GoodwillKind::Refund,
            GoodwillKind::Credit,
            GoodwillKind::Replacement,
            GoodwillKind::Other,
        ] {
            assert_eq!(
                Kind::try_from(k as i32).map(|k| k.as_str_name()),
                Ok(k.label())
            );
        }
    }
}
