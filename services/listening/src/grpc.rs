//! The gRPC face of listening: reads the caller, delegates, translates.

use earshot_proto::listening::v1::listening_service_server::ListeningService;
use earshot_proto::listening::v1::{
    GetMentionRequest, IngestMentionsRequest, IngestMentionsResponse, IngestPayloadRequest,
    IngestPayloadResponse, ListMentionsRequest, ListMentionsResponse, Mention, StreamMentionsAck,
    StreamMentionsRequest,
};
use earshot_server::convert::{Cursor, next_page_token, page_size, parse_id};
use earshot_server::{ServiceContext, ServiceError};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{mentions, payloads, store, stream};

pub struct Listening {
    pub ctx: ServiceContext,
    pub ingested: mentions::IngestCounter,
}

#[tonic::async_trait]
impl ListeningService for Listening {
    #[tracing::instrument(skip_all, fields(items))]
    async fn ingest_mentions(
        &self,
        request: Request<IngestMentionsRequest>,
    ) -> Result<Response<IngestMentionsResponse>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let inputs = request.into_inner().mentions;
        tracing::Span::current().record("items", inputs.len());
        let response = mentions::ingest(&self.ctx.pool, &self.ctx.outbox, &tenant, inputs).await?;
        self.ingested.record(&response);
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(kind = request.get_ref().kind))]
    async fn ingest_payload(
        &self,
        request: Request<IngestPayloadRequest>,
    ) -> Result<Response<IngestPayloadResponse>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let response = payloads::ingest_payload(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            req.kind,
            &req.payload,
        )
        .await?;
        if let Some(ingested) = &response.ingested {
            self.ingested.record(ingested);
        }
        Ok(Response::new(response))
    }

    type StreamMentionsStream = ReceiverStream<Result<StreamMentionsAck, Status>>;

    #[tracing::instrument(skip_all)]
    async fn stream_mentions(
        &self,
        request: Request<Streaming<StreamMentionsRequest>>,
    ) -> Result<Response<Self::StreamMentionsStream>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let incoming = request
            .into_inner()
            .map(|message| message.map(|m| m.mentions));
        let (batch_tx, batch_rx) = mpsc::channel(stream::IN_FLIGHT);
        let (ack_tx, ack_rx) = mpsc::channel(16);
        tokio::spawn(stream::batch(incoming, batch_tx, self.ctx.shutdown.clone()));
        tokio::spawn(stream::store_and_ack(
            self.ctx.pool.clone(),
            self.ctx.outbox.clone(),
            tenant,
            self.ingested.clone(),
            batch_rx,
            ack_tx,
        ));
        Ok(Response::new(ReceiverStream::new(ack_rx)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_mention(
        &self,
        request: Request<GetMentionRequest>,
    ) -> Result<Response<Mention>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let id = parse_id(&request.get_ref().mention_id, "mention_id")?;
        let row = store::get(&self.ctx.pool, &tenant, id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| ServiceError::NotFound(format!("mention {id}")))?;
        Ok(Response::new(mentions::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_mentions(
        &self,
        request: Request<ListMentionsRequest>,
    ) -> Result<Response<ListMentionsResponse>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let rows = store::list(&self.ctx.pool, &tenant, after, limit)
            .await
            .map_err(ServiceError::from)?;
        let next_page_token = next_page_token(&rows, limit, mentions::cursor);
        Ok(Response::new(ListMentionsResponse {
            mentions: rows.into_iter().map(mentions::to_proto).collect(),
            next_page_token,
        }))
    }
}
