//! Calls any method of any service with request bodies as bytes, so tests can
//! walk the contracts (every RPC, by its descriptor) rather than a list.

use bytes::{Buf, BufMut};
use earshot_testkit::{AuthedChannel, TestService};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Passes request and response bodies through as bytes.
#[derive(Default)]
pub struct RawCodec;

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

/// A method as the raw caller needs it.
#[derive(Debug, Clone)]
pub struct Method {
    /// `/earshot.case.v1.CaseService/GetCase`
    pub path: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
    pub input: prost_reflect::MessageDescriptor,
}

/// Every method of the gRPC services `names`, from the descriptors.
pub fn methods(names: &[&str]) -> Vec<Method> {
    let pool = earshot_proto::descriptor_pool();
    names
        .iter()
        .flat_map(|name| {
            pool.get_service_by_name(name)
                .unwrap_or_else(|| panic!("{name} is in the contracts"))
                .methods()
                .map(|m| Method {
                    path: format!("/{name}/{}", m.name()),
                    client_streaming: m.is_client_streaming(),
                    server_streaming: m.is_server_streaming(),
                    input: m.input(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Calls `method` with `bodies` (one for a unary call, any number for a
/// client stream) and returns every response body, or the status.
pub async fn call(
    service: &TestService,
    method: &Method,
    token: &str,
    bodies: Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, Status> {
    call_on(service.authed(token), method, bodies).await
}

/// [`call`] on a channel of the caller's, so many calls share one connection.
pub async fn call_on(
    channel: AuthedChannel,
    method: &Method,
    bodies: Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::<AuthedChannel>::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = method.path.parse().expect("a method path");
    if method.client_streaming {
        let requests = tokio_stream::iter(bodies);
        let mut responses = grpc
            .streaming(tonic::Request::new(requests), path, RawCodec)
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(body) = responses.message().await? {
            out.push(body);
        }
        Ok(out)
    } else {
        let body = bodies.into_iter().next().unwrap_or_default();
        if method.server_streaming {
            let mut responses = grpc
                .server_streaming(tonic::Request::new(body), path, RawCodec)
                .await?
                .into_inner();
            let mut out = Vec::new();
            while let Some(body) = responses.message().await? {
                out.push(body);
            }
            Ok(out)
        } else {
            Ok(vec![
                grpc.unary(tonic::Request::new(body), path, RawCodec)
                    .await?
                    .into_inner(),
            ])
        }
    }
}
