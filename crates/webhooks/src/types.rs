//! Event types in Standard Webhooks style (`escalation.raised`), read from
//! the contract itself, and the body a delivery sends.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use earshot_proto::events::v1::Event;
use earshot_proto::events::v1::event::Payload;
use prost_reflect::{DynamicMessage, MessageDescriptor, Value};

/// The `Event.payload` oneof as the descriptors describe it: each field's
/// number and the type name made from its name.
struct Catalog {
    event: MessageDescriptor,
    types: HashMap<u32, String>,
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let event = earshot_proto::descriptor_pool()
            .get_message_by_name("earshot.events.v1.Event")
            .expect("the contracts define earshot.events.v1.Event");
        let payload = event
            .oneofs()
            .find(|oneof| oneof.name() == "payload")
            .expect("Event has a payload oneof");
        let types = payload
            .fields()
            .map(|field| (field.number(), type_name(field.name())))
            .collect();
        Catalog { event, types }
    })
}

/// A payload field's name as a webhook type: its first `_` becomes `.`
/// (`escalation_raised` → `escalation.raised`, `sla_breached` →
/// `sla.breached`).
pub fn type_name(field: &str) -> String {
    field.replacen('_', ".", 1)
}

/// Every type an event can have, in field-number order.
pub fn known_event_types() -> Vec<&'static str> {
    let mut known: Vec<(u32, &'static str)> = catalog()
        .types
        .iter()
        .map(|(number, name)| (*number, name.as_str()))
        .collect();
    known.sort_unstable();
    known.into_iter().map(|(_, name)| name).collect()
}

/// The webhook type of `event`, e.g. `"escalation.raised"`; `None` without
/// a payload (or with one newer than these contracts).
pub fn event_type(event: &Event) -> Option<&'static str> {
    let (number, _) = encoded_payload(event.payload.as_ref()?)?;
    catalog().types.get(&number).map(String::as_str)
}

/// The payload's oneof field, encoded as it is inside an `Event`, and its
/// field number. The generated oneof knows its number only by encoding.
fn encoded_payload(payload: &Payload) -> Option<(u32, Vec<u8>)> {
    let mut bytes = Vec::new();
    payload.encode(&mut bytes);
    let (number, _) = prost::encoding::decode_key(&mut bytes.as_slice()).ok()?;
    Some((number, bytes))
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the event has no payload this service knows")]
    UnknownPayload,
    #[error("the payload does not decode by its descriptor: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the body does not serialize: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a delivery of `event` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub event_type: &'static str,
    pub occurred_at: DateTime<Utc>,
    /// `{"type", "timestamp", "drill", "data"}`, `data` in proto3 JSON.
    pub body: String,
}

#[derive(serde::Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    drill: bool,
    data: &'a DynamicMessage,
}

/// The body of `event`'s deliveries: its type, when it occurred (RFC 3339),
/// whether a drill made it, and its payload in canonical proto3 JSON
/// (lowerCamelCase names, enums by name, 64-bit integers as strings,
/// defaults left out), as any proto3 JSON reader expects.
pub fn render(event: &Event) -> Result<Rendered, RenderError> {
    let payload = event.payload.as_ref().ok_or(RenderError::UnknownPayload)?;
    let (number, bytes) = encoded_payload(payload).ok_or(RenderError::UnknownPayload)?;
    let catalog = catalog();
    let event_type = catalog
        .types
        .get(&number)
        .map(String::as_str)
        .ok_or(RenderError::UnknownPayload)?;
    // The oneof field alone is a valid encoding of an Event holding only it.
    let only_payload = DynamicMessage::decode(catalog.event.clone(), bytes.as_slice())?;
    let data = match only_payload.get_field_by_number(number).as_deref() {
        Some(Value::Message(data)) => data.clone(),
        _ => return Err(RenderError::UnknownPayload),
    };
    let occurred_at = event
        .occurred_at
        .as_ref()
        .and_then(|at| DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?))
        .unwrap_or_else(Utc::now);
    let body = serde_json::to_string(&Envelope {
        kind: event_type,
        timestamp: occurred_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        drill: event.drill,
        data: &data,
    })?;
    Ok(Rendered {
        event_type,
        occurred_at,
        body,
    })
}

#[cfg(test)]
mod tests {
    use earshot_proto::events::v1::{EscalationRaised, SlaBreached};

    use super::*;

    fn event(payload: Payload) -> Event {
        Event {
            event_id: "0190b4a0-0000-7000-8000-000000000001".into(),
            tenant_id: "acme".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 250_000_000,
            }),
            aggregate_key: "k".into(),
            producer: "escalation".into(),
            drill: true,
            payload: Some(payload),
        }
    }

    #[test]
    fn types_come_from_the_oneof_field_names() {
        let known = known_event_types();
        for expected in [
            "mention.classified",
            "case.opened",
            "sla.breached",
            "escalation.raised",
            "escalation.acknowledged",
            "escalation.reescalated",
            "escalation.resolved",
            "incident.opened",
            "incident.updated",
            "spike.detected",
            "customer.erased",
        ] {
            assert!(known.contains(&expected), "{expected} in {known:?}");
        }
        assert_eq!(
            event_type(&event(Payload::SlaBreached(SlaBreached::default()))),
            Some("sla.breached")
        );
        assert_eq!(event_type(&Event::default()), None);
    }

    #[test]
    fn the_body_carries_type_time_drill_and_proto3_json_data() {
        let rendered = render(&event(Payload::EscalationRaised(EscalationRaised {
            escalation_id: "e1".into(),
            severity: "SEV1".into(),
            guideline_version: 3,
            leave_case: false,
            ..Default::default()
        })))
        .expect("renders");
        assert_eq!(rendered.event_type, "escalation.raised");
        let body: serde_json::Value = serde_json::from_str(&rendered.body).expect("json");
        assert_eq!(body["type"], "escalation.raised");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20.250Z");
        assert_eq!(body["drill"], true);
        assert_eq!(body["data"]["escalationId"], "e1");
        assert_eq!(body["data"]["guidelineVersion"], 3);
        // Defaults are left out, as proto3 JSON does.
        assert!(body["data"].get("leaveCase").is_none(), "{body}");
        assert!(rendered.body.starts_with(r#"{"type":"escalation.raised","#));
    }

    #[test]
    fn an_event_without_payload_does_not_render() {
        assert!(matches!(
            render(&Event::default()),
            Err(RenderError::UnknownPayload)
        ));
    }
}
