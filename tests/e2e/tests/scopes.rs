//! Every RPC of every service, called through a real server: without the
//! scope its proto declares it is `PERMISSION_DENIED`, with that scope alone
//! it is anything else. `EventSink` takes only service principals: no tenant
//! scope opens it, `admin` included, and a service token opens nothing else.
//! The methods come from the descriptors, so a new RPC is covered the day it
//! is added.

use earshot_auth::{ADMIN_SCOPE, EVENTS_DELIVER_SCOPE};
use earshot_e2e::raw::{Method, call, methods};
use earshot_e2e::{ALL, Suite, token};
use earshot_proto::scopes::method_scopes;
use earshot_server::Service;
use earshot_testkit::{TestService, service_token};
use tonic::Code;

/// The code `method` answers a default request with, called with `token`.
async fn code(service: &TestService, method: &Method, token: &str) -> Code {
    let bodies = if method.client_streaming {
        Vec::new()
    } else {
        vec![Vec::new()]
    };
    match call(service, method, token, bodies).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Every tenant scope and `admin`, but `scope`.
fn all_but(scope: &str) -> Vec<&'static str> {
    ALL.iter()
        .copied()
        .filter(|s| *s != scope)
        .collect::<Vec<_>>()
}

async fn sweep(service: &TestService, names: &[&str]) -> usize {
    let mut checked = 0;
    for name in names {
        let scopes = method_scopes(name).expect("every method declares its scope");
        for (method, declared) in methods(&[name]).iter().zip(&scopes) {
            assert_eq!(method.path, declared.path);
            let scope = &declared.scope;
            let (without, with) = if *scope == EVENTS_DELIVER_SCOPE {
                let mut every = ALL.to_vec();
                every.push(ADMIN_SCOPE);
                every.push(EVENTS_DELIVER_SCOPE);
                (token("tenant-a", &every), service_token())
            } else {
                (
                    token("tenant-a", &all_but(scope)),
                    token("tenant-a", &[scope.as_str()]),
                )
            };
            assert_eq!(
                code(service, method, &without).await,
                Code::PermissionDenied,
                "{} without {}",
                method.path,
                scope
            );
            let allowed = code(service, method, &with).await;
            assert!(
                !matches!(allowed, Code::PermissionDenied | Code::Unauthenticated),
                "{} with {} answered {allowed:?}",
                method.path,
                scope
            );
            if *scope != EVENTS_DELIVER_SCOPE {
                assert_eq!(
                    code(service, method, &service_token()).await,
                    Code::PermissionDenied,
                    "{} with a service token",
                    method.path
                );
            }
            checked += 1;
        }
    }
    checked
}

#[tokio::test]
async fn every_rpc_needs_the_scope_its_proto_declares() {
    let suite = Suite::start().await;
    let mut checked = 0;
    checked += sweep(
        &suite.listening,
        earshot_listening::ListeningService::GRPC_SERVICES,
    )
    .await;
    checked += sweep(&suite.case, earshot_case::CaseService::GRPC_SERVICES).await;
    checked += sweep(
        &suite.escalation,
        earshot_escalation::EscalationService::GRPC_SERVICES,
    )
    .await;
    checked += sweep(
        &suite.insight,
        earshot_insight::InsightService::GRPC_SERVICES,
    )
    .await;
    // The sweep walks the descriptors; this only guards against it walking none.
    assert!(checked >= 60, "{checked} methods checked");
}

#[test]
fn a_service_with_an_unknown_contract_does_not_start() {
    let err = earshot_server::scope_policy(&["earshot.nope.v1.Nothing"]).expect_err("unknown");
    assert!(err.to_string().contains("earshot.nope.v1.Nothing"), "{err}");
}
