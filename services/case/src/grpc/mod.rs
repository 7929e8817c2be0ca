//! The gRPC face of the case service: reads the caller, checks each request
//! once into the typed input its domain function takes ([`Check`]), calls
//! it, and translates the answer. Proto types live here and nowhere else.

mod cases;
pub mod convert;
mod customers;
mod erasure;
mod knowledge;
mod outcomes;
mod queue;
mod replies;
mod routing;
mod sla;

use earshot_proto::case::v1::case_service_server::CaseService;
use earshot_proto::case::v1::{
    AddCommitmentRequest, AddExpertRequest, AddGoodwillRequest, Agent, Article, AssignCaseRequest,
    AuthenticityReport, BusinessHours, Case, CheckReplyRequest, ClaimCaseRequest,
    CreateArticleRequest, CreateCaseRequest, CreateCustomerRequest, CreateRoutingRuleRequest,
    Customer, DeleteRoutingRuleRequest, DeleteRoutingRuleResponse, EraseCustomerRequest, Erasure,
    FindCustomerRequest, GetArticleRequest, GetBusinessHoursRequest, GetCaseRequest,
    GetCustomerRequest, GetErasureRequest, GetGuardPolicyRequest, GetRetentionPolicyRequest,
    GuardPolicy, KeepCommitmentRequest, LinkIdentityRequest, ListAgentsRequest, ListAgentsResponse,
    ListAuditEntriesRequest, ListAuditEntriesResponse, ListCaseMessagesRequest,
    ListCaseMessagesResponse, ListCasesRequest, ListCasesResponse, ListQueueRequest,
    ListRoutingRulesRequest, ListRoutingRulesResponse, ListSlaPoliciesRequest,
    ListSlaPoliciesResponse, MergeCasesRequest, MergeCustomersRequest,
    PublishArticleVersionRequest, PutAgentRequest, PutBusinessHoursRequest, PutGuardPolicyRequest,
    PutRetentionPolicyRequest, PutSlaPolicyRequest, RecordCsatRequest, ResolveCaseRequest,
    RetentionPolicy, RoutingRule, SearchArticlesRequest, SearchArticlesResponse, SendReplyRequest,
    SendReplyResponse, SlaPolicy, UnlinkIdentityRequest, UpdateCaseStatusRequest,
    UpdateCustomerRequest, UpdateRoutingRuleRequest,
};
use earshot_server::convert::{Cursor, next_page_token, page_size};
use earshot_server::{ServiceContext, ServiceError};
use tonic::{Request, Response, Status};

use crate::record::CaseRow;
use crate::view;
use crate::{audit, claims, commitments, intake, lifecycle, record};

/// A request checked into what its domain function takes: every field at
/// fault named at once, before any work is done.
pub trait Check {
    type Input;
    fn check(&self) -> Result<Self::Input, ServiceError>;
}

/// A checked list request: its filter and where its page starts.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub filter: T,
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl<T: Default> Paged<T> {
    /// A page of an unfiltered list.
    pub fn of(size: u32, token: &str) -> Result<Self, ServiceError> {
        Ok(Paged {
            filter: T::default(),
            limit: page_size(size)?,
            after: Cursor::decode(token)?,
        })
    }
}

pub struct Cases {
    pub ctx: ServiceContext,
}

/// Tenant and actor of a call.
fn who<T>(request: &Request<T>) -> Result<(String, String), Status> {
    let caller = earshot_auth::caller(request)?;
    Ok((caller.tenant_id.clone(), caller.subject.clone()))
}

impl Cases {
    /// `row`, just changed, as `GetCase` shows it: every answer that carries
    /// a case reads it the one way.
    async fn answer(&self, tenant: &str, row: CaseRow) -> Result<Response<Case>, Status> {
        let view = view::one(&self.ctx.pool, tenant, row).await?;
        Ok(Response::new(cases::case(view)))
    }

    /// A page of cases as `GetCase` shows them.
    async fn page(
        &self,
        tenant: &str,
        rows: Vec<CaseRow>,
        next_page_token: String,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let views = view::of(&self.ctx.pool, tenant, rows).await?;
        Ok(Response::new(ListCasesResponse {
            cases: views.into_iter().map(cases::case).collect(),
            next_page_token,
        }))
    }
}

