//! The gRPC face of the case service: reads the caller, checks the request,
//! delegates to the domain, translates the answer.

use earshot_proto::case::v1::case_service_server::CaseService;
use earshot_proto::case::v1::{
    AddCommitmentRequest, AddExpertRequest, AddGoodwillRequest, Agent, Article, AssignCaseRequest,
    AuthenticityReport, BusinessHours, Case, CaseStatus, CheckReplyRequest, ClaimCaseRequest,
    CreateArticleRequest, CreateCaseRequest, CreateCustomerRequest, CreateRoutingRuleRequest,
    Customer, DeleteRoutingRuleRequest, DeleteRoutingRuleResponse, FindCustomerRequest,
    GetArticleRequest, GetBusinessHoursRequest, GetCaseRequest, GetCustomerRequest,
    GetGuardPolicyRequest, GuardPolicy, KeepCommitmentRequest, LinkIdentityRequest,
    ListAgentsRequest, ListAgentsResponse, ListAuditEntriesRequest, ListAuditEntriesResponse,
    ListCaseMessagesRequest, ListCaseMessagesResponse, ListCasesRequest, ListCasesResponse,
    ListQueueRequest, ListRoutingRulesRequest, ListRoutingRulesResponse, ListSlaPoliciesRequest,
    ListSlaPoliciesResponse, MergeCasesRequest, MergeCustomersRequest,
    PublishArticleVersionRequest, PutAgentRequest, PutBusinessHoursRequest, PutGuardPolicyRequest,
    PutSlaPolicyRequest, RecordCsatRequest, ResolveCaseRequest, RoutingRule, SearchArticlesRequest,
    SearchArticlesResponse, SendReplyRequest, SendReplyResponse, SlaPolicy, UnlinkIdentityRequest,
    UpdateCaseStatusRequest, UpdateCustomerRequest, UpdateRoutingRuleRequest,
};
use earshot_server::convert::{Cursor, next_page_token, page_size, parse_id};
use earshot_server::{FieldViolations, ServiceContext, ServiceError, invalid};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::audit::{self, Subject};
use crate::cases::{self, Versioned};
use crate::commitments;
use crate::customers::{self, Identity};
use crate::knowledge;
use crate::outcomes;
use crate::queue;
use crate::replies;
use crate::routing;
use crate::sla;

pub struct Cases {
    pub ctx: ServiceContext,
}

/// Tenant and actor of a call.
fn who<T>(request: &Request<T>) -> Result<(String, String), Status> {
    let caller = earshot_auth::caller(request)?;
    Ok((caller.tenant_id.clone(), caller.subject.clone()))
}

/// A status filter: unspecified means any status.
fn optional_status(raw: i32) -> Result<Option<CaseStatus>, Status> {
    match CaseStatus::try_from(raw) {
        Ok(CaseStatus::Unspecified) => Ok(None),
        _ => required_status(raw).map(Some),
    }
}

fn required_status(raw: i32) -> Result<CaseStatus, Status> {
    match CaseStatus::try_from(raw) {
        Ok(CaseStatus::Unspecified) | Err(_) => {
            Err(invalid("status", "must be a known case status").into())
        }
        Ok(status) => Ok(status),
    }
}

/// The two sides of a merge: distinct ids and their versions.
fn merge_sides(
    (source, source_version): (&str, i64),
    (target, target_version): (&str, i64),
    noun: &str,
) -> Result<(Versioned, Versioned), ServiceError> {
    let mut v = FieldViolations::new();
    let s = v.id(source, &format!("source_{noun}_id"));
    let t = v.id(target, &format!("target_{noun}_id"));
    v.version(source_version, "source_version");
    v.version(target_version, "target_version");
    if let (Some(s), Some(t)) = (s, t) {
        v.check(
            s == t,
            format!("target_{noun}_id"),
            "must differ from the source",
        );
    }
    v.into_result()?;
    match (s, t) {
        (Some(s), Some(t)) => Ok(((s, source_version), (t, target_version))),
        _ => Err(invalid(format!("source_{noun}_id"), "is required")),
    }
}

/// A customer id, version and identity of a link or unlink.
fn identity_change(
    customer_id: &str,
    version: i64,
    identity: Option<&earshot_proto::case::v1::Identity>,
) -> Result<(Uuid, i64, Identity), ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(customer_id, "customer_id");
    v.version(version, "version");
    let identity = Identity::from_proto(identity, "identity", &mut v);
    v.into_result()?;
    match (id, identity) {
        (Some(id), Some(identity)) => Ok((id, version, identity)),
        _ => Err(invalid("identity", "is required")),
    }
}

