//! The gRPC face of listening: reads the caller, checks and converts the
//! request, delegates, translates.

use earshot_auth::caller;
use earshot_proto::common::v1::{Channel, Intent, SentimentLabel};
use earshot_proto::listening::v1::listening_service_server::ListeningService;
use earshot_proto::listening::v1::{
    ActivateModelVersionRequest, BacktestRuleRequest, BacktestRuleResponse, CreateRuleRequest,
    DeleteRuleRequest, GetListeningAccuracyRequest, GetListeningSettingsRequest, GetMentionRequest,
    GetRuleRequest, IngestMentionsRequest, IngestMentionsResponse, IngestPayloadRequest,
    IngestPayloadResponse, LabelMentionRequest, ListMentionsRequest, ListMentionsResponse,
    ListModelVersionsRequest, ListModelVersionsResponse, ListRuleVersionsRequest,
    ListRuleVersionsResponse, ListRulesRequest, ListRulesResponse, ListeningAccuracy,
    ListeningSettings, Mention, MentionLabel, ModelVersion, Rule, StreamMentionsAck,
    StreamMentionsRequest, UpdateListeningSettingsRequest, UpdateRuleRequest, ValidateQueryRequest,
    ValidateQueryResponse,
};
use earshot_server::convert::{from_timestamp, parse_id};
use earshot_server::{Page, ServiceContext, ServiceError, invalid};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use crate::ingest::{Ingestor, payload, stream};
use crate::mention::store::{self, DroppedFilter, MentionFilter};
use crate::pipeline::noise::DropReason;
use crate::query::RuleOptions;
use crate::tenant::accuracy::{self, Backtest, LabelInput};
use crate::tenant::adaptation;
use crate::tenant::rules::{self, Change};
use crate::tenant::settings;

pub struct Listening {
    pub ctx: ServiceContext,
    pub ingestor: Ingestor,
}

fn optional_id(raw: &str, field: &str) -> Result<Option<Uuid>, ServiceError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        parse_id(raw, field).map(Some)
    }
}

fn optional_time(
    ts: Option<&prost_types::Timestamp>,
    field: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ServiceError> {
    ts.map(|ts| from_timestamp(ts, field)).transpose()
}

fn sentiment_bound(value: Option<f64>, field: &str) -> Result<Option<f64>, ServiceError> {
    match value {
        Some(v) if !(-1.0..=1.0).contains(&v) => Err(invalid(field, "must be between -1 and 1")),
        other => Ok(other),
    }
}

fn confidence(value: Option<f64>, field: &str) -> Result<Option<f64>, ServiceError> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(invalid(field, "must be between 0 and 1")),
        other => Ok(other),
    }
}

/// Longest `ListMentionsRequest.topic`, in bytes (a topic key is at most 64).
const MAX_TOPIC_BYTES: usize = 64;
/// Longest `ListMentionsRequest.author`, in bytes (an author's id is at most 256).
const MAX_AUTHOR_BYTES: usize = 256;

