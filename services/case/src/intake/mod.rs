//! Intake: how cases come in. Each classified mention heard from listening is
//! threaded into a case in named phases over the whole batch, a fixed number
//! of statements whatever its size; email, chat, phone and web-form contacts
//! open one through `CreateCase`.

pub mod plan;
pub mod store;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_proto::events::v1::Event;
use earshot_server::{ServiceError, invalid};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use self::plan::{Existing, Incoming, Plan};
use self::store::Opening;
use crate::audit::{self, Record};
use crate::customers::{self, Identity, Speaker};
use crate::record::messages::{self, Inbound};
use crate::record::{self, CaseRow, StatusChange};
use crate::routing::{self, ToRoute};
use crate::sla;
use crate::vocabulary::Status;

/// A classified mention, as the event edge hands it over.
#[derive(Debug, Clone)]
pub struct Mention {
    pub tenant_id: String,
    pub mention_id: String,
    pub channel: i16,
    /// Posted in public (a tweet, a review), not a private message.
    pub public: bool,
    pub thread_key: String,
    pub text: String,
    pub posted_at: Option<DateTime<Utc>>,
    /// Shown on the case: the author's handle, id or name.
    pub handle: String,
    /// The author as a customer; `None` for one nobody can recognise (an
    /// anonymous review), who gets no profile.
    pub speaker: Option<Speaker>,
    /// Topics of the tenant's taxonomy the mention is about, the main one first.
    pub topics: Vec<String>,
    /// A cry for help: it opens a case when it joins none.
    pub actionable: bool,
    pub intent: i16,
    pub urgencies: Vec<i16>,
    pub sentiment: Option<f64>,
    pub followers: i64,
}

impl Mention {
    fn to_route(&self, customer_id: Option<Uuid>) -> ToRoute<'_> {
        ToRoute {
            tenant_id: &self.tenant_id,
            customer_id,
            topics: self.topics.iter().map(String::as_str).collect(),
            intent: self.intent,
            urgencies: self.urgencies.clone(),
            sentiment: self.sentiment,
            channel: self.channel,
            followers: self.followers,
        }
    }
}

/// What one batch of mentions did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Threaded {
    pub opened: usize,
    pub joined: usize,
    pub reopened: usize,
    pub ignored: usize,
}

/// A batch on its way through the phases.
struct Batch<'a> {
    /// One per mention id, in arrival order.
    heard: Vec<&'a Mention>,
    /// The customer of each heard mention.
    customers: Vec<Option<Uuid>>,
    /// Indexes into `heard` of the mentions not on a case yet.
    fresh: Vec<usize>,
    /// What each fresh mention does.
    plans: Vec<Plan>,
    /// The id of the case each fresh mention opens (nil for the others).
    new_ids: Vec<Uuid>,
    records: Vec<(String, Record)>,
    events: Vec<Event>,
    outcome: Threaded,
}

impl<'a> Batch<'a> {
    fn fresh(&self, k: usize) -> &'a Mention {
        self.heard[self.fresh[k]]
    }

    fn record(&mut self, tenant_id: &str, record: Record) {
        self.records.push((tenant_id.to_owned(), record));
    }
}

/// Threads a batch of classified mentions: each finds (or creates) its
/// customer, then joins the open case of its thread or of its customer on one
/// of its topics, or — when it is a cry for help — opens a case. A mention already
/// on a case (a redelivery) does nothing. Set-based: a fixed number of
/// statements per batch.
pub async fn thread_mentions(
    conn: &mut PgConnection,
    outbox: &Outbox,
    mentions: &[Mention],
) -> Result<Threaded, sqlx::Error> {
    let mut batch = hear(mentions);
    if batch.heard.is_empty() {
        return Ok(batch.outcome);
    }
    store::plan_for_this_batch(conn).await?;
    identify(conn, &mut batch).await?;
    drop_redeliveries(conn, &mut batch).await?;
    if batch.fresh.is_empty() {
        return Ok(batch.outcome);
    }
    plan_threads(conn, &mut batch).await?;
    open_cases(conn, &mut batch).await?;
    add_messages(conn, &mut batch).await?;
    wake_cases(conn, &mut batch).await?;
    let tenants: Vec<&str> = batch.records.iter().map(|(t, _)| t.as_str()).collect();
    let records: Vec<Record> = batch.records.iter().map(|(_, r)| r.clone()).collect();
    audit::store::append_for(conn, &tenants, audit::SYSTEM, &records).await?;
    record::store::enqueue(conn, outbox, batch.events).await?;
    Ok(batch.outcome)
}

