//! An HTTP request as the RPC's request message, and a response message as
//! proto3 JSON. Path variables and query parameters become fields of the
//! JSON object before it is read, so all three sources pass through the one
//! proto3 JSON parser and its checks (unknown fields refused, types checked).

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions};
use serde_json::{Map, Value};

/// Why a request could not be read; `field` is what the caller sent wrong
/// (`body`, a query parameter, a path variable, or `line 3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub field: String,
    pub problem: String,
}

impl Unreadable {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub fn status(&self) -> tonic::Status {
        crate::invalid(&self.field, &self.problem).into()
    }
}

/// The request message from a JSON body (`{}` when empty), the path
/// variables (which win over the body) and the query parameters, encoded.
pub fn request(
    input: &MessageDescriptor,
    body: &[u8],
    path: &[(String, String)],
    query: &[(String, String)],
) -> Result<Bytes, Unreadable> {
    let mut object = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Unreadable::new("body", "must be a JSON object")),
            Err(e) => return Err(Unreadable::new("body", format!("is not JSON: {e}"))),
        }
    };
    for (name, value) in query {
        set(input, &mut object, name, value, name, false)?;
    }
    for (name, value) in path {
        set(input, &mut object, name, value, name, true)?;
    }
    encode(input, Value::Object(object), "body")
}

/// One line of an NDJSON request stream, encoded.
pub fn line(input: &MessageDescriptor, text: &[u8], number: usize) -> Result<Bytes, Unreadable> {
    let field = format!("line {number}");
    match serde_json::from_slice::<Value>(text) {
        Ok(value @ Value::Object(_)) => encode(input, value, &field),
        Ok(_) => Err(Unreadable::new(field, "must be a JSON object")),
        Err(e) => Err(Unreadable::new(field, format!("is not JSON: {e}"))),
    }
}

fn encode(input: &MessageDescriptor, value: Value, field: &str) -> Result<Bytes, Unreadable> {
    let message = DynamicMessage::deserialize(input.clone(), value)
        .map_err(|e| Unreadable::new(field, e.to_string()))?;
    Ok(Bytes::from(message.encode_to_vec()))
}

/// A response message as proto3 JSON (lowerCamelCase names, enums by name,
/// 64-bit integers as strings, default values left out).
pub fn response(output: &MessageDescriptor, encoded: &[u8]) -> Result<Vec<u8>, tonic::Status> {
    let message = DynamicMessage::decode(output.clone(), encoded)
        .map_err(|e| tonic::Status::internal(format!("the response does not decode: {e}")))?;
    let mut out = Vec::with_capacity(encoded.len() * 2);
    let mut serializer = serde_json::Serializer::new(&mut out);
    message
        .serialize_with_options(&mut serializer, &SerializeOptions::new())
        .map_err(|e| tonic::Status::internal(format!("the response does not serialize: {e}")))?;
    Ok(out)
}

/// Sets the field a dotted name (`range.from.year`, proto or JSON names)
/// points at, converting the text to the JSON its kind reads.
fn set(
    message: &MessageDescriptor,
    object: &mut Map<String, Value>,
    dotted: &str,
    text: &str,
    whole: &str,
    replace: bool,
) -> Result<(), Unreadable> {
    let (head, rest) = match dotted.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (dotted, None),
    };
    let field = message
        .get_field_by_name(head)
        .or_else(|| message.get_field_by_json_name(head))
        .ok_or_else(|| Unreadable::new(whole, format!("{} has no field {head}", message.name())))?;
    let key = field.json_name().to_owned();
    match (rest, field.kind()) {
        (Some(rest), Kind::Message(inner)) if !field.is_list() && !field.is_map() => {
            let slot = object
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            match slot {
                Value::Object(inner_object) => {
                    set(&inner, inner_object, rest, text, whole, replace)
                }
                _ => Err(Unreadable::new(
                    whole,
                    "is set twice, as a value and as a message",
                )),
            }
        }
        (Some(_), _) => Err(Unreadable::new(whole, format!("{head} has no fields"))),
        (None, _) if field.is_map() => Err(Unreadable::new(whole, "a map cannot be sent this way")),
        (None, _) => {
            let value = scalar(&field, text, whole)?;
            if field.is_list() && !replace {
                match object
                    .entry(key)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(items) => items.push(value),
                    _ => return Err(Unreadable::new(whole, "is set twice")),
                }
            } else {
                object.insert(key, value);
            }
            Ok(())
        }
    }
}

