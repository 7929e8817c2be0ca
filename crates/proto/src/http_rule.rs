//! The JSON/HTTP route of each RPC, read from its `google.api.http` option.
//!
//! The build (which writes each service's OpenAPI document) and the HTTP
//! transcoder read the annotations through this one module, so a route the
//! document lists is the route the server answers. The subset of
//! `google.api.http` Earshot uses is checked here: one rule per method,
//! `body` empty or `"*"` (never on GET or DELETE), and path variables that
//! are whole segments naming a top-level scalar field of the request.

use prost_reflect::{DescriptorPool, Kind, MethodDescriptor, Value};

/// Full name of the method option that maps an RPC to HTTP.
pub const HTTP_OPTION: &str = "google.api.http";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("{HTTP_OPTION} is not in the descriptors: import google/api/annotations.proto")]
    NoOption,
    #[error("no gRPC service named {0} in the contracts")]
    UnknownService(String),
    #[error("{method} declares no ({HTTP_OPTION}) option")]
    Undeclared { method: String },
    #[error("{method}: {problem}")]
    Invalid { method: String, problem: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpVerb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// The key of an operation in an OpenAPI path item.
    pub fn openapi_key(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }

    pub fn parse(method: &str) -> Option<Self> {
        Some(match method {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    /// Whether a request of this verb carries the message in its body.
    pub fn has_body(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// A path variable: the request field it sets.
    Field(String),
}

/// One RPC's HTTP route.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub method: MethodDescriptor,
    pub verb: HttpVerb,
    /// The template as annotated, e.g. `/v1/cases/{case_id}:resolve`.
    pub template: String,
    pub segments: Vec<Segment>,
    /// The custom verb after the last segment (`resolve`), if any.
    pub custom_verb: Option<String>,
}

impl HttpRoute {
    /// The gRPC request path, `/earshot.case.v1.CaseService/GetCase`.
    pub fn grpc_path(&self) -> String {
        format!(
            "/{}/{}",
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }

    /// The request fields set from the path, in order.
    pub fn path_fields(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The path variables' raw (still percent-encoded) values when `path`
    /// is this route's, else `None`.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.custom_verb {
            Some(verb) => rest.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => rest,
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut values = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Field(name) if !part.is_empty() => values.push((name.as_str(), part)),
                _ => return None,
            }
        }
        Some(values)
    }

    /// How specific the route is: literal segments and a custom verb count,
    /// so `/v1/rules:validate` wins over `/v1/rules/{rule_id}` were both to match.
    pub fn specificity(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
            * 2
            + usize::from(self.custom_verb.is_some())
    }
}

/// Every method of `service` (full protobuf name) with its HTTP route; an
/// error names the first method without a valid one.
pub fn routes(pool: &DescriptorPool, service: &str) -> Result<Vec<HttpRoute>, RouteError> {
    let option = pool
        .get_extension_by_name(HTTP_OPTION)
        .ok_or(RouteError::NoOption)?;
    let descriptor = pool
        .get_service_by_name(service)
        .ok_or_else(|| RouteError::UnknownService(service.to_owned()))?;
    descriptor
        .methods()
        .map(|method| {
            let name = method.full_name().to_owned();
            let options = method.options();
            if !options.has_extension(&option) {
                return Err(RouteError::Undeclared { method: name });
            }
            let rule = match options.get_extension(&option).as_ref() {
                Value::Message(rule) => rule.clone(),
                _ => return Err(RouteError::Undeclared { method: name }),
            };
            route(method, &rule).map_err(|problem| RouteError::Invalid {
                method: name,
                problem,
            })
        })
        .collect()
}

fn route(
    method: MethodDescriptor,
    rule: &prost_reflect::DynamicMessage,
) -> Result<HttpRoute, String> {
    let text = |field: &str| match rule.get_field_by_name(field).as_deref() {
        Some(Value::String(s)) if rule.has_field_by_name(field) => Some(s.clone()),
        _ => None,
    };
    if text("custom").is_some() || rule.has_field_by_name("additional_bindings") {
        return Err("custom verbs and additional bindings are not used here".into());
    }
    let mut patterns = [
        (HttpVerb::Get, "get"),
        (HttpVerb::Post, "post"),
        (HttpVerb::Put, "put"),
        (HttpVerb::Patch, "patch"),
        (HttpVerb::Delete, "delete"),
    ]
    .into_iter()
    .filter_map(|(verb, field)| text(field).map(|t| (verb, t)));
    let (verb, template) = patterns
        .next()
        .ok_or_else(|| "the rule names no HTTP method".to_owned())?;
    let body = text("body").unwrap_or_default();
    match (verb.has_body(), body.as_str()) {
        (true, "*") | (false, "") => {}
        (true, other) => return Err(format!("{} takes body \"*\", not {other:?}", verb.as_str())),
        (false, _) => return Err(format!("{} has no body", verb.as_str())),
    }
    if text("response_body").is_some_and(|r| !r.is_empty()) {
        return Err("response_body is not used here".into());
    }
    let (segments, custom_verb) = parse_template(&template)?;
    let input = method.input();
    for segment in &segments {
        if let Segment::Field(name) = segment {
            let field = input
                .get_field_by_name(name)
                .ok_or_else(|| format!("{template}: {} has no field {name}", input.name()))?;
            let scalar = matches!(
                field.kind(),
                Kind::String
                    | Kind::Int32
                    | Kind::Int64
                    | Kind::Uint32
                    | Kind::Uint64
                    | Kind::Sint32
                    | Kind::Sint64
                    | Kind::Fixed32
                    | Kind::Fixed64
                    | Kind::Sfixed32
                    | Kind::Sfixed64
                    | Kind::Bool
            );
            if !scalar || field.is_list() || field.is_map() {
                return Err(format!(
                    "{template}: path field {name} is not a single scalar"
                ));
            }
        }
    }
    Ok(HttpRoute {
        method,
        verb,
        template,
        segments,
        custom_verb,
    })
}

/// `/v1/cases/{case_id}:resolve` → its segments and custom verb.
pub fn parse_template(template: &str) -> Result<(Vec<Segment>, Option<String>), String> {
    let rest = template
        .strip_prefix("/v1/")
        .ok_or_else(|| format!("{template}: a path starts with /v1/"))?;
    let last = rest.rsplit('/').next().unwrap_or(rest);
    let (rest, custom_verb) = match last.rfind(':') {
        Some(colon) if !last[colon..].contains('}') => {
            let cut = rest.len() - (last.len() - colon);
            (&rest[..cut], Some(rest[cut + 1..].to_owned()))
        }
        _ => (rest, None),
    };
    if custom_verb
        .as_deref()
        .is_some_and(|v| v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(format!("{template}: a custom verb is letters and digits"));
    }
    let mut segments = vec![Segment::Literal("v1".into())];
    for part in rest.split('/') {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(inner) => {
                let name = inner.strip_suffix("=*").unwrap_or(inner);
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!("{template}: {{{inner}}} must name one field"));
                }
                Segment::Field(name.to_owned())
            }
            None => {
                if part.is_empty() || part.contains(['{', '}', '*', ':']) {
                    return Err(format!("{template}: segment {part:?} is not a plain word"));
                }
                Segment::Literal(part.to_owned())
            }
        };
        segments.push(segment);
    }
    Ok((segments, custom_verb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_segments_and_verb() {
        let (segments, verb) = parse_template("/v1/cases/{case_id}:resolve").expect("valid");
        assert_eq!(
            segments,
            vec![
                Segment::Literal("v1".into()),
                Segment::Literal("cases".into()),
                Segment::Field("case_id".into())
            ]
        );
        assert_eq!(verb.as_deref(), Some("resolve"));
        let (segments, verb) = parse_template("/v1/mentions:ingest").expect("valid");
        assert_eq!(segments.len(), 2);
        assert_eq!(verb.as_deref(), Some("ingest"));
        assert_eq!(parse_template("/v1/cases").expect("valid").1, None);
        for bad in [
            "/cases",
            "/v1/{a.b}",
            "/v1/x/{id=**}",
            "/v1/*",
            "/v1//x",
            "/v1/x:",
        ] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
    }

    fn all_routes() -> Vec<HttpRoute> {
        let pool = crate::descriptor_pool();
        pool.services()
            .flat_map(|s| routes(pool, s.full_name()).expect("every RPC has a valid route"))
            .collect()
    }

    #[test]
    fn every_rpc_has_one_route_and_no_two_collide() {
        let routes = all_routes();
        let methods: usize = crate::descriptor_pool()
            .services()
            .map(|s| s.methods().len())
            .sum();
        assert_eq!(routes.len(), methods);
        let mut seen = std::collections::HashSet::new();
        for r in &routes {
            assert!(
                seen.insert((r.verb, r.template.clone())),
                "{} {} twice",
                r.verb.as_str(),
                r.template
            );
        }
    }

    #[test]
    fn a_path_matches_its_own_route_only() {
        let routes = all_routes();
        let get_case = routes
            .iter()
            .find(|r| r.method.full_name() == "earshot.case.v1.CaseService.GetCase")
            .expect("GetCase");
        assert_eq!(
            get_case.matches("/v1/cases/7f0c"),
            Some(vec![("case_id", "7f0c")])
        );
        assert_eq!(get_case.matches("/v1/cases/7f0c/messages"), None);
        assert_eq!(get_case.matches("/v1/cases/"), None);
        let ingest = routes
            .iter()
            .find(|r| r.method.name() == "IngestMentions")
            .expect("IngestMentions");
        assert_eq!(ingest.matches("/v1/mentions:ingest"), Some(vec![]));
        assert_eq!(ingest.matches("/v1/mentions"), None);
    }
}