/// Phase 1: one entry per mention id; mentions without one are ignored.
fn hear(mentions: &[Mention]) -> Batch<'_> {
    let mut seen = HashSet::new();
    let heard: Vec<&Mention> = mentions
        .iter()
        .filter(|m| {
            !m.mention_id.is_empty() && seen.insert((m.tenant_id.as_str(), m.mention_id.as_str()))
        })
        .collect();
    Batch {
        outcome: Threaded {
            ignored: mentions.len() - heard.len(),
            ..Threaded::default()
        },
        heard,
        customers: Vec::new(),
        fresh: Vec::new(),
        plans: Vec::new(),
        new_ids: Vec::new(),
        records: Vec::new(),
        events: Vec::new(),
    }
}

/// Phase 2: customers first. Their advisory locks also serialise concurrent
/// batches carrying the same mention, so the redelivery check after them is
/// race-free; anonymous mentions take a lock of their own for the same reason.
async fn identify(conn: &mut PgConnection, batch: &mut Batch<'_>) -> Result<(), sqlx::Error> {
    let speakers: Vec<Speaker> = batch
        .heard
        .iter()
        .filter_map(|m| m.speaker.clone())
        .collect();
    let mut found = customers::find_or_create(conn, &speakers)
        .await?
        .into_iter();
    batch.customers = batch
        .heard
        .iter()
        .map(|m| m.speaker.as_ref().and_then(|_| found.next()))
        .collect();
    let anonymous: Vec<String> = batch
        .heard
        .iter()
        .filter(|m| m.speaker.is_none())
        .map(|m| format!("mention\u{1f}{}\u{1f}{}", m.tenant_id, m.mention_id))
        .collect();
    store::lock_anonymous(conn, &anonymous).await
}

/// Phase 3: a mention already on a case (a redelivery) does nothing.
async fn drop_redeliveries(
    conn: &mut PgConnection,
    batch: &mut Batch<'_>,
) -> Result<(), sqlx::Error> {
    let known = store::known_mentions(conn, &batch.heard).await?;
    batch.fresh = (0..batch.heard.len())
        .filter(|&i| {
            let m = batch.heard[i];
            !known.contains(&(m.tenant_id.clone(), m.mention_id.clone()))
        })
        .collect();
    batch.outcome.ignored += batch.heard.len() - batch.fresh.len();
    Ok(())
}

/// Phase 4: which case each fresh mention joins, or whether it opens one.
async fn plan_threads(conn: &mut PgConnection, batch: &mut Batch<'_>) -> Result<(), sqlx::Error> {
    let incoming: Vec<Incoming<'_>> = batch
        .fresh
        .iter()
        .map(|&i| {
            let m = batch.heard[i];
            Incoming {
                tenant_id: &m.tenant_id,
                thread_key: &m.thread_key,
                customer_id: batch.customers[i],
                topics: m.topics.iter().map(String::as_str).collect(),
                actionable: m.actionable,
            }
        })
        .collect();
    let existing = store::open_cases_for(conn, &incoming).await?;
    batch.plans = plan::plan(&incoming, &existing);
    batch.new_ids = batch
        .plans
        .iter()
        .map(|p| match p {
            Plan::Open => Uuid::now_v7(),
            _ => Uuid::nil(),
        })
        .collect();
    Ok(())
}

/// Phase 5: open the new cases, routed and assigned, with their clocks started.
async fn open_cases(conn: &mut PgConnection, batch: &mut Batch<'_>) -> Result<(), sqlx::Error> {
    let opening: Vec<usize> = (0..batch.plans.len())
        .filter(|&k| batch.plans[k] == Plan::Open)
        .collect();
    if opening.is_empty() {
        return Ok(());
    }
    let to_route: Vec<ToRoute<'_>> = opening
        .iter()
        .map(|&k| batch.fresh(k).to_route(batch.customers[batch.fresh[k]]))
        .collect();
    let routed = routing::route_new(conn, &to_route).await?;
    let openings: Vec<Opening<'_>> = opening
        .iter()
        .zip(routed)
        .map(|(&k, (decision, assignee))| {
            let m = batch.fresh(k);
            Opening {
                id: batch.new_ids[k],
                tenant_id: &m.tenant_id,
                channel: m.channel,
                subject: record::subject_from(&m.text),
                handle: &m.handle,
                mention_id: Some(&m.mention_id),
                thread_key: &m.thread_key,
                customer_id: batch.customers[batch.fresh[k]],
                topics: m.topics.iter().map(String::as_str).collect(),
                request_id: None,
                description: "",
                decision,
                assignee,
                intent: m.intent,
                public: m.public,
                followers: Some(m.followers),
            }
        })
        .collect();
    let vips: HashSet<Uuid> = openings
        .iter()
        .filter(|o| o.decision.vip)
        .map(|o| o.id)
        .collect();
    let opened = store::insert_opened(conn, &openings, Utc::now()).await?;
    let ids: Vec<Uuid> = opened.iter().map(|o| o.case.id).collect();
    sla::store::start(conn, &ids).await?;
    batch.outcome.opened = opened.len();
    for o in &opened {
        batch.record(
            &o.tenant_id,
            Record::case(
                o.case.id,
                "case.opened",
                json!({}),
                opened_snapshot(&o.case),
            ),
        );
        batch.events.push(record::case_opened(
            &o.tenant_id,
            &o.case,
            vips.contains(&o.case.id),
        ));
    }
    Ok(())
}

