//! OpenAPI 3.1 documents of the JSON/HTTP API, written from the descriptors
//! and their `google.api.http` routes (see [`crate::http_rule`]).
//!
//! The build writes one document per gRPC service into `OUT_DIR` (and the
//! server serves it at `/openapi.json`); schemas follow the proto3 JSON
//! mapping the transcoder speaks: lowerCamelCase names, 64-bit integers as
//! strings, enums by name, `Timestamp` as RFC 3339. The output is a pure
//! function of the descriptors, keys sorted, so two builds write the same bytes.

use std::collections::BTreeSet;

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};
use serde_json::{Map, Value, json};

use crate::http_rule::{self, HttpRoute, RouteError};

/// The schema every error body follows.
pub const STATUS_SCHEMA: &str = "google.rpc.Status";

/// The OpenAPI document of `service` (full protobuf name).
pub fn document(pool: &DescriptorPool, service: &str) -> Result<Value, RouteError> {
    let routes = http_rule::routes(pool, service)?;
    let descriptor = pool
        .get_service_by_name(service)
        .ok_or_else(|| RouteError::UnknownService(service.to_owned()))?;
    let mut schemas = Schemas::default();
    let mut paths = Map::new();
    for route in &routes {
        let path = paths
            .entry(route.template.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = path {
            item.insert(
                route.verb.openapi_key().to_owned(),
                operation(route, &mut schemas),
            );
        }
    }
    let mut components = schemas.finish();
    components.insert(STATUS_SCHEMA.to_owned(), status_schema());
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": service,
            "version": "v1",
            "description": comment(&descriptor.parent_file(), descriptor.path()).unwrap_or_default(),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": components,
        },
    }))
}

/// The document as the build writes it: pretty, with a final newline.
pub fn render(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
    text.push('\n');
    text
}

fn operation(route: &HttpRoute, schemas: &mut Schemas) -> Value {
    let method = &route.method;
    let input = method.input();
    let output = method.output();
    let mut parameters = Vec::new();
    for name in route.path_fields() {
        if let Some(field) = input.get_field_by_name(name) {
            parameters.push(json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": schemas.field(&field),
            }));
        }
    }
    if !route.verb.has_body() {
        let in_path: BTreeSet<&str> = route.path_fields().collect();
        for field in input.fields() {
            if !in_path.contains(field.name()) {
                query_parameters(&field, field.name().to_owned(), 0, schemas, &mut parameters);
            }
        }
    }
    let request_type = if method.is_client_streaming() {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let response_type = if method.is_server_streaming() {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let mut op = Map::new();
    op.insert(
        "operationId".into(),
        json!(format!(
            "{}_{}",
            method.parent_service().name(),
            method.name()
        )),
    );
    if let Some(text) = comment(&method.parent_file(), method.path()) {
        op.insert("description".into(), json!(text));
    }
    op.insert("tags".into(), json!([method.parent_service().name()]));
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if route.verb.has_body() {
        op.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": {request_type: {"schema": schemas.reference(&input)}},
            }),
        );
    }
    let streamed = if method.is_server_streaming() {
        " (one JSON object per line)"
    } else {
        ""
    };
    op.insert(
        "responses".into(),
        json!({
            "200": {
                "description": format!("{}{streamed}", output.name()),
                "content": {response_type: {"schema": schemas.reference(&output)}},
            },
            "default": {
                "description": "An error: the gRPC status as google.rpc.Status, with the HTTP code that maps to it",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{STATUS_SCHEMA}")}}},
            },
        }),
    );
    Value::Object(op)
}

/// Query parameters for a field of a GET or DELETE request: scalars by name,
/// messages flattened to dotted names (`range.from.year`).
fn query_parameters(
    field: &FieldDescriptor,
    name: String,
    depth: usize,
    schemas: &mut Schemas,
    out: &mut Vec<Value>,
) {
    match field.kind() {
        Kind::Message(message) if !field.is_list() && well_known(&message).is_none() => {
            if depth < 4 {
                for inner in message.fields() {
                    let name = format!("{name}.{}", inner.name());
                    query_parameters(&inner, name, depth + 1, schemas, out);
                }
            }
        }
        Kind::Message(_) if field.is_list() || field.is_map() => {}
        _ => out.push(json!({
            "name": name,
            "in": "query",
            "schema": schemas.field(field),
        })),
    }
}

/// The JSON schemas of every message and enum an operation refers to.
#[derive(Default)]
struct Schemas {
    pending: Vec<MessageDescriptor>,
    enums: Vec<EnumDescriptor>,
    done: BTreeSet<String>,
}