fn customer(view: customers::CustomerView) -> Response<Customer> {
    Response::new(customers::to_proto(view))
}

/// A case id, its version and an optional agent id (empty: let the service choose).
fn case_and_agent(
    case_id: &str,
    version: i64,
    agent_id: &str,
) -> Result<(Versioned, Option<String>), ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(case_id, "case_id");
    v.version(version, "version");
    v.check(
        !agent_id.is_empty() && !routing::valid_agent_id(agent_id),
        "agent_id",
        "must be 1 to 128 letters, digits or ._@:+-",
    );
    v.into_result()?;
    let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
    Ok((
        (id, version),
        (!agent_id.is_empty()).then(|| agent_id.to_owned()),
    ))
}

/// An optional list filter that must be a vocabulary key when given.
fn optional_key<'a>(raw: &'a str, field: &str, v: &mut FieldViolations) -> Option<&'a str> {
    if raw.is_empty() {
        return None;
    }
    v.check(
        !routing::valid_key(raw),
        field,
        "must be 1 to 64 lower-case letters, digits, _ or -",
    );
    Some(raw)
}

/// A case with its SLA clocks.
async fn one_with_details(
    pool: &sqlx::PgPool,
    tenant: &str,
    row: cases::CaseRow,
) -> Result<Response<Case>, Status> {
    let id = row.id;
    cases::with_details(pool, tenant, vec![row])
        .await?
        .into_iter()
        .next()
        .map(|row| Response::new(cases::to_proto(row)))
        .ok_or_else(|| ServiceError::NotFound(format!("case {id}")).into())
}

