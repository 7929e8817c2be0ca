//! Requests checked into the typed inputs the rest of the crate takes: every
//! bad field is named at once, before any work.

use std::net::IpAddr;

use earshot_proto::common::v1::{
    CreateWebhookEndpointRequest, DeleteWebhookEndpointRequest, ListWebhookDeliveriesRequest,
    UpdateWebhookEndpointRequest,
};
use earshot_server::{FieldViolations, Page, ServiceError, invalid};
use url::{Host, Url};
use uuid::Uuid;

pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// An endpoint URL: `https://`, or `http://` to a loopback host; no user
/// name or password (they would be sent to whoever answers, and shown in
/// every listing); at most [`MAX_URL_CHARS`]. `None` with the violation added.
pub fn url(raw: &str, field: &str, v: &mut FieldViolations) -> Option<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        v.add(field, "is required");
        return None;
    }
    if raw.chars().count() > MAX_URL_CHARS {
        v.add(field, format!("must be at most {MAX_URL_CHARS} characters"));
        return None;
    }
    let Ok(url) = Url::parse(raw) else {
        v.add(field, "must be an absolute URL");
        return None;
    };
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    let problem = match url.scheme() {
        _ if url.host().is_none() => Some("must name a host"),
        "https" => None,
        "http" if loopback => None,
        "http" => Some("must use https:// (http:// only to 127.0.0.1, ::1 or localhost)"),
        _ => Some("must use https://"),
    }
    .or_else(|| {
        (!url.username().is_empty() || url.password().is_some())
            .then_some("must not carry a user name or password")
    })
    .or_else(|| {
        url.fragment()
            .is_some()
            .then_some("must not have a #fragment")
    });
    match problem {
        Some(problem) => {
            v.add(field, problem);
            None
        }
        // What is stored and posted to: the URL as parsed, so that what a
        // listing shows is what receives.
        None if url.as_str().chars().count() > MAX_URL_CHARS => {
            v.add(field, format!("must be at most {MAX_URL_CHARS} characters"));
            None
        }
        None => Some(url),
    }
}

/// Event types an endpoint asks for: each one the service offers, repeats
/// folded; empty means all of them.
pub fn event_types(
    raw: &[String],
    offered: &[&str],
    field: &str,
    v: &mut FieldViolations,
) -> Vec<String> {
    // Every offered type at most once: more entries than that are repeats
    // or mistakes, refused before any is read.
    if raw.len() > offered.len().max(1) * 2 {
        v.add(
            field,
            format!("must list at most the {} types offered", offered.len()),
        );
        return Vec::new();
    }
    let mut types: Vec<String> = Vec::new();
    for (i, kind) in raw.iter().enumerate() {
        let kind = kind.trim();
        if !offered.contains(&kind) {
            v.add(
                format!("{field}[{i}]"),
                format!("must be one of: {}", offered.join(", ")),
            );
        } else if !types.iter().any(|t| t == kind) {
            types.push(kind.to_owned());
        }
    }
    types
}

/// The tenant's note on an endpoint.
pub fn description(raw: &str, v: &mut FieldViolations) -> String {
    let description = raw.trim();
    v.check(
        description.chars().count() > MAX_DESCRIPTION_CHARS,
        "description",
        "must be at most 500 characters",
    );
    v.check(
        description.contains('\0'),
        "description",
        "must not contain NUL characters",
    );
    description.to_owned()
}

/// A new endpoint, as checked from a create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub request_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub accept_drills: bool,
    pub description: String,
}

pub fn create(
    req: &CreateWebhookEndpointRequest,
    offered: &[&str],
) -> Result<NewEndpoint, ServiceError> {
    let mut v = FieldViolations::new();
    let request_id = v.request_id(&req.request_id).to_owned();
    let url = url(&req.url, "url", &mut v);
    let event_types = event_types(&req.event_types, offered, "event_types", &mut v);
    let description = description(&req.description, &mut v);
    v.into_result()?;
    let url = url.ok_or_else(|| invalid("url", "is required"))?;
    Ok(NewEndpoint {
        request_id,
        url: url.into(),
        event_types,
        accept_drills: req.accept_drills,
        description,
    })
}

/// New settings for an endpoint, at the version the caller read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointChange {
    pub endpoint_id: Uuid,
    pub expected_version: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub accept_drills: bool,
    /// `None` leaves it as it is.
    pub enabled: Option<bool>,
    pub description: String,
}

pub fn update(
    req: &UpdateWebhookEndpointRequest,
    offered: &[&str],
) -> Result<EndpointChange, ServiceError> {
    let mut v = FieldViolations::new();
    let endpoint_id = v.id(&req.endpoint_id, "endpoint_id");
    v.version(req.expected_version, "expected_version");
    let url = url(&req.url, "url", &mut v);
    let event_types = event_types(&req.event_types, offered, "event_types", &mut v);
    let description = description(&req.description, &mut v);
    v.into_result()?;
    let (Some(endpoint_id), Some(url)) = (endpoint_id, url) else {
        return Err(invalid("endpoint_id", "is required"));
    };
    Ok(EndpointChange {
        endpoint_id,
        expected_version: req.expected_version,
        url: url.into(),
        event_types,
        accept_drills: req.accept_drills,
        enabled: req.enabled,
        description,
    })
}

