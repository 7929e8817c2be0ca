//! Export: any report's rows (or a drill-down's facts) as CSV with a header
//! or as NDJSON, one line per row. A row is a message of the API flattened
//! through its descriptor, so every report exports the fields it answers
//! with, named as the proto names them (`first_response.p50_secs`), and a
//! new field shows up in exports without a line of code here.

use chrono::DateTime;
use earshot_proto::descriptor_pool;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value};
use serde_json::Value as Json;

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

/// Rows encoded per chunk of the stream.
pub const ROWS_PER_CHUNK: usize = 500;

/// The columns a message flattens to, in field order: nested messages by
/// their fields' dotted names; repeated fields are one column.
pub fn columns(desc: &MessageDescriptor) -> Vec<String> {
    let mut out = Vec::new();
    push_columns(desc, "", &mut out);
    out
}

fn is_timestamp(desc: &MessageDescriptor) -> bool {
    desc.full_name() == "google.protobuf.Timestamp"
}

fn push_columns(desc: &MessageDescriptor, prefix: &str, out: &mut Vec<String>) {
    for field in desc.fields() {
        let name = format!("{prefix}{}", field.name());
        match field.kind() {
            Kind::Message(m) if !field.is_list() && !field.is_map() && !is_timestamp(&m) => {
                push_columns(&m, &format!("{name}."), out);
            }
            _ => out.push(name),
        }
    }
}

fn scalar(value: &Value, kind: &Kind) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F32(n) => Json::from(f64::from(*n)),
        Value::F64(n) => Json::from(*n),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| Json::from(*n), |v| Json::String(v.name().to_owned())),
            _ => Json::from(*n),
        },
        Value::Message(m) if is_timestamp(&m.descriptor()) => timestamp(m),
        Value::Message(m) => Json::Object(flatten_dynamic(m).into_iter().collect()),
        Value::List(items) => Json::Array(items.iter().map(|v| scalar(v, kind)).collect()),
        Value::Map(_) => Json::Null,
    }
}

fn timestamp(m: &DynamicMessage) -> Json {
    let seconds = m
        .get_field_by_name("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    if seconds == 0 {
        return Json::String(String::new());
    }
    DateTime::from_timestamp(seconds, 0).map_or(Json::Null, |t| Json::String(t.to_rfc3339()))
}

fn flatten_dynamic(m: &DynamicMessage) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    push_values(m, "", &mut out);
    out
}

fn push_values(m: &DynamicMessage, prefix: &str, out: &mut Vec<(String, Json)>) {
    for field in m.descriptor().fields() {
        let name = format!("{prefix}{}", field.name());
        let value = m.get_field(&field);
        match (field.kind(), value.as_ref()) {
            (Kind::Message(desc), Value::Message(inner))
                if !field.is_list() && !field.is_map() && !is_timestamp(&desc) =>
            {
                push_values(inner, &format!("{name}."), out);
            }
            (kind, value) => out.push((name, scalar(value, &kind))),
        }
    }
}

/// A row of the API as column names and values; empty for a message the
/// descriptors do not know (none: they are built from the same protos).
pub fn flatten<M: prost::Message + prost::Name>(row: &M) -> Vec<(String, Json)> {
    let Some(desc) = descriptor::<M>() else {
        return Vec::new();
    };
    match DynamicMessage::decode(desc, row.encode_to_vec().as_slice()) {
        Ok(m) => flatten_dynamic(&m),
        Err(_) => Vec::new(),
    }
}

/// The descriptor of an API message, for its header.
pub fn descriptor<M: prost::Name>() -> Option<MessageDescriptor> {
    descriptor_pool().get_message_by_name(&M::full_name())
}

/// A cell as CSV shows it: lists joined by spaces, objects as JSON.
fn cell(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(" "),
        Json::Object(_) => value.to_string(),
        other => other.to_string(),
    }
}

/// Encodes rows: the header first (CSV only) when `header` is set.
pub fn encode(
    format: Format,
    header: Option<&[String]>,
    rows: &[Vec<(String, Json)>],
) -> Result<Vec<u8>, csv::Error> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            if let Some(h) = header {
                w.write_record(h)?;
            }
            for row in rows {
                w.write_record(row.iter().map(|(_, v)| cell(v)))?;
            }
            w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
        }
        Format::Ndjson => {
            let mut out = Vec::new();
            for row in rows {
                let object: serde_json::Map<String, Json> = row.iter().cloned().collect();
                out.extend(Json::Object(object).to_string().into_bytes());
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::insight::v1 as pb;

    fn group() -> pb::MetricsGroup {
        pb::MetricsGroup {
            key: "X, \"social\"".into(),
            opened: 4,
            first_response: Some(pb::Durations {
                count: 3,
                p50_secs: 600.0,
                ..Default::default()
            }),
            sla: vec![pb::SlaAttainment {
                target: "FIRST_RESPONSE".into(),
                met: 2,
                breached: 1,
                attainment: 0.5,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn rows_flatten_nested_messages_and_keep_the_header_in_field_order() {
        let header = columns(&descriptor::<pb::MetricsGroup>().expect("known"));
        let row = flatten(&group());
        let names: Vec<&str> = row.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, header.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(names.contains(&"first_response.p50_secs"));
        let csv = String::from_utf8(
            encode(Format::Csv, Some(&header), std::slice::from_ref(&row)).expect("csv"),
        )
        .expect("utf-8");
        let mut lines = csv.lines();
        assert!(
            lines
                .next()
                .expect("header")
                .starts_with("key,opened,resolved,first_response.count")
        );
        assert!(
            lines
                .next()
                .expect("row")
                .starts_with("\"X, \"\"social\"\"\",4,0,3,600")
        );
        let ndjson = encode(Format::Ndjson, None, &[row]).expect("ndjson");
        let parsed: Json = serde_json::from_slice(&ndjson[..ndjson.len() - 1]).expect("json");
        assert_eq!(parsed["first_response.p50_secs"], Json::from(600.0));
        assert_eq!(parsed["sla"][0]["target"], Json::from("FIRST_RESPONSE"));
    }

    #[test]
    fn enums_export_by_name_and_times_as_rfc3339() {
        let fact = pb::CaseFact {
            channel: earshot_proto::common::v1::Channel::Email as i32,
            opened_at: Some(prost_types::Timestamp {
                seconds: 1_772_445_600,
                nanos: 0,
            }),
            ..Default::default()
        };
        let row: serde_json::Map<String, Json> = flatten(&fact).into_iter().collect();
        assert_eq!(row["channel"], Json::from("CHANNEL_EMAIL"));
        assert_eq!(row["opened_at"], Json::from("2026-03-02T10:00:00+00:00"));
    }
}