#[tonic::async_trait]
impl CaseService for Cases {
    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let new = cases::validate_create(request.get_ref())?;
        let row = cases::create(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, new).await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let (tenant, _) = who(&request)?;
        let id = parse_id(&request.get_ref().case_id, "case_id")?;
        let row = cases::get_detailed(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let status = optional_status(req.status)?;
        let rows = cases::list(&self.ctx.pool, &tenant, status, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, cases::cursor);
        let rows = cases::with_details(&self.ctx.pool, &tenant, rows).await?;
        Ok(Response::new(ListCasesResponse {
            cases: rows.into_iter().map(cases::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_case_status(
        &self,
        request: Request<UpdateCaseStatusRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.into_inner();
        let id = parse_id(&req.case_id, "case_id")?;
        let to = required_status(req.status)?;
        if req.version < 1 {
            return Err(invalid("version", "must be the version last read (1 or more)").into());
        }
        let row = cases::update_status(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            (id, req.version),
            to,
            None,
        )
        .await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn merge_cases(
        &self,
        request: Request<MergeCasesRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (source, target) = merge_sides(
            (&req.source_case_id, req.source_version),
            (&req.target_case_id, req.target_version),
            "case",
        )?;
        let row = cases::merge(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            source,
            target,
        )
        .await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_case_messages(
        &self,
        request: Request<ListCaseMessagesRequest>,
    ) -> Result<Response<ListCaseMessagesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.into_inner();
        let id = parse_id(&req.case_id, "case_id")?;
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let rows = cases::messages(&self.ctx.pool, &tenant, id, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, cases::message_cursor);
        Ok(Response::new(ListCaseMessagesResponse {
            messages: rows.into_iter().map(cases::message_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_entries(
        &self,
        request: Request<ListAuditEntriesRequest>,
    ) -> Result<Response<ListAuditEntriesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.into_inner();
        let subject = match (
            req.case_id.is_empty(),
            req.customer_id.is_empty(),
            req.configuration,
        ) {
            (false, true, false) => Subject::Case(parse_id(&req.case_id, "case_id")?),
            (true, false, false) => Subject::Customer(parse_id(&req.customer_id, "customer_id")?),
            (true, true, true) => Subject::Configuration,
            _ => {
                return Err(invalid(
                    "case_id",
                    "give exactly one of case_id, customer_id and configuration",
                )
                .into());
            }
        };
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let rows = audit::list(&self.ctx.pool, &tenant, subject, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, audit::cursor);
        Ok(Response::new(ListAuditEntriesResponse {
            entries: rows.into_iter().map(audit::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_customer(
        &self,
        request: Request<CreateCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let new = customers::validate_create(request.get_ref())?;
        Ok(customer(
            customers::create(&self.ctx.pool, &tenant, &actor, new).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_customer(
        &self,
        request: Request<GetCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, _) = who(&request)?;
        let id = parse_id(&request.get_ref().customer_id, "customer_id")?;
        Ok(customer(customers::get(&self.ctx.pool, &tenant, id).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn find_customer(
        &self,
        request: Request<FindCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, _) = who(&request)?;
        let mut v = FieldViolations::new();
        let identity =
            Identity::from_proto(request.get_ref().identity.as_ref(), "identity", &mut v);
        v.into_result()?;
        let identity = identity.ok_or_else(|| invalid("identity", "is required"))?;
        Ok(customer(
            customers::find(&self.ctx.pool, &tenant, &identity).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_customer(
        &self,
        request: Request<UpdateCustomerRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let mut v = FieldViolations::new();
        let id = v.id(&req.customer_id, "customer_id");
        v.version(req.version, "version");
        let change = customers::check_update(req, &mut v);
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("customer_id", "is required"))?;
        Ok(customer(
            customers::update(&self.ctx.pool, &tenant, &actor, id, req.version, change).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn link_identity(
        &self,
        request: Request<LinkIdentityRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (id, version, identity) =
            identity_change(&req.customer_id, req.version, req.identity.as_ref())?;
        Ok(customer(
            customers::link(&self.ctx.pool, &tenant, &actor, id, version, identity).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn unlink_identity(
        &self,
        request: Request<UnlinkIdentityRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (id, version, identity) =
            identity_change(&req.customer_id, req.version, req.identity.as_ref())?;
        Ok(customer(
            customers::unlink(&self.ctx.pool, &tenant, &actor, id, version, identity).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn merge_customers(
        &self,
        request: Request<MergeCustomersRequest>,
    ) -> Result<Response<Customer>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (source, target) = merge_sides(
            (&req.source_customer_id, req.source_version),
            (&req.target_customer_id, req.target_version),
            "customer",
        )?;
        Ok(customer(
            cases::merge_customers(
                &self.ctx.pool,
                &self.ctx.outbox,
                &tenant,
                &actor,
                source,
                target,
            )
            .await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_routing_rule(
        &self,
        request: Request<CreateRoutingRuleRequest>,
    ) -> Result<Response<RoutingRule>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let rule = routing::validate_create_rule(req)?;
        let row =
            routing::create_rule(&self.ctx.pool, &tenant, &actor, &req.request_id, rule).await?;
        Ok(Response::new(routing::rule_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_routing_rule(
        &self,
        request: Request<UpdateRoutingRuleRequest>,
    ) -> Result<Response<RoutingRule>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let mut v = FieldViolations::new();
        let (id, version) = match req.rule.as_ref() {
            Some(rule) => {
                v.version(rule.version, "rule.version");
                (v.id(&rule.rule_id, "rule.rule_id"), rule.version)
            }
            None => (None, 0),
        };
        let rule = routing::check_rule(req.rule.as_ref(), &mut v);
        v.into_result()?;
        let (Some(id), Some(rule)) = (id, rule) else {
            return Err(invalid("rule", "is required").into());
        };
        let row = routing::update_rule(&self.ctx.pool, &tenant, &actor, id, version, rule).await?;
        Ok(Response::new(routing::rule_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_routing_rule(
        &self,
        request: Request<DeleteRoutingRuleRequest>,
    ) -> Result<Response<DeleteRoutingRuleResponse>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let mut v = FieldViolations::new();
        let id = v.id(&req.rule_id, "rule_id");
        v.version(req.version, "version");
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("rule_id", "is required"))?;
        routing::delete_rule(&self.ctx.pool, &tenant, &actor, id, req.version).await?;
        Ok(Response::new(DeleteRoutingRuleResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_routing_rules(
        &self,
        request: Request<ListRoutingRulesRequest>,
    ) -> Result<Response<ListRoutingRulesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let rows = routing::list_rules(&self.ctx.pool, &tenant, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, routing::rule_cursor);
        Ok(Response::new(ListRoutingRulesResponse {
            rules: rows.into_iter().map(routing::rule_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn put_agent(
        &self,
        request: Request<PutAgentRequest>,
    ) -> Result<Response<Agent>, Status> {
        let (tenant, actor) = who(&request)?;
        let agent = routing::validate_agent(request.get_ref())?;
        let row = routing::put_agent(&self.ctx.pool, &tenant, &actor, agent).await?;
        let open_cases = routing::open_cases(&self.ctx.pool, &tenant, &row.agent_id).await?;
        Ok(Response::new(routing::agent_to_proto((row, open_cases))))
    }

    #[tracing::instrument(skip_all)]
    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.into_inner();
        let mut v = FieldViolations::new();
        let queue = optional_key(&req.queue, "queue", &mut v);
        let topic = optional_key(&req.expert_topic, "expert_topic", &mut v);
        v.into_result()?;
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let rows =
            routing::list_agents(&self.ctx.pool, &tenant, queue, topic, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, routing::agent_cursor);
        Ok(Response::new(ListAgentsResponse {
            agents: rows.into_iter().map(routing::agent_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn assign_case(
        &self,
        request: Request<AssignCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (case, agent) = case_and_agent(&req.case_id, req.version, &req.agent_id)?;
        let row = cases::assign(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            case,
            agent.as_deref(),
        )
        .await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn add_expert(
        &self,
        request: Request<AddExpertRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (case, agent) = case_and_agent(&req.case_id, req.version, &req.agent_id)?;
        let row = cases::add_expert(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            case,
            agent.as_deref(),
        )
        .await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn put_sla_policy(
        &self,
        request: Request<PutSlaPolicyRequest>,
    ) -> Result<Response<SlaPolicy>, Status> {
        let (tenant, actor) = who(&request)?;
        let policy = sla::validate_policy(request.get_ref())?;
        let row = sla::put_policy(&self.ctx.pool, &tenant, &actor, policy).await?;
        Ok(Response::new(sla::policy_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn put_business_hours(
        &self,
        request: Request<PutBusinessHoursRequest>,
    ) -> Result<Response<BusinessHours>, Status> {
        let (tenant, actor) = who(&request)?;
        let hours = sla::validate_hours(request.get_ref())?;
        let row = sla::put_hours(&self.ctx.pool, &tenant, &actor, hours).await?;
        Ok(Response::new(sla::hours_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_business_hours(
        &self,
        request: Request<GetBusinessHoursRequest>,
    ) -> Result<Response<BusinessHours>, Status> {
        let (tenant, _) = who(&request)?;
        let row = sla::get_hours(&self.ctx.pool, &tenant)
            .await?
            .ok_or_else(|| ServiceError::NotFound("business hours".into()))?;
        Ok(Response::new(sla::hours_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_sla_policies(
        &self,
        request: Request<ListSlaPoliciesRequest>,
    ) -> Result<Response<ListSlaPoliciesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let rows = sla::list_policies(&self.ctx.pool, &tenant, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, sla::policy_cursor);
        Ok(Response::new(ListSlaPoliciesResponse {
            policies: rows.into_iter().map(sla::policy_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn check_reply(
        &self,
        request: Request<CheckReplyRequest>,
    ) -> Result<Response<AuthenticityReport>, Status> {
        let (tenant, _) = who(&request)?;
        let req = request.get_ref();
        let id = replies::validate_check(&req.case_id, &req.body)?;
        let report = replies::check(&self.ctx.pool, &tenant, id, &req.body).await?;
        Ok(Response::new(replies::report_to_proto(&report)))
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn send_reply(
        &self,
        request: Request<SendReplyRequest>,
    ) -> Result<Response<SendReplyResponse>, Status> {
        let (tenant, actor) = who(&request)?;
        let out = replies::validate_send(request.get_ref())?;
        let sent = replies::send(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, out).await?;
        let case = cases::with_details(&self.ctx.pool, &tenant, vec![sent.case])
            .await?
            .into_iter()
            .next()
            .map(cases::to_proto);
        Ok(Response::new(SendReplyResponse {
            reply: Some(cases::message_to_proto(sent.reply)),
            case,
            report: Some(sent.report),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_guard_policy(
        &self,
        request: Request<GetGuardPolicyRequest>,
    ) -> Result<Response<GuardPolicy>, Status> {
        let (tenant, _) = who(&request)?;
        Ok(Response::new(
            replies::get_policy(&self.ctx.pool, &tenant).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn put_guard_policy(
        &self,
        request: Request<PutGuardPolicyRequest>,
    ) -> Result<Response<GuardPolicy>, Status> {
        let (tenant, actor) = who(&request)?;
        Ok(Response::new(
            replies::put_policy(
                &self.ctx.pool,
                &tenant,
                &actor,
                request.get_ref().policy.as_ref(),
            )
            .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_queue(
        &self,
        request: Request<ListQueueRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let (filter, limit, after) = queue::validate(request.get_ref())?;
        let rows = queue::list(&self.ctx.pool, &tenant, &filter, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, queue::cursor);
        let rows = cases::with_details(&self.ctx.pool, &tenant, rows).await?;
        Ok(Response::new(ListCasesResponse {
            cases: rows.into_iter().map(cases::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn claim_case(
        &self,
        request: Request<ClaimCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let (case, _) = case_and_agent(&req.case_id, req.version, "")?;
        let row = outcomes::claim(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            case,
            req.release,
        )
        .await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn add_goodwill(
        &self,
        request: Request<AddGoodwillRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let gesture = outcomes::validate_goodwill(request.get_ref())?;
        let row =
            outcomes::add_goodwill(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, gesture)
                .await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn record_csat(
        &self,
        request: Request<RecordCsatRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let id = outcomes::validate_csat(&req.case_id, req.score, &req.comment)?;
        let row = outcomes::record_csat(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            id,
            req.score,
            &req.comment,
        )
        .await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_case(
        &self,
        request: Request<ResolveCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let mut v = FieldViolations::new();
        let id = v.id(&req.case_id, "case_id");
        v.version(req.version, "version");
        let code = req.resolution_code.trim();
        v.check(
            !routing::valid_key(code),
            "resolution_code",
            "must be 1 to 64 lower-case letters, digits, _ or -",
        );
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
        let row = cases::update_status(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            (id, req.version),
            CaseStatus::Resolved,
            Some(code),
        )
        .await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn add_commitment(
        &self,
        request: Request<AddCommitmentRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let promise = commitments::validate(request.get_ref())?;
        let row =
            commitments::add(&self.ctx.pool, &self.ctx.outbox, &tenant, &actor, promise).await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all)]
    async fn keep_commitment(
        &self,
        request: Request<KeepCommitmentRequest>,
    ) -> Result<Response<Case>, Status> {
        let (tenant, actor) = who(&request)?;
        let req = request.get_ref();
        let mut v = FieldViolations::new();
        let id = v.id(&req.case_id, "case_id");
        v.version(req.version, "version");
        let commitment = v.id(&req.commitment_id, "commitment_id");
        v.into_result()?;
        let (Some(id), Some(commitment)) = (id, commitment) else {
            return Err(invalid("case_id", "is required").into());
        };
        let row = commitments::keep(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            &actor,
            (id, req.version),
            commitment,
        )
        .await?;
        one_with_details(&self.ctx.pool, &tenant, row).await
    }

    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_article(
        &self,
        request: Request<CreateArticleRequest>,
    ) -> Result<Response<Article>, Status> {
        let (tenant, actor) = who(&request)?;
        let (request_id, content) = knowledge::validate_create(request.get_ref())?;
        let row = knowledge::create(&self.ctx.pool, &tenant, &actor, &request_id, content).await?;
        Ok(Response::new(knowledge::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn publish_article_version(
        &self,
        request: Request<PublishArticleVersionRequest>,
    ) -> Result<Response<Article>, Status> {
        let (tenant, actor) = who(&request)?;
        let change = knowledge::validate_publish(request.get_ref())?;
        let row = knowledge::publish(&self.ctx.pool, &tenant, &actor, change).await?;
        Ok(Response::new(knowledge::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_article(
        &self,
        request: Request<GetArticleRequest>,
    ) -> Result<Response<Article>, Status> {
        let (tenant, _) = who(&request)?;
        let (id, version) = knowledge::validate_get(request.get_ref())?;
        let row = knowledge::get(&self.ctx.pool, &tenant, id, version).await?;
        Ok(Response::new(knowledge::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn search_articles(
        &self,
        request: Request<SearchArticlesRequest>,
    ) -> Result<Response<SearchArticlesResponse>, Status> {
        let (tenant, _) = who(&request)?;
        let search = knowledge::validate_search(request.get_ref())?;
        let rows = knowledge::search(&self.ctx.pool, &tenant, &search).await?;
        let next_page_token = next_page_token(&rows, search.limit, knowledge::cursor);
        Ok(Response::new(SearchArticlesResponse {
            articles: rows.into_iter().map(knowledge::to_proto).collect(),
            next_page_token,
        }))
    }
}