impl Schemas {
    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        self.pending.push(message.clone());
        json!({"$ref": format!("#/components/schemas/{}", message.full_name())})
    }

    fn field(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map()
            && let Kind::Message(entry) = field.kind()
        {
            let value = entry.map_entry_value_field();
            return json!({"type": "object", "additionalProperties": self.single(&value)});
        }
        let one = self.single(field);
        if field.is_list() {
            json!({"type": "array", "items": one})
        } else {
            one
        }
    }

    fn single(&mut self, field: &FieldDescriptor) -> Value {
        match field.kind() {
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64"})
            }
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(e) => {
                self.enums.push(e.clone());
                json!({"$ref": format!("#/components/schemas/{}", e.full_name())})
            }
            Kind::Message(m) => self.reference(&m),
        }
    }

    fn finish(mut self) -> Map<String, Value> {
        let mut out = Map::new();
        while let Some(message) = self.pending.pop() {
            if !self.done.insert(message.full_name().to_owned()) {
                continue;
            }
            let mut properties = Map::new();
            for field in message.fields() {
                let mut schema = self.field(&field);
                if let (Some(text), Value::Object(map)) =
                    (comment(&message.parent_file(), field.path()), &mut schema)
                {
                    if map.contains_key("$ref") {
                        // A $ref with siblings is fine in 3.1, but wrap for older tools.
                        schema = json!({"allOf": [schema], "description": text});
                    } else {
                        map.insert("description".into(), json!(text));
                    }
                }
                properties.insert(field.json_name().to_owned(), schema);
            }
            let mut schema = Map::new();
            schema.insert("type".into(), json!("object"));
            if let Some(text) = comment(&message.parent_file(), message.path()) {
                schema.insert("description".into(), json!(text));
            }
            schema.insert("properties".into(), Value::Object(properties));
            out.insert(message.full_name().to_owned(), Value::Object(schema));
        }
        for e in self.enums {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            out.insert(
                e.full_name().to_owned(),
                json!({"type": "string", "enum": names}),
            );
        }
        out
    }
}

/// Well-known types have their own JSON forms.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"})
        }
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Any" => {
            json!({"type": "object", "properties": {"@type": {"type": "string"}}})
        }
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({"type": "integer"})
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": "string", "format": "int64"})
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            json!({"type": "number"})
        }
        _ => return None,
    })
}

fn status_schema() -> Value {
    json!({
        "type": "object",
        "description": "The gRPC status of a failed call (google.rpc.Status in proto3 JSON). \
                        A google.rpc.BadRequest detail names each field that was refused.",
        "properties": {
            "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
            "message": {"type": "string"},
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "@type": {"type": "string"},
                        "fieldViolations": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "description": {"type": "string"}
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The comment before a descriptor in its `.proto`, tidied.
fn comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let text = text
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documents committed for CRM developers who never build Earshot.
    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi");

    #[test]
    fn every_rpc_is_an_operation_and_the_build_wrote_the_same_document() {
        let pool = crate::descriptor_pool();
        for service in pool
            .services()
            .filter(|s| s.full_name().starts_with("earshot."))
        {
            let document = document(pool, service.full_name()).expect("every RPC has a route");
            let text = render(&document);
            assert_eq!(
                Some(text.as_str()),
                crate::openapi_document(service.full_name()),
                "{}: generated twice, not the same",
                service.full_name()
            );
            let mut operations = BTreeSet::new();
            for item in document["paths"].as_object().expect("paths").values() {
                for op in item.as_object().expect("path item").values() {
                    operations.insert(op["operationId"].as_str().expect("id").to_owned());
                }
            }
            for method in service.methods() {
                let id = format!("{}_{}", service.name(), method.name());
                assert!(operations.contains(&id), "{id} has no path");
            }
            let schemas = document["components"]["schemas"]
                .as_object()
                .expect("schemas");
            for reference in text.split("\"#/components/schemas/").skip(1) {
                let name = reference.split('"').next().unwrap_or_default();
                assert!(
                    schemas.contains_key(name),
                    "{name} is referred to but not defined"
                );
            }
        }
    }

    #[test]
    fn the_committed_documents_are_the_generated_ones() {
        let write = std::env::var_os("EARSHOT_WRITE_OPENAPI").is_some();
        for (service, text) in crate::OPENAPI_DOCUMENTS {
            let path = format!("{COMMITTED}/{service}.json");
            if write {
                std::fs::create_dir_all(COMMITTED).expect("docs/openapi is writable");
                std::fs::write(&path, text).expect("docs/openapi is writable");
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == *text,
                "{path} is not what the protos generate; refresh it with \
                 EARSHOT_WRITE_OPENAPI=1 cargo test -p earshot-proto openapi"
            );
        }
    }

    #[test]
    fn fields_follow_the_proto3_json_mapping() {
        let pool = crate::descriptor_pool();
        let document = document(pool, "earshot.case.v1.CaseService").expect("routes");
        let case = &document["components"]["schemas"]["earshot.case.v1.Case"]["properties"];
        assert!(case.get("caseId").is_some(), "lowerCamelCase names");
        let version = &case["version"];
        assert_eq!(version["type"], "string", "int64 as a string: {version}");
        let get = &document["paths"]["/v1/cases/{case_id}"]["get"];
        assert_eq!(get["parameters"][0]["in"], "path");
        assert_eq!(get["parameters"][0]["name"], "case_id");
        let list = &document["paths"]["/v1/cases"]["get"]["parameters"];
        assert!(
            list.as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["name"] == "page_size" && p["in"] == "query"),
            "{list}"
        );
    }
}
