//! The escalation service's vocabulary: the states and kinds it stores. Each
//! is stored as the number of the proto enum it mirrors and bound in SQL
//! (never spelled there); the gRPC layer converts with `from_proto` and
//! `proto`, and the tests below pin that the numbers agree.

use earshot_proto::escalation::v1 as pb;

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident : $proto:ty { $($variant:ident = $n:literal => $label:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
        #[repr(i16)]
        pub enum $name {
            $($variant = $n),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// As events, timelines and webhooks spell it.
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label),+
                }
            }

            /// The proto enum's number; unspecified and unknown numbers are `None`.
            pub fn from_proto(value: i32) -> Option<Self> {
                match value {
                    $($n => Some($name::$variant),)+
                    _ => None,
                }
            }

            pub fn proto(self) -> $proto {
                <$proto>::try_from(self as i32).expect("the vocabulary mirrors the proto enum")
            }

            pub fn from_label(label: &str) -> Option<Self> {
                match label {
                    $($label => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

stored_enum!(
    /// How bad it is; SEV1 the worst.
    Severity: pb::Severity {
        Sev1 = 1 => "SEV1",
        Sev2 = 2 => "SEV2",
        Sev3 = 3 => "SEV3",
        Sev4 = 4 => "SEV4",
    }
);

stored_enum!(
    /// Who owns an escalation.
    Team: pb::Team {
        Legal = 1 => "LEGAL",
        Pr = 2 => "PR",
        Executive = 3 => "EXECUTIVE",
        ServiceLead = 4 => "SERVICE_LEAD",
        Support = 5 => "SUPPORT",
    }
);

stored_enum!(
    /// Where an escalation is. Raised and re-escalated wait for an
    /// acknowledgement; the ladder moves only those.
    EscalationState: pb::EscalationState {
        Raised = 1 => "RAISED",
        Reescalated = 2 => "REESCALATED",
        Acknowledged = 3 => "ACKNOWLEDGED",
        Resolved = 4 => "RESOLVED",
    }
);

impl EscalationState {
    pub fn awaits_acknowledgement(self) -> bool {
        matches!(self, Self::Raised | Self::Reescalated)
    }
}

stored_enum!(
    /// What raised an escalation.
    TriggerKind: pb::TriggerKind {
        Mention = 1 => "MENTION",
        Case = 2 => "CASE",
        Spike = 3 => "SPIKE",
        Incident = 4 => "INCIDENT",
    }
);

stored_enum!(
    /// An incident's life, in order: states only move forward.
    IncidentState: pb::IncidentState {
        Triage = 1 => "TRIAGE",
        Live = 2 => "LIVE",
        Resolved = 3 => "RESOLVED",
        Learning = 4 => "LEARNING",
        Closed = 5 => "CLOSED",
    }
);

impl IncidentState {
    /// Still being handled: statements fall due, a guideline's new
    /// escalations join it.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Triage | Self::Live)
    }
}

stored_enum!(
    /// What a spike detector counts.
    SpikeScope: pb::SpikeScope {
        Tenant = 1 => "TENANT",
        Topic = 2 => "TOPIC",
        Rule = 3 => "RULE",
    }
);

stored_enum!(
    DrillState: pb::DrillState {
        Running = 1 => "RUNNING",
        Ended = 2 => "ENDED",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        number: impl Fn(T) -> i32,
        proto_name: impl Fn(T) -> String,
        label: impl Fn(T) -> &'static str,
        back: impl Fn(i32) -> Option<T>,
    ) {
        for &value in all {
            assert_eq!(back(number(value)), Some(value));
            assert!(
                proto_name(value).ends_with(label(value)),
                "{:?}: proto {} vs label {}",
                value,
                proto_name(value),
                label(value)
            );
        }
        assert_eq!(back(0), None, "unspecified is no value");
    }

    #[test]
    fn stored_numbers_and_labels_agree_with_the_protos() {
        round_trips(
            Severity::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            Severity::label,
            Severity::from_proto,
        );
        round_trips(
            Team::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            Team::label,
            Team::from_proto,
        );
        round_trips(
            EscalationState::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            EscalationState::label,
            EscalationState::from_proto,
        );
        round_trips(
            TriggerKind::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            TriggerKind::label,
            TriggerKind::from_proto,
        );
        round_trips(
            IncidentState::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            IncidentState::label,
            IncidentState::from_proto,
        );
        round_trips(
            SpikeScope::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            SpikeScope::label,
            SpikeScope::from_proto,
        );
        round_trips(
            DrillState::ALL,
            |v| v as i32,
            |v| v.proto().as_str_name().to_owned(),
            DrillState::label,
            DrillState::from_proto,
        );
    }

    #[test]
    fn labels_parse_back() {
        for &team in Team::ALL {
            assert_eq!(Team::from_label(team.label()), Some(team));
        }
        assert_eq!(Team::from_label("legal"), None);
    }
}
