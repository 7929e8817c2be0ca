//! The codec every generated server and client uses: prost's, plus one check
//! on every request message before any handler sees it. PostgreSQL refuses a
//! NUL character in text (and in jsonb), so a NUL anywhere in a request
//! would surface as an `INTERNAL` from deep inside a transaction; here it is
//! `INVALID_ARGUMENT` naming the field, and nothing else runs.
//!
//! Batch and stream requests whose items are judged one by one
//! ([`PER_ITEM`]) are left to their handlers, which check each item with
//! [`nul_field`], so one bad item never sinks its neighbours or a stream.

use std::marker::PhantomData;

use bytes::Buf;
use prost::{Message, Name};
use prost_reflect::{DynamicMessage, MapKey, Value};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// Requests whose handlers check each item on its own (a batch's bad item is
/// rejected alone; a stream's bad message is rejected and the stream goes on).
pub const PER_ITEM: &[&str] = &[
    "earshot.listening.v1.IngestMentionsRequest",
    "earshot.listening.v1.StreamMentionsRequest",
    "earshot.listening.v1.IngestPayloadRequest",
    "earshot.events.v1.DeliverRequest",
];

/// What a caller is told about a request body that does not decode.
pub const MALFORMED: &str = "the request is not a valid protobuf message of this method";

/// The path of the first string in `message` that holds a NUL character
/// (`mentions[3].author.handle`), if any.
pub fn nul_field<M: Message + Name>(message: &M) -> Option<String> {
    let descriptor = crate::descriptor_pool().get_message_by_name(&M::full_name())?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).ok()?;
    first_nul(&dynamic, "")
}

fn first_nul(message: &DynamicMessage, prefix: &str) -> Option<String> {
    message.fields().find_map(|(field, value)| {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        value_nul(value, &path)
    })
}

fn value_nul(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Message(inner) => first_nul(inner, path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| value_nul(item, &format!("{path}[{i}]"))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| {
            if let MapKey::String(key) = key
                && key.contains('\0')
            {
                return Some(format!("{path} (a key)"));
            }
            value_nul(item, &format!("{path}[{key:?}]"))
        }),
        _ => None,
    }
}

/// The status for a NUL in `field`.
pub fn nul_status(field: &str) -> Status {
    let description = "must not contain NUL (U+0000) characters";
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, description);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        details,
    )
}

/// prost's codec with the request check of this module.
#[derive(Debug, Clone)]
pub struct CheckedCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for CheckedCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for CheckedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder { _type: PhantomData }
    }
}

/// Decodes `U`; a request message (its name ends in `Request`) that is not
/// judged per item is checked for NUL characters first.
#[derive(Debug, Clone)]
pub struct CheckedDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Name + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let name = U::full_name();
        if !name.ends_with("Request") || PER_ITEM.contains(&name.as_str()) {
            return U::decode(buf).map(Some).map_err(malformed);
        }
        decode_checked(buf.copy_to_bytes(buf.remaining())).map(Some)
    }
}

fn decode_checked<U: Message + Name + Default>(bytes: bytes::Bytes) -> Result<U, Status> {
    let item = U::decode(bytes.clone()).map_err(malformed)?;
    if let Some(descriptor) = crate::descriptor_pool().get_message_by_name(&U::full_name()) {
        let dynamic = DynamicMessage::decode(descriptor, bytes).map_err(malformed)?;
        if let Some(field) = first_nul(&dynamic, "") {
            return Err(nul_status(&field));
        }
    }
    Ok(item)
}

fn malformed(error: prost::DecodeError) -> Status {
    // The decoder's words go to our logs, never to the caller.
    tracing::info!(%error, "malformed request");
    Status::invalid_argument(MALFORMED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::v1::{CreateCaseRequest, SearchArticlesRequest};
    use crate::common::v1::Author;
    use crate::listening::v1::MentionInput;

    #[test]
    fn the_first_nul_is_named_by_its_path() {
        let mention = MentionInput {
            text: "fine".into(),
            author: Some(Author {
                handle: "ja\0ne".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(nul_field(&mention).as_deref(), Some("author.handle"));
        assert_eq!(nul_field(&MentionInput::default()), None);
        let search = SearchArticlesRequest {
            text: "a\0b".into(),
            ..Default::default()
        };
        assert_eq!(nul_field(&search).as_deref(), Some("text"));
    }

    #[test]
    fn requests_with_a_nul_are_refused_before_any_handler() {
        let request = CreateCaseRequest {
            description: "help\0".into(),
            ..Default::default()
        };
        let bytes = request.encode_to_vec();
        let status = decode::<CreateCaseRequest>(&bytes).expect_err("NUL");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with("description:"),
            "{}",
            status.message()
        );
        let clean = CreateCaseRequest {
            description: "help".into(),
            ..Default::default()
        };
        assert_eq!(
            decode::<CreateCaseRequest>(&clean.encode_to_vec()).expect("clean"),
            clean
        );
        let status = decode::<CreateCaseRequest>(&[0xff, 0xff, 0xff]).expect_err("garbage");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), MALFORMED);
    }

    fn decode<U: Message + Name + Default>(bytes: &[u8]) -> Result<U, Status> {
        decode_checked(bytes::Bytes::copy_from_slice(bytes))
    }
}