/// The search a `ListMentionsRequest` asks for.
fn mention_filter(req: &ListMentionsRequest) -> Result<MentionFilter, ServiceError> {
    let intent = match Intent::try_from(req.intent) {
        Ok(Intent::Unspecified) => None,
        Ok(intent) => Some(intent as i16),
        Err(_) => return Err(invalid("intent", "must be a known intent")),
    };
    let channel = match Channel::try_from(req.channel) {
        Ok(Channel::Unspecified) => None,
        Ok(channel) => Some(channel as i16),
        Err(_) => return Err(invalid("channel", "must be a known channel")),
    };
    let sentiment_min = sentiment_bound(req.sentiment_min, "sentiment_min")?;
    let sentiment_max = sentiment_bound(req.sentiment_max, "sentiment_max")?;
    if let (Some(min), Some(max)) = (sentiment_min, sentiment_max)
        && min > max
    {
        return Err(invalid("sentiment_min", "must not exceed sentiment_max"));
    }
    let sentiment_label = match SentimentLabel::try_from(req.sentiment_label) {
        Ok(SentimentLabel::Unspecified) => None,
        Ok(label) => Some(label as i16),
        Err(_) => {
            return Err(invalid(
                "sentiment_label",
                "must be a known sentiment label",
            ));
        }
    };
    let min_intent_confidence = confidence(req.min_intent_confidence, "min_intent_confidence")?;
    let min_sentiment_confidence =
        confidence(req.min_sentiment_confidence, "min_sentiment_confidence")?;
    let dropped = match req.dropped_reason.trim() {
        "" => DroppedFilter::Kept,
        "*" => DroppedFilter::Any,
        reason => match DropReason::parse(reason) {
            Some(reason) => DroppedFilter::Reason(reason.as_str().to_owned()),
            None => {
                let known: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
                return Err(invalid(
                    "dropped_reason",
                    format!("must be empty, \"*\" or one of {}", known.join(", ")),
                ));
            }
        },
    };
    // Bounded before they reach SQL: a topic is a taxonomy key, an author a
    // handle or a source's id.
    if req.topic.len() > MAX_TOPIC_BYTES {
        return Err(invalid(
            "topic",
            format!("must be at most {MAX_TOPIC_BYTES} bytes"),
        ));
    }
    if req.author.len() > MAX_AUTHOR_BYTES {
        return Err(invalid(
            "author",
            format!("must be at most {MAX_AUTHOR_BYTES} bytes"),
        ));
    }
    let text = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    Ok(MentionFilter {
        posted_from: optional_time(req.posted_from.as_ref(), "posted_from")?,
        posted_before: optional_time(req.posted_before.as_ref(), "posted_before")?,
        rule_id: optional_id(&req.rule_id, "rule_id")?,
        intent,
        sentiment_min,
        sentiment_max,
        topic: text(&req.topic).map(|t| t.to_lowercase()),
        author: text(req.author.trim_start_matches('@')),
        channel,
        actionable: req.actionable,
        sentiment_label,
        min_intent_confidence,
        min_sentiment_confidence,
        dropped,
    })
}