#[tonic::async_trait]
impl CaseService for Cases {
    earshot_webhooks::grpc_methods!(crate::WEBHOOKS, ctx);

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let new = request.get_ref().check()?;
        let row = intake::create(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, new).await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let (tenant, _) = who(&request)?;
        let id = request.get_ref().check()?;
        let view = view::get(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(cases::case(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let page = request.get_ref().check()?;
        let rows =
            record::store::list(&self.ctx.pool, &tenant, page.filter, page.after, page.limit)
                .await?;
        let next = next_page_token(&rows, page.limit, record::store::cursor);
        self.page(&tenant, rows, next).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_case_status(
        &self,
        request: Request<UpdateCaseStatusRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let update = request.get_ref().check()?;
        let row =
            lifecycle::update_status(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, update)
                .await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn merge_cases(
        &self,
        request: Request<MergeCasesRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let merge = request.get_ref().check()?;
        let row =
            lifecycle::merge(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, merge).await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_case_messages(
        &self,
        request: Request<ListCaseMessagesRequest>,
    ) -> Result<Response<ListCaseMessagesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let page = request.get_ref().check()?;
        // NOT_FOUND when the case is not the tenant's.
        record::store::get(&self.ctx.pool, &tenant, page.filter).await?;
        let rows =
            record::messages::list(&self.ctx.pool, &tenant, page.filter, page.after, page.limit)
                .await?;
        let next_page_token = next_page_token(&rows, page.limit, |m| m.cursor());
        Ok(Response::new(ListCaseMessagesResponse {
            messages: rows.into_iter().map(cases::message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_entries(
        &self,
        request: Request<ListAuditEntriesRequest>,
    ) -> Result<Response<ListAuditEntriesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let page = request.get_ref().check()?;
        let rows = audit::store::list(&self.ctx.pool, &tenant, page.filter, page.after, page.limit)
            .await?;
        let next_page_token = next_page_token(&rows, page.limit, |e| e.cursor());
        Ok(Response::new(ListAuditEntriesResponse {
            entries: rows.into_iter().map(cases::audit_entry).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_customer(
        &self,
        request: Request<CreateCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let new = request.get_ref().check()?;
        let view = crate::customers::create(&self.ctx.pool, &tenant, &actor, new).await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_customer(
        &self,
        request: Request<GetCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, _) = who(&request)?;
        let id = request.get_ref().check()?;
        let view = crate::customers::get(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn find_customer(
        &self,
        request: Request<FindCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, _) = who(&request)?;
        let identity = request.get_ref().check()?;
        let view = crate::customers::find(&self.ctx.pool, &tenant, &identity).await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_customer(
        &self,
        request: Request<UpdateCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let change = request.get_ref().check()?;
        let view = crate::customers::update(&self.ctx.pool, &tenant, &actor, change).await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn link_identity(
        &self,
        request: Request<LinkIdentityRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let change = request.get_ref().check()?;
        let view = crate::customers::link(&self.ctx.pool, &tenant, &actor, change).await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn unlink_identity(
        &self,
        request: Request<UnlinkIdentityRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let change = request.get_ref().check()?;
        let view = crate::customers::unlink(&self.ctx.pool, &tenant, &actor, change).await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn merge_customers(
        &self,
        request: Request<MergeCustomersRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let merge = request.get_ref().check()?;
        let view =
            crate::customers::merge(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, merge)
                .await?;
        Ok(Response::new(customers::customer(view)))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_routing_rule(
        &self,
        request: Request<CreateRoutingRuleRequest>,
    ) -> Result<Response<RoutingRule>, Status> {
        let (tenant, actor) = who(&request)?;
        let new = request.get_ref().check()?;
        let row = crate::routing::create_rule(&self.ctx.pool, &tenant, &actor, new).await?;
        Ok(Response::new(routing::rule(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_routing_rule(
        &self,
        request: Request<UpdateRoutingRuleRequest>,
    ) -> Result<Response<RoutingRule>, Status> {
        let (tenant, actor) = who(&request)?;
        let change = request.get_ref().check()?;
        let row = crate::routing::update_rule(&self.ctx.pool, &tenant, &actor, change).await?;
        Ok(Response::new(routing::rule(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_routing_rule(
        &self,
        request: Request<DeleteRoutingRuleRequest>,
    ) -> Result<Response<DeleteRoutingRuleResponse>, Status> {
        let (tenant, actor) = who(&request)?;
        let rule = request.get_ref().check()?;
        crate::routing::delete_rule(&self.ctx.pool, &tenant, &actor, rule).await?;
        Ok(Response::new(DeleteRoutingRuleResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_routing_rules(
        &self,
        request: Request<ListRoutingRulesRequest>,
    ) -> Result<Response<ListRoutingRulesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let page = request.get_ref().check()?;
        let rows =
            crate::routing::list_rules(&self.ctx.pool, &tenant, page.after, page.limit).await?;
        let next_page_token = next_page_token(&rows, page.limit, |r| r.cursor());
        Ok(Response::new(ListRoutingRulesResponse {
            rules: rows.into_iter().map(routing::rule).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn put_agent(
        &self,
        request: Request<PutAgentRequest>,
    ) -> Result<Response<Agent>, Status> {
        let (tenant, actor) = who(&request)?;
        let agent = request.get_ref().check()?;
        let load = crate::routing::put_agent(&self.ctx.pool, &tenant, &actor, agent).await?;
        Ok(Response::new(routing::agent(load)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let filter = request.get_ref().check()?;
        let rows = crate::routing::list_agents(&self.ctx.pool, &tenant, &filter).await?;
        let next_page_token = next_page_token(&rows, filter.limit, |a| a.cursor());
        Ok(Response::new(ListAgentsResponse {
            agents: rows.into_iter().map(routing::agent).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn assign_case(
        &self,
        request: Request<AssignCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let assignment = request.get_ref().check()?;
        let row = crate::routing::assign(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            assignment,
        )
        .await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn add_expert(
        &self,
        request: Request<AddExpertRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let assignment = request.get_ref().check()?;
        let row = crate::routing::add_expert(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            assignment,
        )
        .await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn put_sla_policy(
        &self,
        request: Request<PutSlaPolicyRequest>,
    ) -> Result<Response<SlaPolicy>, Status> {
        let (tenant, actor) = who(&request)?;
        let policy = request.get_ref().check()?;
        let row = crate::sla::put_policy(&self.ctx.pool, &tenant, &actor, policy).await?;
        Ok(Response::new(sla::policy(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn put_business_hours(
        &self,
        request: Request<PutBusinessHoursRequest>,
    ) -> Result<Response<BusinessHours>, Status> {
        let (tenant, actor) = who(&request)?;
        let hours = request.get_ref().check()?;
        let row = crate::sla::put_hours(&self.ctx.pool, &tenant, &actor, hours).await?;
        Ok(Response::new(sla::hours(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_business_hours(
        &self,
        request: Request<GetBusinessHoursRequest>,
    ) -> Result<Response<BusinessHours>, Status> {
        let (tenant, _) = who(&request)?;
        let row = crate::sla::get_hours(&self.ctx.pool, &tenant).await?;
        Ok(Response::new(sla::hours(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_sla_policies(
        &self,
        request: Request<ListSlaPoliciesRequest>,
    ) -> Result<Response<ListSlaPoliciesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let page = request.get_ref().check()?;
        let rows =
            crate::sla::list_policies(&self.ctx.pool, &tenant, page.after, page.limit).await?;
        let next_page_token = next_page_token(&rows, page.limit, |p| p.cursor());
        Ok(Response::new(ListSlaPoliciesResponse {
            policies: rows.into_iter().map(sla::policy).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn check_reply(
        &self,
        request: Request<CheckReplyRequest>,
    ) -> Result<Response<AuthenticityReport>, Status> {
        let (tenant, _) = who(&request)?;
        let draft = request.get_ref().check()?;
        let report = crate::replies::check(&self.ctx.pool, &tenant, draft).await?;
        Ok(Response::new(replies::report(report)))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn send_reply(
        &self,
        request: Request<SendReplyRequest>,
    ) -> Result<Response<SendReplyResponse>, Status> {
        let (tenant, actor) = who(&request)?;
        let out = request.get_ref().check()?;
        let sent =
            crate::replies::send(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, out).await?;
        let case = view::one(&self.ctx.pool, &tenant, sent.case).await?;
        Ok(Response::new(SendReplyResponse {
            reply: Some(cases::message(sent.reply)),
            case: Some(cases::case(case)),
            report: Some(replies::report(sent.report)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_guard_policy(
        &self,
        request: Request<GetGuardPolicyRequest>,
    ) -> Result<Response<GuardPolicy>, Status> {
        let (tenant, _) = who(&request)?;
        let row = crate::replies::get_policy(&self.ctx.pool, &tenant).await?;
        Ok(Response::new(replies::policy(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn put_guard_policy(
        &self,
        request: Request<PutGuardPolicyRequest>,
    ) -> Result<Response<GuardPolicy>, Status> {
        let (tenant, actor) = who(&request)?;
        let settings = request.get_ref().check()?;
        let row = crate::replies::put_policy(&self.ctx.pool, &tenant, &actor, settings).await?;
        Ok(Response::new(replies::policy(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_queue(
        &self,
        request: Request<ListQueueRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let page = request.get_ref().check()?;
        let rows = crate::queue::list(
            &self.ctx.pool,
            &tenant,
            &page.filter,
            page.after,
            page.limit,
        )
        .await?;
        let next = next_page_token(&rows, page.limit, crate::queue::cursor);
        self.page(&tenant, rows, next).await
    }

    #[tracing::instrument(skip_all)]
    async fn claim_case(
        &self,
        request: Request<ClaimCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let claim = request.get_ref().check()?;
        let row = claims::claim(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, claim).await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn add_goodwill(
        &self,
        request: Request<AddGoodwillRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let gesture = request.get_ref().check()?;
        let row = crate::outcomes::add_goodwill(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            gesture,
        )
        .await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn record_csat(
        &self,
        request: Request<RecordCsatRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let csat = request.get_ref().check()?;
        let row =
            crate::outcomes::record_csat(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, csat)
                .await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_case(
        &self,
        request: Request<ResolveCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let update = request.get_ref().check()?;
        let row =
            lifecycle::update_status(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, update)
                .await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn add_commitment(
        &self,
        request: Request<AddCommitmentRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let promise = request.get_ref().check()?;
        let row =
            commitments::add(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, promise).await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn keep_commitment(
        &self,
        request: Request<KeepCommitmentRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let keep = request.get_ref().check()?;
        let row =
            commitments::keep(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, keep).await?;
        self.answer(&tenant, row).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_article(
        &self,
        request: Request<CreateArticleRequest>,
    ) -> Result<Response<Article>, Status> {
        let (tenant, actor) = who(&request)?;
        let new = request.get_ref().check()?;
        let row = crate::knowledge::create(&self.ctx.pool, &tenant, &actor, new).await?;
        Ok(Response::new(knowledge::article(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn publish_article_version(
        &self,
        request: Request<PublishArticleVersionRequest>,
    ) -> Result<Response<Article>, Status> {
        let (tenant, actor) = who(&request)?;
        let next = request.get_ref().check()?;
        let row = crate::knowledge::publish(&self.ctx.pool, &tenant, &actor, next).await?;
        Ok(Response::new(knowledge::article(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_article(
        &self,
        request: Request<GetArticleRequest>,
    ) -> Result<Response<Article>, Status> {
        let (tenant, _) = who(&request)?;
        let article = request.get_ref().check()?;
        let row = crate::knowledge::get(&self.ctx.pool, &tenant, article).await?;
        Ok(Response::new(knowledge::article(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn search_articles(
        &self,
        request: Request<SearchArticlesRequest>,
    ) -> Result<Response<SearchArticlesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let search = request.get_ref().check()?;
        let rows = crate::knowledge::search(&self.ctx.pool, &tenant, &search).await?;
        let next_page_token = next_page_token(&rows, search.limit, |a| a.cursor());
        Ok(Response::new(SearchArticlesResponse {
            articles: rows.into_iter().map(knowledge::article).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn erase_customer(
        &self,
        request: Request<EraseCustomerRequest>,
    ) -> Result<Response<Erasure>, Status> {
        let (tenant, actor) = who(&request)?;
        let input = request.get_ref().check()?;
        let view =
            crate::erasure::erase(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, input).await?;
        Ok(Response::new(erasure::erasure(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_erasure(
        &self,
        request: Request<GetErasureRequest>,
    ) -> Result<Response<Erasure>, Status> {
        let (tenant, _) = who(&request)?;
        let id = request.get_ref().check()?;
        let view = crate::erasure::get(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(erasure::erasure(view)))
    }

    #[tracing::instrument(skip_all)]
    async fn put_retention_policy(
        &self,
        request: Request<PutRetentionPolicyRequest>,
    ) -> Result<Response<RetentionPolicy>, Status> {
        let (tenant, actor) = who(&request)?;
        let input = request.get_ref().check()?;
        let row =
            crate::retention::put(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, input).await?;
        Ok(Response::new(erasure::policy(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_retention_policy(
        &self,
        request: Request<GetRetentionPolicyRequest>,
    ) -> Result<Response<RetentionPolicy>, Status> {
        let (tenant, _) = who(&request)?;
        let row = crate::retention::get(&self.ctx.pool, &tenant).await?;
        Ok(Response::new(erasure::policy(row)))
    }
}