/// Phase 6: every fresh message that belongs to a case is added to it.
async fn add_messages(conn: &mut PgConnection, batch: &mut Batch<'_>) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let mut inbound: Vec<Inbound<'_>> = Vec::new();
    let mut joined: Vec<(String, Record)> = Vec::new();
    for (k, plan) in batch.plans.iter().enumerate() {
        let m = batch.fresh(k);
        let case_id = match plan {
            Plan::Open => batch.new_ids[k],
            Plan::JoinNew(j) => batch.new_ids[*j],
            Plan::Join(e) => e.case_id,
            Plan::Ignore => {
                batch.outcome.ignored += 1;
                continue;
            }
        };
        if *plan != Plan::Open {
            batch.outcome.joined += 1;
            joined.push((
                m.tenant_id.clone(),
                Record::case(
                    case_id,
                    "case.message_added",
                    json!({}),
                    json!({ "mention_id": m.mention_id }),
                ),
            ));
        }
        inbound.push(Inbound {
            tenant_id: &m.tenant_id,
            case_id,
            channel: m.channel,
            author: &m.handle,
            body: &m.text,
            mention_id: Some(&m.mention_id),
            posted_at: m.posted_at.unwrap_or(now),
        });
    }
    messages::insert_inbound(conn, &inbound).await?;
    batch.records.extend(joined);
    Ok(())
}

/// Phase 7: the customer wrote again on cases that existed: a next reply is
/// due on them; resolved ones reopen, those waiting on the customer are open
/// again.
async fn wake_cases(conn: &mut PgConnection, batch: &mut Batch<'_>) -> Result<(), sqlx::Error> {
    let mut woken: Vec<(usize, Existing, Status)> = Vec::new();
    let mut joined: Vec<Uuid> = Vec::new();
    for (k, plan) in batch.plans.iter().enumerate() {
        let Plan::Join(e) = plan else {
            continue;
        };
        joined.push(e.case_id);
        if let Some(to) = plan::status_after_inbound(e.status)
            && !woken.iter().any(|(_, w, _)| w.case_id == e.case_id)
        {
            woken.push((k, *e, to));
        }
    }
    sla::store::start_next_response(conn, &joined).await?;
    if woken.is_empty() {
        return Ok(());
    }
    let changes: Vec<StatusChange> = woken
        .iter()
        .map(|(_, e, to)| StatusChange {
            case_id: e.case_id,
            from: e.status,
            to: *to,
        })
        .collect();
    sla::on_status(conn, &changes).await?;
    let versions = store::reopen(conn, &changes).await?;
    for (k, e, to) in woken {
        let tenant = batch.fresh(k).tenant_id.as_str();
        let Some((_, version)) = versions.iter().find(|(id, _)| *id == e.case_id) else {
            continue;
        };
        let reopened = e.status == Status::Resolved;
        if reopened {
            batch.outcome.reopened += 1;
        }
        batch.record(
            tenant,
            Record::case(
                e.case_id,
                if reopened {
                    "case.reopened"
                } else {
                    "case.status_changed"
                },
                json!({ "status": e.status.label() }),
                json!({ "status": to.label(), "reason": "the customer wrote again" }),
            ),
        );
        batch
            .events
            .push(record::case_updated(tenant, e.case_id, to, *version));
    }
    Ok(())
}