#[tonic::async_trait]
impl ListeningService for Listening {
    earshot_webhooks::grpc_methods!(crate::WEBHOOKS, ctx);
    #[tracing::instrument(skip_all, fields(items))]
    async fn ingest_mentions(
        &self,
        request: Request<IngestMentionsRequest>,
    ) -> Result<Response<IngestMentionsResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let inputs = request.into_inner().mentions;
        tracing::Span::current().record("items", inputs.len());
        Ok(Response::new(self.ingestor.ingest(&tenant, inputs).await?))
    }

    #[tracing::instrument(skip_all, fields(kind = request.get_ref().kind))]
    async fn ingest_payload(
        &self,
        request: Request<IngestPayloadRequest>,
    ) -> Result<Response<IngestPayloadResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let body = payload::ingest_payload(&self.ingestor, &tenant, req.kind, &req.payload).await?;
        let header = body.summary.as_ref().map(payload::summary_header);
        let mut response = Response::new(body);
        // In a header too, so that a caller that reads only the status and
        // metadata still sees a partial failure.
        if let Some(value) = header.and_then(|h| MetadataValue::try_from(h).ok()) {
            response
                .metadata_mut()
                .insert(payload::SUMMARY_HEADER, value);
        }
        Ok(response)
    }

    type StreamMentionsStream = ReceiverStream<Result<StreamMentionsAck, Status>>;

    #[tracing::instrument(skip_all)]
    async fn stream_mentions(
        &self,
        request: Request<Streaming<StreamMentionsRequest>>,
    ) -> Result<Response<Self::StreamMentionsStream>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let incoming = request
            .into_inner()
            .map(|message| message.map(|m| m.mentions));
        let (batch_tx, batch_rx) = mpsc::channel(stream::IN_FLIGHT);
        let (ack_tx, ack_rx) = mpsc::channel(16);
        tokio::spawn(stream::batch(incoming, batch_tx, self.ctx.shutdown.clone()));
        tokio::spawn(stream::store_and_ack(
            self.ingestor.clone(),
            tenant,
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
        let tenant = caller(&request)?.tenant_id.clone();
        let id = parse_id(&request.get_ref().mention_id, "mention_id")?;
        let row = store::get(&self.ctx.pool, &tenant, id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| ServiceError::NotFound(format!("mention {id}")))?;
        let mut mention = store::to_proto(row);
        mention.labels = accuracy::labels_of(&self.ctx.pool, &tenant, id)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(mention))
    }

    #[tracing::instrument(skip_all)]
    async fn list_mentions(
        &self,
        request: Request<ListMentionsRequest>,
    ) -> Result<Response<ListMentionsResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let page = Page::parse(req.page_size, &req.page_token)?;
        let filter = mention_filter(&req)?;
        let rows = store::search(&self.ctx.pool, &tenant, &filter, &page)
            .await
            .map_err(ServiceError::from)?;
        let next_page_token = page.next_token(&rows);
        Ok(Response::new(ListMentionsResponse {
            mentions: rows.into_iter().map(store::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_rule(
        &self,
        request: Request<CreateRuleRequest>,
    ) -> Result<Response<Rule>, Status> {
        let who = caller(&request)?.clone();
        let req = request.into_inner();
        let row = rules::create(
            &self.ctx.pool,
            &who.tenant_id,
            &who.subject,
            &req.request_id,
            &req.name,
            &req.query,
            req.fold_accents,
        )
        .await?;
        Ok(Response::new(rules::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_rule(
        &self,
        request: Request<UpdateRuleRequest>,
    ) -> Result<Response<Rule>, Status> {
        let who = caller(&request)?.clone();
        let req = request.into_inner();
        let id = parse_id(&req.rule_id, "rule_id")?;
        let change = Change::Edit {
            name: &req.name,
            query: &req.query,
            fold_accents: req.fold_accents,
        };
        let row = rules::change(
            &self.ctx.pool,
            &who.tenant_id,
            &who.subject,
            id,
            req.version,
            change,
        )
        .await?;
        Ok(Response::new(rules::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_rule(
        &self,
        request: Request<DeleteRuleRequest>,
    ) -> Result<Response<Rule>, Status> {
        let who = caller(&request)?.clone();
        let req = request.into_inner();
        let id = parse_id(&req.rule_id, "rule_id")?;
        let row = rules::change(
            &self.ctx.pool,
            &who.tenant_id,
            &who.subject,
            id,
            req.version,
            Change::Retire,
        )
        .await?;
        Ok(Response::new(rules::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_rule(&self, request: Request<GetRuleRequest>) -> Result<Response<Rule>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let id = parse_id(&request.get_ref().rule_id, "rule_id")?;
        let row = rules::get(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(rules::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_rules(
        &self,
        request: Request<ListRulesRequest>,
    ) -> Result<Response<ListRulesResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let page = Page::parse(req.page_size, &req.page_token)?;
        let rows = rules::list(&self.ctx.pool, &tenant, req.include_deleted, &page)
            .await
            .map_err(ServiceError::from)?;
        let next_page_token = page.next_token(&rows);
        Ok(Response::new(ListRulesResponse {
            rules: rows.into_iter().map(rules::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_rule_versions(
        &self,
        request: Request<ListRuleVersionsRequest>,
    ) -> Result<Response<ListRuleVersionsResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let id = parse_id(&request.get_ref().rule_id, "rule_id")?;
        let versions = rules::versions(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(ListRuleVersionsResponse { versions }))
    }

    #[tracing::instrument(skip_all)]
    async fn validate_query(
        &self,
        request: Request<ValidateQueryRequest>,
    ) -> Result<Response<ValidateQueryResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let sample = rules::Sample {
            text: &req.text,
            language: &req.language,
            source: &req.source,
            followers: req.followers,
            verified: req.verified,
        };
        let options = RuleOptions {
            fold_accents: req.fold_accents,
        };
        Ok(Response::new(rules::validate(
            &req.query, options, &sample,
        )?))
    }

    #[tracing::instrument(skip_all)]
    async fn backtest_rule(
        &self,
        request: Request<BacktestRuleRequest>,
    ) -> Result<Response<BacktestRuleResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let backtest = Backtest {
            query: &req.query,
            options: RuleOptions {
                fold_accents: req.fold_accents,
            },
            rule_id: optional_id(&req.rule_id, "rule_id")?,
            from: optional_time(req.from.as_ref(), "from")?,
            to: optional_time(req.to.as_ref(), "to")?,
            examples: req.examples,
        };
        let response = accuracy::backtest(&self.ctx.pool, &tenant, backtest).await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all)]
    async fn label_mention(
        &self,
        request: Request<LabelMentionRequest>,
    ) -> Result<Response<MentionLabel>, Status> {
        let who = caller(&request)?.clone();
        let req = request.into_inner();
        let input = LabelInput {
            mention_id: parse_id(&req.mention_id, "mention_id")?,
            rule_id: optional_id(&req.rule_id, "rule_id")?,
            relevant: req.relevant,
            intent: req.intent,
            sentiment: req.sentiment,
        };
        let label = accuracy::label(&self.ctx.pool, &who.tenant_id, &who.subject, input).await?;
        Ok(Response::new(label))
    }

    #[tracing::instrument(skip_all)]
    async fn get_listening_accuracy(
        &self,
        request: Request<GetListeningAccuracyRequest>,
    ) -> Result<Response<ListeningAccuracy>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let accuracy =
            accuracy::listening_accuracy(&self.ctx.pool, &self.ingestor.profiles, &tenant).await?;
        Ok(Response::new(accuracy))
    }

    #[tracing::instrument(skip_all)]
    async fn list_model_versions(
        &self,
        request: Request<ListModelVersionsRequest>,
    ) -> Result<Response<ListModelVersionsResponse>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let rows = adaptation::store::versions(&self.ctx.pool, &tenant)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ListModelVersionsResponse {
            versions: rows
                .into_iter()
                .map(adaptation::store::VersionRow::to_proto)
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn activate_model_version(
        &self,
        request: Request<ActivateModelVersionRequest>,
    ) -> Result<Response<ModelVersion>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let version = request.into_inner().version;
        // Versions are small numbers; a huge one simply does not exist.
        let version = i32::try_from(version).unwrap_or(i32::MAX);
        let pool = &self.ctx.pool;
        if !adaptation::store::activate(pool, &tenant, version)
            .await
            .map_err(ServiceError::from)?
        {
            return Err(ServiceError::NotFound(format!("model version {version}")).into());
        }
        let rows = adaptation::store::versions(pool, &tenant)
            .await
            .map_err(ServiceError::from)?;
        let chosen = rows
            .into_iter()
            .find(|r| r.version == version)
            .map(adaptation::store::VersionRow::to_proto)
            .unwrap_or_default();
        Ok(Response::new(chosen))
    }

    #[tracing::instrument(skip_all)]
    async fn get_listening_settings(
        &self,
        request: Request<GetListeningSettingsRequest>,
    ) -> Result<Response<ListeningSettings>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let stored = settings::load(&self.ctx.pool, &tenant)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(settings::to_proto(stored)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_listening_settings(
        &self,
        request: Request<UpdateListeningSettingsRequest>,
    ) -> Result<Response<ListeningSettings>, Status> {
        let tenant = caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let updated = settings::update(
            &self.ctx.pool,
            &tenant,
            req.version,
            req.topics,
            &req.brand_handles,
        )
        .await?;
        Ok(Response::new(updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(req: ListMentionsRequest) -> String {
        match mention_filter(&req).expect_err("invalid") {
            ServiceError::InvalidArgument(v) => v.iter().next().expect("one").field.clone(),
            other => panic!("not invalid: {other}"),
        }
    }

    #[test]
    fn bad_search_filters_name_their_field() {
        assert_eq!(
            field_of(ListMentionsRequest {
                intent: 42,
                ..Default::default()
            }),
            "intent"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                channel: 42,
                ..Default::default()
            }),
            "channel"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                sentiment_min: Some(1.5),
                ..Default::default()
            }),
            "sentiment_min"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                sentiment_min: Some(0.5),
                sentiment_max: Some(-0.5),
                ..Default::default()
            }),
            "sentiment_min"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                rule_id: "nope".into(),
                ..Default::default()
            }),
            "rule_id"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                dropped_reason: "boring".into(),
                ..Default::default()
            }),
            "dropped_reason"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                topic: "t".repeat(MAX_TOPIC_BYTES + 1),
                ..Default::default()
            }),
            "topic"
        );
        assert_eq!(
            field_of(ListMentionsRequest {
                author: "a".repeat(MAX_AUTHOR_BYTES + 1),
                ..Default::default()
            }),
            "author"
        );
    }

    #[test]
    fn filters_are_read() {
        let filter = mention_filter(&ListMentionsRequest {
            intent: Intent::Complaint as i32,
            author: "@Jane".into(),
            topic: "Delivery".into(),
            dropped_reason: "*".into(),
            actionable: Some(true),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(filter.intent, Some(Intent::Complaint as i16));
        assert_eq!(filter.author.as_deref(), Some("Jane"));
        assert_eq!(filter.topic.as_deref(), Some("delivery"));
        assert_eq!(filter.dropped, DroppedFilter::Any);
        assert_eq!(filter.actionable, Some(true));
    }
}
