//! Every RPC of every service, called through a real server: without the
//! scope its proto declares it is `PERMISSION_DENIED`, with that scope alone
//! it is anything else. `EventSink` takes only service principals: no tenant
//! scope opens it, `admin` included, and a service token opens nothing else.
//! The methods come from the descriptors, so a new RPC is covered the day it
//! is added.

use bytes::{Buf, BufMut};
use earshot_auth::{ADMIN_SCOPE, EVENTS_DELIVER_SCOPE};
use earshot_e2e::{ALL, Suite, token};
use earshot_proto::scopes::{MethodScope, method_scopes};
use earshot_server::Service;
use earshot_testkit::{AuthedChannel, TestService, service_token};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

/// Passes request and response bodies through as bytes, so one client can
/// call any method: an empty body is the method's default request.
#[derive(Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// The code `method` answers a default request with, called with `token`.
async fn call(service: &TestService, method: &MethodScope, token: &str) -> Code {
    let mut grpc = tonic::client::Grpc::<AuthedChannel>::new(service.authed(token));
    grpc.ready().await.expect("channel ready");
    let path = method.path.parse().expect("a method path");
    let outcome = if method.client_streaming {
        let requests = tokio_stream::empty::<Vec<u8>>();
        grpc.streaming(tonic::Request::new(requests), path, RawCodec)
            .await
            .map(|_| ())
    } else if method.server_streaming {
        grpc.server_streaming(tonic::Request::new(Vec::new()), path, RawCodec)
            .await
            .map(|_| ())
    } else {
        grpc.unary(tonic::Request::new(Vec::new()), path, RawCodec)
            .await
            .map(|_| ())
    };
    match outcome {
        Ok(()) => Code::Ok,
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
        let methods = method_scopes(name).expect("every method declares its scope");
        for method in &methods {
            let (without, with) = if method.scope == EVENTS_DELIVER_SCOPE {
                let mut every = ALL.to_vec();
                every.push(ADMIN_SCOPE);
                every.push(EVENTS_DELIVER_SCOPE);
                (token("tenant-a", &every), service_token())
            } else {
                (
                    token("tenant-a", &all_but(&method.scope)),
                    token("tenant-a", &[method.scope.as_str()]),
                )
            };
            assert_eq!(
                call(service, method, &without).await,
                Code::PermissionDenied,
                "{} without {}",
                method.path,
                method.scope
            );
            let allowed = call(service, method, &with).await;
            assert!(
                !matches!(allowed, Code::PermissionDenied | Code::Unauthenticated),
                "{} with {} answered {allowed:?}",
                method.path,
                method.scope
            );
            if method.scope != EVENTS_DELIVER_SCOPE {
                assert_eq!(
                    call(service, method, &service_token()).await,
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