/// The audit snapshot of a case just opened.
fn opened_snapshot(row: &CaseRow) -> serde_json::Value {
    json!({
        "status": Status::New.label(),
        "mention_id": row.mention_id,
        "customer_id": row.customer_id.map(|id| id.to_string()),
        "topic": row.topic,
        "lane": row.lane.label(),
        "priority": row.priority.as_str(),
        "queue": row.queue,
        "assignee": row.assignee,
        "routing_rule_id": row.routing_rule_id.map(|id| id.to_string()),
    })
}

/// A checked `CreateCase`.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub request_id: String,
    pub channel: i16,
    pub subject: String,
    pub description: String,
    /// How the customer reached us; empty when the customer is named.
    pub handle: String,
    /// The identity `handle` names; the customer is found or created by it
    /// unless `customer_id` is given.
    pub identity: Option<Identity>,
    pub customer_id: Option<Uuid>,
    pub topic: String,
}

/// Opens a case by API, once per `request_id`: a retry returns the same case.
/// The customer is the one given (the case shows their name when no handle
/// is), or the one holding the handle on the channel (created when new).
pub async fn create(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    new: NewCase,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    if let Some(row) = store::by_request(&mut tx, tenant_id, &new.request_id).await? {
        return Ok(row);
    }
    let (customer_id, handle) = match (new.customer_id, &new.identity) {
        (Some(id), _) => match customers::store::name_and_merge(&mut tx, tenant_id, id).await? {
            None => return Err(ServiceError::NotFound(format!("customer {id}"))),
            Some((_, Some(into))) => {
                return Err(ServiceError::FailedPrecondition(format!(
                    "customer {id} was merged into {into}; open the case for that one"
                )));
            }
            Some((name, None)) if new.handle.is_empty() => (
                id,
                if name.is_empty() {
                    id.to_string()
                } else {
                    name
                },
            ),
            Some((_, None)) => (id, new.handle.clone()),
        },
        (None, Some(identity)) => {
            let speaker = Speaker {
                tenant_id: tenant_id.to_owned(),
                identity: identity.clone(),
                also_known_as: Vec::new(),
                display_name: new.handle.clone(),
                followers: 0,
                language: String::new(),
            };
            let id = customers::find_or_create(&mut tx, &[speaker]).await?[0];
            (id, new.handle.clone())
        }
        (None, None) => return Err(invalid("customer_handle", "is required")),
    };
    let now = Utc::now();
    let route = ToRoute {
        tenant_id,
        customer_id: Some(customer_id),
        topics: if new.topic.is_empty() {
            Vec::new()
        } else {
            vec![new.topic.as_str()]
        },
        intent: 0,
        urgencies: Vec::new(),
        sentiment: None,
        channel: new.channel,
        followers: 0,
    };
    let (decision, assignee) = routing::route_new(&mut tx, std::slice::from_ref(&route))
        .await?
        .remove(0);
    let vip = decision.vip;
    let opening = Opening {
        id: Uuid::now_v7(),
        tenant_id,
        channel: new.channel,
        subject: new.subject.clone(),
        handle: &handle,
        mention_id: None,
        thread_key: "",
        customer_id: Some(customer_id),
        topics: route.topics.clone(),
        request_id: Some(&new.request_id),
        description: &new.description,
        decision,
        assignee,
        // Email, chat, phone and web forms are private; nothing classified them.
        intent: 0,
        public: false,
        followers: None,
    };
    let Some(opened) = store::insert_opened(&mut tx, &[opening], now).await?.pop() else {
        // A concurrent retry won the race: answer with its case.
        drop(tx);
        let mut conn = pool.acquire().await?;
        return store::by_request(&mut conn, tenant_id, &new.request_id)
            .await?
            .ok_or_else(|| ServiceError::Aborted("retry the request".to_owned()));
    };
    let row = opened.case;
    let body = if new.description.is_empty() {
        &new.subject
    } else {
        &new.description
    };
    let message = Inbound {
        tenant_id,
        case_id: row.id,
        channel: new.channel,
        author: &handle,
        body,
        mention_id: None,
        posted_at: now,
    };
    messages::insert_inbound(&mut tx, &[message]).await?;
    sla::store::start(&mut tx, &[row.id]).await?;
    let mut after = opened_snapshot(&row);
    after["request_id"] = json!(new.request_id);
    audit::store::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::case(row.id, "case.opened", json!({}), after)],
    )
    .await?;
    let opened = vec![record::case_opened(tenant_id, &row, vip)];
    record::store::enqueue(&mut tx, outbox, opened).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}
