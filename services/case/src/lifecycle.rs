//! Which status changes a case may make.

use earshot_proto::case::v1::CaseStatus;

/// new → open → pending customer / pending internal → resolved → closed; a
/// resolved case may be reopened; a closed one is final.
pub fn can_move(from: CaseStatus, to: CaseStatus) -> bool {
    use CaseStatus::*;
    matches!(
        (from, to),
        (New, Open)
            | (New, Resolved)
            | (Open, PendingCustomer)
            | (Open, PendingInternal)
            | (Open, Resolved)
            | (PendingCustomer, Open)
            | (PendingCustomer, PendingInternal)
            | (PendingCustomer, Resolved)
            | (PendingInternal, Open)
            | (PendingInternal, PendingCustomer)
            | (PendingInternal, Resolved)
            | (Resolved, Open)
            | (Resolved, Closed)
    )
}

pub fn label(status: CaseStatus) -> &'static str {
    status.as_str_name().trim_start_matches("CASE_STATUS_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseStatus::*;

    const ALL: [CaseStatus; 6] = [
        New,
        Open,
        PendingCustomer,
        PendingInternal,
        Resolved,
        Closed,
    ];

    #[test]
    fn closed_is_final_and_nothing_returns_to_new() {
        for to in ALL {
            assert!(!can_move(Closed, to), "closed -> {to:?}");
            assert!(!can_move(to, New), "{to:?} -> new");
        }
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let path = [New, Open, PendingCustomer, Open, Resolved, Closed];
        for pair in path.windows(2) {
            assert!(can_move(pair[0], pair[1]), "{:?} -> {:?}", pair[0], pair[1]);
        }
        assert!(can_move(Resolved, Open), "reopen");
        assert!(
            !can_move(New, Closed),
            "a case is resolved before it is closed"
        );
        assert!(!can_move(Open, Open), "no self-transition");
    }
}
