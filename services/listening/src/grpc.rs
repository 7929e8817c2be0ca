//! The gRPC face of listening: reads the caller, delegates, translates.

use earshot_proto::listening::v1::listening_service_server::ListeningService;
use earshot_proto::listening::v1::{
    GetMentionRequest, IngestMentionsRequest, IngestMentionsResponse, ListMentionsRequest,
    ListMentionsResponse, Mention,
};
use earshot_server::convert::{Cursor, next_page_token, page_size, parse_id};
use earshot_server::{ServiceContext, ServiceError};
use tonic::{Request, Response, Status};

use crate::{mentions, store};

pub struct Listening {
    pub ctx: ServiceContext,
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
        Ok(Response::new(response))
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