/// An endpoint to delete, at a version when one is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    pub endpoint_id: Uuid,
    pub expected_version: Option<i64>,
}

pub fn delete(req: &DeleteWebhookEndpointRequest) -> Result<Deletion, ServiceError> {
    let mut v = FieldViolations::new();
    let endpoint_id = v.id(&req.endpoint_id, "endpoint_id");
    v.check(
        req.expected_version < 0,
        "expected_version",
        "must be the version last read, or 0 for any",
    );
    v.into_result()?;
    Ok(Deletion {
        endpoint_id: endpoint_id.ok_or_else(|| invalid("endpoint_id", "is required"))?,
        expected_version: (req.expected_version > 0).then_some(req.expected_version),
    })
}

/// A page of deliveries, of one endpoint or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub endpoint_id: Option<Uuid>,
    pub page: Page,
}

pub fn deliveries(req: &ListWebhookDeliveriesRequest) -> Result<DeliveryQuery, ServiceError> {
    let mut v = FieldViolations::new();
    let endpoint_id = if req.endpoint_id.is_empty() {
        None
    } else {
        v.id(&req.endpoint_id, "endpoint_id")
    };
    let page = match Page::parse(req.page_size, &req.page_token) {
        Ok(page) => Some(page),
        Err(ServiceError::InvalidArgument(found)) => {
            for violation in found.iter() {
                v.add(violation.field.clone(), violation.description.clone());
            }
            None
        }
        Err(other) => return Err(other),
    };
    v.into_result()?;
    Ok(DeliveryQuery {
        endpoint_id,
        page: page.ok_or_else(|| invalid("page_token", "is not a token this service issued"))?,
    })
}

/// A required id of a request, such as `endpoint_id` or `delivery_id`.
pub fn id(raw: &str, field: &str) -> Result<Uuid, ServiceError> {
    earshot_server::convert::parse_id(raw, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(raw: &str) -> Result<String, String> {
        let mut v = FieldViolations::new();
        match url(raw, "url", &mut v) {
            Some(url) if v.is_empty() => Ok(url.into()),
            _ => Err(v.to_string()),
        }
    }

    #[test]
    fn urls_need_https_except_to_loopback() {
        assert_eq!(
            check_url("https://hooks.example.com/earshot").as_deref(),
            Ok("https://hooks.example.com/earshot")
        );
        for fine in [
            "http://127.0.0.1:8080/hook",
            "http://127.8.0.1/hook",
            "http://[::1]:9000/",
            "http://localhost/x",
            "http://LOCALHOST:1/x",
            " https://a.example/ ",
        ] {
            assert!(check_url(fine).is_ok(), "{fine}: {:?}", check_url(fine));
        }
        for (bad, why) in [
            ("", "is required"),
            ("hooks.example.com", "absolute URL"),
            ("http://hooks.example.com/", "https://"),
            ("http://10.0.0.1/", "https://"),
            ("ftp://127.0.0.1/", "https://"),
            (
                "https://user:pw@hooks.example.com/",
                "user name or password",
            ),
            ("https://user@hooks.example.com/", "user name or password"),
            ("https://hooks.example.com/#top", "fragment"),
            ("http://localhost.evil.example/", "https://"),
        ] {
            let err = check_url(bad).expect_err(bad);
            assert!(err.starts_with("url: "), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_URL_CHARS));
        assert!(check_url(&long).expect_err("long").contains("2048"));
    }

    #[test]
    fn event_types_must_be_offered_and_repeats_fold() {
        let offered = ["escalation.raised", "incident.opened"];
        let mut v = FieldViolations::new();
        let types = event_types(
            &["incident.opened".into(), "incident.opened".into()],
            &offered,
            "event_types",
            &mut v,
        );
        assert!(v.is_empty());
        assert_eq!(types, ["incident.opened"]);
        let mut v = FieldViolations::new();
        event_types(
            &["incident.opened".into(), "case.opened".into()],
            &offered,
            "event_types",
            &mut v,
        );
        assert!(
            v.to_string().starts_with("event_types[1]: must be one of"),
            "{v}"
        );
        let mut v = FieldViolations::new();
        event_types(&vec!["x".to_owned(); 1000], &offered, "event_types", &mut v);
        assert_eq!(v.iter().count(), 1, "the list is refused whole: {v}");
    }

    #[test]
    fn create_names_every_bad_field() {
        let req = CreateWebhookEndpointRequest {
            url: "http://example.com".into(),
            event_types: vec!["nope".into()],
            accept_drills: false,
            description: "x".repeat(501),
            request_id: String::new(),
        };
        let err = create(&req, &["escalation.raised"])
            .expect_err("bad")
            .to_string();
        for field in ["request_id", "url", "event_types[0]", "description"] {
            assert!(err.contains(&format!("{field}: ")), "{field} in {err}");
        }
    }
}
