//! The scope each RPC declares in its proto
//! (`option (earshot.common.v1.required_scope) = "cases:write";`), read from
//! the descriptors the build wrote, so the contract is the one place that
//! says who may call what.

use prost_reflect::{DescriptorPool, Value};

/// Full name of the method option every Earshot RPC sets.
pub const REQUIRED_SCOPE_OPTION: &str = "earshot.common.v1.required_scope";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("the descriptors built into this binary cannot be read: {0}")]
    Descriptors(String),
    #[error("no gRPC service named {0} in the contracts")]
    UnknownService(String),
    #[error("{0} declares no (earshot.common.v1.required_scope) option")]
    Undeclared(String),
}

/// One method of a service and the scope a caller needs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodScope {
    /// The request path, `/earshot.case.v1.CaseService/GetCase`.
    pub path: String,
    pub scope: String,
    /// Whether the client streams requests (the server then reads a stream).
    pub client_streaming: bool,
    /// Whether the server streams responses.
    pub server_streaming: bool,
}

fn pool() -> Result<DescriptorPool, ScopeError> {
    Ok(crate::descriptor_pool().clone())
}

/// Every method of `service` (full protobuf name) with its declared scope;
/// an error names the first method that declares none.
pub fn method_scopes(service: &str) -> Result<Vec<MethodScope>, ScopeError> {
    method_scopes_in(&pool()?, service)
}

fn method_scopes_in(pool: &DescriptorPool, service: &str) -> Result<Vec<MethodScope>, ScopeError> {
    let option = pool
        .get_extension_by_name(REQUIRED_SCOPE_OPTION)
        .ok_or_else(|| ScopeError::Descriptors(format!("{REQUIRED_SCOPE_OPTION} is missing")))?;
    let descriptor = pool
        .get_service_by_name(service)
        .ok_or_else(|| ScopeError::UnknownService(service.to_owned()))?;
    descriptor
        .methods()
        .map(|method| {
            let path = format!("/{}/{}", service, method.name());
            let options = method.options();
            let scope = match options.get_extension(&option).as_ref() {
                Value::String(scope) if options.has_extension(&option) && !scope.is_empty() => {
                    scope.clone()
                }
                _ => return Err(ScopeError::Undeclared(path)),
            };
            Ok(MethodScope {
                path,
                scope,
                client_streaming: method.is_client_streaming(),
                server_streaming: method.is_server_streaming(),
            })
        })
        .collect()
}

/// Full names of every gRPC service in the contracts.
pub fn services() -> Result<Vec<String>, ScopeError> {
    Ok(pool()?
        .services()
        .map(|s| s.full_name().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_of_every_service_declares_a_scope() {
        let services = services().expect("descriptors");
        assert!(services.len() >= 5, "{services:?}");
        for service in services {
            let methods = method_scopes(&service).expect("declared");
            assert!(!methods.is_empty(), "{service} has methods");
        }
    }

    #[test]
    fn a_method_without_a_scope_is_refused_by_name() {
        use prost_types::{FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto};
        let mut pool = pool().expect("descriptors");
        pool.add_file_descriptor_proto(FileDescriptorProto {
            name: Some("forgotten.proto".into()),
            package: Some("earshot.forgotten.v1".into()),
            dependency: vec!["earshot/common/v1/common.proto".into()],
            syntax: Some("proto3".into()),
            service: vec![ServiceDescriptorProto {
                name: Some("Forgotten".into()),
                method: vec![MethodDescriptorProto {
                    name: Some("Open".into()),
                    input_type: Some(".earshot.common.v1.Author".into()),
                    output_type: Some(".earshot.common.v1.Author".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .expect("a valid file");
        assert_eq!(
            method_scopes_in(&pool, "earshot.forgotten.v1.Forgotten"),
            Err(ScopeError::Undeclared(
                "/earshot.forgotten.v1.Forgotten/Open".into()
            ))
        );
    }

    #[test]
    fn scopes_come_from_the_contract() {
        let case = method_scopes("earshot.case.v1.CaseService").expect("case");
        let scope_of = |path: &str| {
            case.iter()
                .find(|m| m.path == path)
                .map(|m| m.scope.as_str())
        };
        assert_eq!(
            scope_of("/earshot.case.v1.CaseService/GetCase"),
            Some("cases:read")
        );
        assert_eq!(
            scope_of("/earshot.case.v1.CaseService/CreateCase"),
            Some("cases:write")
        );
        let sink = method_scopes("earshot.events.v1.EventSink").expect("sink");
        assert_eq!(sink[0].scope, "events:deliver");
        let stream = method_scopes("earshot.listening.v1.ListeningService")
            .expect("listening")
            .into_iter()
            .find(|m| m.path.ends_with("/StreamMentions"))
            .expect("stream");
        assert!(stream.client_streaming && stream.server_streaming);
        assert_eq!(stream.scope, "mentions:write");
        assert_eq!(
            method_scopes("earshot.nope.v1.Nothing"),
            Err(ScopeError::UnknownService("earshot.nope.v1.Nothing".into()))
        );
    }
}
