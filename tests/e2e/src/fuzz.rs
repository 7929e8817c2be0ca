//! Random and adversarial requests for any method, generated from its input
//! descriptor: every field kind, nested and repeated, with the values that
//! break services (NUL and control characters, huge and empty strings,
//! extreme numbers and times, unknown enum numbers, ids of the wrong shape),
//! plus bodies that are not protobuf at all. Seeded, so a failure replays.

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, Value};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};

/// Ids a request may carry: real ones (set by the caller) and bad shapes.
pub struct Vocabulary {
    pub ids: Vec<String>,
}

const NASTY_STRINGS: &[&str] = &[
    "",
    " ",
    "\0",
    "a\0b",
    "\u{7f}\u{1}\u{1b}[31m",
    "'; DROP TABLE cases; --",
    "%s%n%x",
    "../../etc/passwd",
    "\u{202e}gnp.exe",
    "😀👍🏽‍🔥",
    "日本語のテキスト",
    "\u{feff}bom",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "FIRST_RESPONSE",
    "card* AND NOT (",
    "\"unterminated",
    "NEAR/0",
    "Europe/Nowhere",
    "@",
    "#",
    "x",
];

fn string(rng: &mut StdRng, vocabulary: &Vocabulary) -> String {
    match rng.random_range(0..10) {
        0..=3 => NASTY_STRINGS[rng.random_range(0..NASTY_STRINGS.len())].to_owned(),
        4 if !vocabulary.ids.is_empty() => {
            vocabulary.ids[rng.random_range(0..vocabulary.ids.len())].clone()
        }
        5 => "x".repeat(rng.random_range(1..70_000)),
        6 => uuid::Uuid::now_v7().to_string(),
        _ => {
            let len = rng.random_range(0..40);
            (0..len)
                .map(|_| char::from_u32(rng.random_range(0..0x3000)).unwrap_or('?'))
                .collect()
        }
    }
}

fn i64_value(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..6) {
        0 => 0,
        1 => -1,
        2 => i64::MAX,
        3 => i64::MIN,
        4 => rng.random_range(-1_000..1_000),
        _ => rng.random(),
    }
}

fn scalar(kind: &Kind, rng: &mut StdRng, vocabulary: &Vocabulary, depth: u32) -> Value {
    match kind {
        Kind::Double => Value::F64(f64::from_bits(rng.random())),
        Kind::Float => Value::F32(f32::from_bits(rng.random())),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i64_value(rng) as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i64_value(rng)),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(i64_value(rng) as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(i64_value(rng) as u64),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::String => Value::String(string(rng, vocabulary)),
        Kind::Bytes => {
            let mut bytes = vec![0; rng.random_range(0..256)];
            rng.fill_bytes(&mut bytes);
            Value::Bytes(Bytes::from(bytes))
        }
        Kind::Enum(e) => {
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            if rng.random_bool(0.8) && !values.is_empty() {
                Value::EnumNumber(values[rng.random_range(0..values.len())])
            } else {
                Value::EnumNumber(rng.random_range(-5..1_000))
            }
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            let mut ts = DynamicMessage::new(m.clone());
            let seconds = match rng.random_range(0..5) {
                0 => -300_000_000_000,
                1 => 1_800_000_000_000,
                2 => 0,
                _ => 1_760_000_000 + rng.random_range(-100_000_000..100_000_000),
            };
            ts.set_field_by_name("seconds", Value::I64(seconds));
            ts.set_field_by_name(
                "nanos",
                Value::I32(if rng.random_bool(0.1) {
                    -1
                } else {
                    rng.random_range(0..1_000_000_000)
                }),
            );
            Value::Message(ts)
        }
        Kind::Message(m) => Value::Message(message(m, rng, vocabulary, depth + 1)),
    }
}

/// A random message of type `descriptor`.
pub fn message(
    descriptor: &MessageDescriptor,
    rng: &mut StdRng,
    vocabulary: &Vocabulary,
    depth: u32,
) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    if depth > 4 {
        return message;
    }
    for field in descriptor.fields() {
        if !rng.random_bool(0.6) {
            continue;
        }
        let kind = field.kind();
        let value = if field.is_map() {
            let Kind::Message(entry) = &kind else {
                continue;
            };
            let key_field = entry.map_entry_key_field();
            let value_field = entry.map_entry_value_field();
            let entries = (0..rng.random_range(0..4))
                .filter_map(|_| {
                    let key = match scalar(&key_field.kind(), rng, vocabulary, depth) {
                        Value::String(s) => MapKey::String(s),
                        Value::I32(i) => MapKey::I32(i),
                        Value::I64(i) => MapKey::I64(i),
                        Value::U32(i) => MapKey::U32(i),
                        Value::U64(i) => MapKey::U64(i),
                        Value::Bool(b) => MapKey::Bool(b),
                        _ => return None,
                    };
                    Some((key, scalar(&value_field.kind(), rng, vocabulary, depth)))
                })
                .collect();
            Value::Map(entries)
        } else if field.is_list() {
            let count = match rng.random_range(0..10) {
                0 => rng.random_range(1_000..3_000),
                1 => 0,
                _ => rng.random_range(1..6),
            };
            let items = if count > 6 {
                // A long list repeats one small value: what matters is its length.
                let one = match &kind {
                    Kind::String => Value::String(
                        NASTY_STRINGS[rng.random_range(0..NASTY_STRINGS.len())].to_owned(),
                    ),
                    Kind::Message(m) => Value::Message(DynamicMessage::new(m.clone())),
                    other => scalar(other, rng, vocabulary, depth),
                };
                vec![one; count]
            } else {
                (0..count)
                    .map(|_| scalar(&kind, rng, vocabulary, depth))
                    .collect()
            };
            Value::List(items)
        } else {
            scalar(&kind, rng, vocabulary, depth)
        };
        message.set_field(&field, value);
    }
    message
}

/// A request body for `input`: mostly random messages, sometimes garbage.
pub fn body(input: &MessageDescriptor, rng: &mut StdRng, vocabulary: &Vocabulary) -> Vec<u8> {
    match rng.random_range(0..20) {
        0 => {
            let mut garbage = vec![0; rng.random_range(1..512)];
            rng.fill_bytes(&mut garbage);
            garbage
        }
        1 => Vec::new(),
        _ => message(input, rng, vocabulary, 0).encode_to_vec(),
    }
}