fn scalar(field: &FieldDescriptor, text: &str, whole: &str) -> Result<Value, Unreadable> {
    Ok(match field.kind() {
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(Unreadable::new(whole, "must be true or false")),
        },
        // An enum by number is a JSON number; by name, a string.
        Kind::Enum(_) => match text.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(text.to_owned()),
        },
        Kind::Message(m) if !is_string_form(&m) => {
            return Err(Unreadable::new(
                whole,
                format!("is a {}, send its fields", m.name()),
            ));
        }
        // Numbers, strings, bytes, timestamps and durations all read from
        // JSON strings in proto3 JSON.
        _ => Value::String(text.to_owned()),
    })
}

fn is_string_form(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
    )
}

/// `a=1&b=x%20y` as decoded pairs.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A path segment percent-decoded.
pub fn path_value(raw: &str) -> Result<String, Unreadable> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Unreadable::new("path", "is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> MessageDescriptor {
        earshot_proto::descriptor_pool()
            .get_message_by_name(name)
            .expect("message exists")
    }

    fn decoded(name: &str, bytes: &Bytes) -> Value {
        let message = DynamicMessage::decode(input(name), bytes.as_ref()).expect("decodes");
        serde_json::to_value(&message).expect("serializes")
    }

    #[test]
    fn path_query_and_body_meet_in_one_message() {
        let name = "earshot.insight.v1.ListDriversRequest";
        let bytes = request(
            &input(name),
            b"",
            &[],
            &[
                ("range.from.year".into(), "2026".into()),
                ("range.from.month".into(), "11".into()),
                ("range.from.day".into(), "1".into()),
                ("range.to.year".into(), "2026".into()),
            ],
        )
        .expect("reads");
        let value = decoded(name, &bytes);
        assert_eq!(value["range"]["from"]["year"], 2026);
        assert_eq!(value["range"]["from"]["month"], 11);
        assert_eq!(value["range"]["to"]["year"], 2026);

        let name = "earshot.case.v1.GetCaseRequest";
        let bytes = request(
            &input(name),
            br#"{"caseId": "from-body"}"#,
            &[("case_id".into(), "from-path".into())],
            &[],
        )
        .expect("reads");
        assert_eq!(decoded(name, &bytes)["caseId"], "from-path");
    }

    #[test]
    fn what_cannot_be_read_names_where_it_came_from() {
        let name = "earshot.case.v1.GetCaseRequest";
        let err = request(&input(name), b"[1]", &[], &[]).expect_err("not an object");
        assert_eq!(err.field, "body");
        let err = request(&input(name), b"{\"nope\": 1}", &[], &[]).expect_err("unknown");
        assert_eq!(err.field, "body");
        assert!(err.problem.contains("nope"), "{}", err.problem);
        let err = request(&input(name), b"", &[], &[("colour".into(), "red".into())])
            .expect_err("unknown parameter");
        assert_eq!(err.field, "colour");
        let err = line(&input(name), b"{oops", 3).expect_err("bad line");
        assert_eq!(err.field, "line 3");
        let status = err.status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("line 3"));
    }

    #[test]
    fn responses_are_proto3_json() {
        let name = "earshot.insight.v1.ChannelVolume";
        let bytes = request(
            &input(name),
            br#"{"channel": "CHANNEL_X", "mentions": "12"}"#,
            &[],
            &[],
        )
        .expect("reads");
        let json = response(&input(name), &bytes).expect("writes");
        assert_eq!(
            String::from_utf8(json).expect("utf-8"),
            r#"{"channel":"CHANNEL_X","mentions":"12"}"#
        );
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_pairs(Some("page_size=20&q=a%20b&tag=x&tag=y")),
            vec![
                ("page_size".to_owned(), "20".to_owned()),
                ("q".to_owned(), "a b".to_owned()),
                ("tag".to_owned(), "x".to_owned()),
                ("tag".to_owned(), "y".to_owned()),
            ]
        );
        assert_eq!(path_value("a%2Fb").expect("decodes"), "a/b");
    }
}
