//! Forgetting a customer and the tenant's retention period, through the four
//! services: the case service erases the profile and tells the others, each
//! erases in its own schema and reports back; retention deletes only what is
//! older than the tenant's period, in every service.

use std::time::{Duration, SystemTime};

use chrono::{Datelike, Utc};
use earshot_e2e::{ALL, Clients, Suite, cry_for_help, eventually, high_five};
use earshot_proto::case::v1::service_erasure::State;
use earshot_proto::case::v1::{
    Case, EraseCustomerRequest, Erasure, FindCustomerRequest, GetCustomerRequest,
    GetErasureRequest, GetRetentionPolicyRequest, Identity, ListAuditEntriesRequest,
    ListCaseMessagesRequest, PutRetentionPolicyRequest, RetentionPolicy,
};
use earshot_proto::common::v1::Author;
use earshot_proto::escalation::v1::ListEvaluationsRequest;
use earshot_proto::insight::v1::{
    Day, DayRange, GetSummaryRequest, ListMentionsRequest, MentionFilter,
};
use earshot_proto::listening::v1::{GetMentionRequest, MentionInput};
use tonic::Code;

/// Everything the erased customer is known by: none of it may remain.
const JANE: [&str; 3] = ["jane", "jd-4711", "quokka"];

fn jane() -> Author {
    Author {
        external_id: "jd-4711".into(),
        handle: "Jane_Doe".into(),
        display_name: "Jane Doe".into(),
        followers: 10,
        verified: false,
    }
}

fn bob() -> Author {
    Author {
        external_id: "bob-9922".into(),
        handle: "bob_builds".into(),
        display_name: "Bob".into(),
        followers: 3,
        verified: false,
    }
}

fn by(author: Author, mention: MentionInput, text: &str) -> MentionInput {
    MentionInput {
        author: Some(author),
        text: text.into(),
        ..mention
    }
}

/// Jane asks for help and praises the app; Bob asks for help. Answers the
/// mention ids in that order once the cases are open and every mention is
/// evaluated.
async fn hear_jane_and_bob(acme: &mut Clients) -> Vec<String> {
    let ingested = acme
        .ingest(vec![
            by(
                jane(),
                cry_for_help("5001"),
                "@acme my Quokka card top up failed, can you help?",
            ),
            by(
                jane(),
                high_five("5002"),
                "Thanks @acme, the Quokka app is awesome",
            ),
            by(
                bob(),
                cry_for_help("5003"),
                "@acme my parcel never arrived, can you help?",
            ),
        ])
        .await;
    assert_eq!(ingested.accepted, 3, "{ingested:?}");
    let ids: Vec<String> = ingested.results.into_iter().map(|r| r.mention_id).collect();
    eventually("two cases and three evaluations", || {
        let (mut case, mut escalation) = (acme.case.clone(), acme.escalation.clone());
        async move {
            let cases = case
                .list_cases(earshot_proto::case::v1::ListCasesRequest::default())
                .await
                .ok()?
                .into_inner()
                .cases;
            let evaluations = escalation
                .list_evaluations(ListEvaluationsRequest::default())
                .await
                .ok()?
                .into_inner()
                .evaluations;
            (cases.len() == 2 && of_mentions(&evaluations).len() == 3).then_some(())
        }
    })
    .await;
    ids
}

async fn customer_of(acme: &mut Clients, author: &Author) -> String {
    acme.case
        .find_customer(FindCustomerRequest {
            identity: Some(Identity {
                platform: "x".into(),
                value: author.external_id.clone(),
            }),
        })
        .await
        .expect("the author is a customer")
        .into_inner()
        .customer_id
}

async fn erase(acme: &mut Clients, request_id: &str, customer_id: &str) -> Erasure {
    acme.case
        .erase_customer(EraseCustomerRequest {
            request_id: request_id.into(),
            customer_id: customer_id.into(),
        })
        .await
        .expect("erased")
        .into_inner()
}

/// Waits until every service reported, and answers the erasure then.
async fn completed(acme: &Clients, erasure_id: &str) -> Erasure {
    eventually("every service erased", || {
        let mut case = acme.case.clone();
        let erasure_id = erasure_id.to_owned();
        async move {
            let erasure = case
                .get_erasure(GetErasureRequest { erasure_id })
                .await
                .ok()?
                .into_inner();
            erasure.complete.then_some(erasure)
        }
    })
    .await
}

fn records_of(erasure: &Erasure, service: &str) -> Option<u64> {
    erasure
        .services
        .iter()
        .find(|s| s.service == service && s.state == State::Done as i32)
        .map(|s| s.records_erased)
}

/// Rows of `tables` in `schema` whose text holds anything Jane is known by.
async fn traces_of_jane(suite: &Suite, schema: &str, tables: &[&str]) -> Vec<String> {
    let pool = suite.db.pool(schema).await;
    let mut found = Vec::new();
    for table in tables {
        for needle in JANE {
            let rows: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT t::text FROM {table} t WHERE t::text ILIKE '%' || $1 || '%'"
            ))
            .bind(needle)
            .fetch_all(&pool)
            .await
            .expect("query");
            found.extend(rows.into_iter().map(|r| format!("{schema}.{table}: {r}")));
        }
    }
    found
}

async fn case_of(acme: &mut Clients, customer_id: &str) -> Case {
    acme.cases()
        .await
        .into_iter()
        .find(|c| c.customer_id == customer_id)
        .expect("the customer's case")
}

#[tokio::test]
async fn a_forgotten_customer_is_erased_by_every_service_and_no_one_else_is() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let ids = hear_jane_and_bob(&mut acme).await;
    let (jane_id, bob_id) = (
        customer_of(&mut acme, &jane()).await,
        customer_of(&mut acme, &bob()).await,
    );
    let jane_case = case_of(&mut acme, &jane_id).await;

    let first = erase(&mut acme, "erase-1", &jane_id).await;
    assert_eq!(first.customer_id, jane_id);
    assert_eq!(first.requested_by, "test-user");
    let told: Vec<&str> = first.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(told, ["case", "escalation", "insight", "listening"]);
    assert!(
        records_of(&first, "case").is_some_and(|n| n > 0),
        "{first:?}"
    );

    let done = completed(&acme, &first.erasure_id).await;
    // Listening: both of her mentions. Escalation erases the evaluations of
    // the mention her case holds (the mention's and its case opening's) when
    // case tells it, or before, when listening's report (which names both)
    // comes first. Insight anonymises what it heard of her by then (her
    // mentions, her case's profile) and the rest when listening's report
    // names her mentions: in the end its facts name Bob, not her.
    assert_eq!(records_of(&done, "listening"), Some(2), "{done:?}");
    assert!(
        records_of(&done, "escalation").is_some_and(|n| n <= 2),
        "{done:?}"
    );
    assert!(
        records_of(&done, "insight").is_some_and(|n| n <= 3),
        "{done:?}"
    );
    let today = day_of(SystemTime::now());
    eventually("insight's facts name bob and not jane", || {
        let mut insight = acme.insight.clone();
        async move {
            let authors: Vec<String> = insight
                .list_mentions(ListMentionsRequest {
                    filter: Some(MentionFilter {
                        range: Some(DayRange {
                            from: Some(today),
                            to: Some(today),
                        }),
                        ..Default::default()
                    }),
                    page_size: 100,
                    page_token: String::new(),
                })
                .await
                .ok()?
                .into_inner()
                .mentions
                .into_iter()
                .map(|m| m.author)
                .collect();
            (authors.iter().any(|a| a.ends_with(":bob-9922"))
                && !authors.iter().any(|a| a.contains("jd-4711")))
            .then_some(())
        }
    })
    .await;

    // Idempotent: the same request, and another request for her, answer the
    // first erasure; the same request for someone else is refused.
    assert_eq!(
        erase(&mut acme, "erase-1", &jane_id).await.erasure_id,
        first.erasure_id
    );
    assert_eq!(
        erase(&mut acme, "erase-2", &jane_id).await.erasure_id,
        first.erasure_id
    );
    let reused = acme
        .case
        .erase_customer(EraseCustomerRequest {
            request_id: "erase-1".into(),
            customer_id: bob_id.clone(),
        })
        .await
        .expect_err("a request id names one erasure");
    assert_eq!(reused.code(), Code::AlreadyExists);

    // Case: the profile is anonymous, holds no identity, her case and
    // messages are redacted; nobody finds her by her identity any more.
    let profile = acme
        .case
        .get_customer(GetCustomerRequest {
            customer_id: jane_id.clone(),
        })
        .await
        .expect("the profile stays, anonymous")
        .into_inner();
    assert_eq!(profile.display_name, "[erased]");
    assert!(profile.identities.is_empty());
    let found = acme
        .case
        .find_customer(FindCustomerRequest {
            identity: Some(Identity {
                platform: "x".into(),
                value: "jd-4711".into(),
            }),
        })
        .await
        .expect_err("her identity is gone");
    assert_eq!(found.code(), Code::NotFound);
    assert_eq!(case_of(&mut acme, &jane_id).await.subject, "[erased]");
    let messages = acme
        .case
        .list_case_messages(ListCaseMessagesRequest {
            case_id: jane_case.case_id.clone(),
            ..Default::default()
        })
        .await
        .expect("messages")
        .into_inner()
        .messages;
    assert!(!messages.is_empty());
    assert!(
        messages
            .iter()
            .all(|m| m.body == "[erased]" && m.author == "[erased]")
    );

    // Audited without the erased data: who erased, when, nothing of her.
    let trail = acme
        .case
        .list_audit_entries(ListAuditEntriesRequest {
            customer_id: jane_id.clone(),
            ..Default::default()
        })
        .await
        .expect("trail")
        .into_inner()
        .entries;
    let erased = trail.last().expect("the erasure is audited");
    assert_eq!(erased.action, "customer.erased");
    assert_eq!(erased.actor, "test-user");
    assert!(erased.at.is_some());
    assert!(erased.after.contains(&first.erasure_id));
    let tables = [
        "customers",
        "customer_identities",
        "cases",
        "case_messages",
        "audit_entries",
        "erasures",
        "erasure_progress",
    ];
    let traces = traces_of_jane(&suite, "cases", &tables).await;
    assert!(traces.is_empty(), "{traces:#?}");

    // Listening: her mentions are gone, Bob's stays.
    for id in &ids[..2] {
        let gone = acme
            .listening
            .get_mention(GetMentionRequest {
                mention_id: id.clone(),
            })
            .await
            .expect_err("her mention is erased");
        assert_eq!(gone.code(), Code::NotFound);
    }
    let kept = acme
        .listening
        .get_mention(GetMentionRequest {
            mention_id: ids[2].clone(),
        })
        .await
        .expect("Bob's mention stays")
        .into_inner();
    assert_eq!(kept.author.expect("author").external_id, "bob-9922");
    let traces = traces_of_jane(&suite, "listening", &["mentions", "mention_labels"]).await;
    assert!(traces.is_empty(), "{traces:#?}");

    // Escalation: the praise no case held goes too, by listening's report.
    only_evaluation_left(&acme, &ids[2]).await;

    // Bob is untouched.
    let bob_case = case_of(&mut acme, &bob_id).await;
    assert_ne!(bob_case.subject, "[erased]");
    let bob_messages = acme
        .case
        .list_case_messages(ListCaseMessagesRequest {
            case_id: bob_case.case_id,
            ..Default::default()
        })
        .await
        .expect("messages")
        .into_inner()
        .messages;
    assert!(bob_messages[0].body.contains("parcel never arrived"));
    assert_eq!(customer_of(&mut acme, &bob()).await, bob_id);
    acme.wait_for_counts(3, 2).await;

    // Another tenant can neither erase her nor read her erasure.
    let mut globex = Clients::new(&suite, "globex", ALL);
    let theirs = globex
        .case
        .erase_customer(EraseCustomerRequest {
            request_id: "erase-1".into(),
            customer_id: bob_id.clone(),
        })
        .await
        .expect_err("not globex's customer");
    assert_eq!(theirs.code(), Code::NotFound);
    let read = globex
        .case
        .get_erasure(GetErasureRequest {
            erasure_id: first.erasure_id.clone(),
        })
        .await
        .expect_err("not globex's erasure");
    assert_eq!(read.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_requests_name_their_fields() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let bad = acme
        .case
        .erase_customer(EraseCustomerRequest {
            request_id: " ".into(),
            customer_id: "jane".into(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("request_id: is required"),
        "{}",
        bad.message()
    );
    assert!(
        bad.message().contains("customer_id: must be a UUID"),
        "{}",
        bad.message()
    );
    let bad = acme
        .case
        .get_erasure(GetErasureRequest::default())
        .await
        .expect_err("invalid");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("erasure_id"), "{}", bad.message());
    let bad = acme
        .case
        .put_retention_policy(PutRetentionPolicyRequest {
            policy: Some(RetentionPolicy {
                days: 40_000,
                version: -1,
                updated_at: None,
            }),
        })
        .await
        .expect_err("invalid");
    assert!(bad.message().contains("policy.days"), "{}", bad.message());
    assert!(
        bad.message().contains("policy.version"),
        "{}",
        bad.message()
    );
    let unknown = acme
        .case
        .erase_customer(EraseCustomerRequest {
            request_id: "r".into(),
            customer_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("no such customer");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn an_erasure_told_to_a_stopped_service_completes_when_it_returns() {
    let mut suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let ids = hear_jane_and_bob(&mut acme).await;
    let jane_id = customer_of(&mut acme, &jane()).await;

    suite.escalation.stop().await;
    let erasure = erase(&mut acme, "erase-1", &jane_id).await;
    let waiting = eventually("listening and insight erased", || {
        let mut case = acme.case.clone();
        let erasure_id = erasure.erasure_id.clone();
        async move {
            let e = case
                .get_erasure(GetErasureRequest { erasure_id })
                .await
                .ok()?
                .into_inner();
            (records_of(&e, "listening").is_some() && records_of(&e, "insight").is_some())
                .then_some(e)
        }
    })
    .await;
    assert!(!waiting.complete);
    let escalation = waiting
        .services
        .iter()
        .find(|s| s.service == "escalation")
        .expect("escalation was told");
    assert_eq!(escalation.state, State::Pending as i32);
    assert!(escalation.completed_at.is_none());

    suite.escalation.start_again().await;
    completed(&acme, &erasure.erasure_id).await;
    only_evaluation_left(&acme, &ids[2]).await;
}

/// Waits until escalation holds one evaluation, of `mention_id`.
async fn only_evaluation_left(acme: &Clients, mention_id: &str) {
    eventually("only Bob's evaluation is left", || {
        let mut escalation = acme.escalation.clone();
        let mention_id = mention_id.to_owned();
        async move {
            let left = escalation
                .list_evaluations(ListEvaluationsRequest::default())
                .await
                .ok()?
                .into_inner()
                .evaluations;
            let left = of_mentions(&left);
            (left.len() == 1 && left[0].mention_id == mention_id).then_some(())
        }
    })
    .await;
}

/// Moves a stored mention, its case message and its evaluation `days` into
/// the past, as if they had been stored then. A mention's id is its arrival
/// time (UUIDv7), so it gets the id such a mention would have had.
async fn backdate(suite: &Suite, mention_id: &str, days: i32) {
    let id = uuid::Uuid::parse_str(mention_id).expect("uuid");
    let listening = suite.db.pool("listening").await;
    // The id is the arrival time: moving it moves the mention to the
    // partition of that month, and its identity key follows.
    sqlx::query(
        "WITH moved AS (
             UPDATE mentions
                SET id = (lpad(to_hex((extract(epoch FROM now() - make_interval(days => $2))
                                       * 1000)::bigint), 12, '0')
                          || substr(replace(id::text, '-', ''), 13))::uuid,
                    received_at = now() - make_interval(days => $2)
              WHERE id = $1
             RETURNING tenant_id, id
         )
         UPDATE mention_keys k SET mention_id = moved.id FROM moved
          WHERE k.tenant_id = moved.tenant_id AND k.mention_id = $1",
    )
    .bind(id)
    .bind(days)
    .execute(&listening)
    .await
    .expect("backdated mention");
    let case = suite.db.pool("cases").await;
    sqlx::query(
        "UPDATE case_messages SET created_at = now() - make_interval(days => $2)
          WHERE mention_id = $1",
    )
    .bind(mention_id)
    .bind(days)
    .execute(&case)
    .await
    .expect("backdated message");
    let escalation = suite.db.pool("escalation").await;
    sqlx::query(
        "UPDATE evaluations SET evaluated_at = now() - make_interval(days => $2)
          WHERE mention_id = $1",
    )
    .bind(mention_id)
    .bind(days)
    .execute(&escalation)
    .await
    .expect("backdated evaluation");
}

async fn mentions_left(suite: &Suite, tenant: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mentions WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&suite.db.pool("listening").await)
        .await
        .expect("count")
}

fn day_of(at: SystemTime) -> Day {
    let d = chrono::DateTime::<Utc>::from(at).date_naive();
    Day {
        year: d.year(),
        month: d.month(),
        day: d.day(),
    }
}

async fn mentions_on(clients: &mut Clients, day: Day) -> u64 {
    clients
        .insight
        .get_summary(GetSummaryRequest {
            from: Some(day),
            to: Some(day),
        })
        .await
        .expect("summary")
        .into_inner()
        .mentions
}

#[tokio::test]
async fn retention_deletes_only_what_is_older_than_the_tenants_period() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let mut globex = Clients::new(&suite, "globex", ALL);
    let long_ago = SystemTime::now() - Duration::from_secs(40 * 86_400);
    let old = MentionInput {
        posted_at: Some(long_ago.into()),
        ..by(
            jane(),
            cry_for_help("6001"),
            "@acme my Quokka card top up failed, can you help?",
        )
    };
    let new = by(
        bob(),
        cry_for_help("6002"),
        "@acme my parcel never arrived, can you help?",
    );
    let acme_ids: Vec<String> = acme
        .ingest(vec![old.clone(), new])
        .await
        .results
        .into_iter()
        .map(|r| r.mention_id)
        .collect();
    let globex_old = globex.ingest(vec![old]).await.results[0].mention_id.clone();
    acme.wait_for_counts(1, 2).await;
    eventually("three evaluations", || {
        let mut escalation = acme.escalation.clone();
        let mut theirs = globex.escalation.clone();
        async move {
            let ours = escalation
                .list_evaluations(ListEvaluationsRequest::default())
                .await
                .ok()?
                .into_inner()
                .evaluations;
            let theirs = theirs
                .list_evaluations(ListEvaluationsRequest::default())
                .await
                .ok()?
                .into_inner()
                .evaluations;
            (of_mentions(&ours).len() == 2 && of_mentions(&theirs).len() == 1).then_some(())
        }
    })
    .await;
    eventually("globex's case is open", || {
        let mut case = globex.case.clone();
        async move {
            let cases = case
                .list_cases(earshot_proto::case::v1::ListCasesRequest::default())
                .await
                .ok()?
                .into_inner()
                .cases;
            (cases.len() == 1).then_some(())
        }
    })
    .await;
    assert_eq!(mentions_on(&mut acme, day_of(long_ago)).await, 1);
    backdate(&suite, &acme_ids[0], 40).await;
    backdate(&suite, &globex_old, 40).await;

    let policy = acme
        .case
        .put_retention_policy(PutRetentionPolicyRequest {
            policy: Some(RetentionPolicy {
                days: 30,
                version: 0,
                updated_at: None,
            }),
        })
        .await
        .expect("policy set")
        .into_inner();
    assert_eq!((policy.days, policy.version), (30, 1));
    let read = acme
        .case
        .get_retention_policy(GetRetentionPolicyRequest {})
        .await
        .expect("policy")
        .into_inner();
    assert_eq!((read.days, read.version), (30, 1));
    let stale = acme
        .case
        .put_retention_policy(PutRetentionPolicyRequest {
            policy: Some(RetentionPolicy {
                days: 10,
                version: 0,
                updated_at: None,
            }),
        })
        .await
        .expect_err("it exists");
    assert_eq!(stale.code(), Code::AlreadyExists);

    eventually(
        "acme's old mention, message, evaluation and day are gone",
        || {
            let mut acme = Clients::new(&suite, "acme", ALL);
            let suite = &suite;
            async move {
                let mentions = mentions_left(suite, "acme").await;
                let evaluations = acme
                    .escalation
                    .list_evaluations(ListEvaluationsRequest::default())
                    .await
                    .ok()?
                    .into_inner()
                    .evaluations;
                let messages: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM case_messages WHERE tenant_id = 'acme'",
                )
                .fetch_one(&suite.db.pool("cases").await)
                .await
                .ok()?;
                let old_day = mentions_on(&mut acme, day_of(long_ago)).await;
                (mentions == 1
                    && of_mentions(&evaluations).len() == 1
                    && messages == 1
                    && old_day == 0)
                    .then_some(())
            }
        },
    )
    .await;
    // What is newer stays, and so does what another tenant keeps forever.
    let kept = acme
        .listening
        .get_mention(GetMentionRequest {
            mention_id: acme_ids[1].clone(),
        })
        .await;
    assert!(kept.is_ok(), "the new mention stays");
    assert_eq!(mentions_on(&mut acme, day_of(SystemTime::now())).await, 1);
    assert_eq!(mentions_left(&suite, "globex").await, 1);
    assert_eq!(mentions_on(&mut globex, day_of(long_ago)).await, 1);
    let theirs = globex
        .escalation
        .list_evaluations(ListEvaluationsRequest::default())
        .await
        .expect("evaluations")
        .into_inner()
        .evaluations;
    assert_eq!(of_mentions(&theirs).len(), 1);
}

/// The evaluations of mentions (escalation also evaluates case events).
fn of_mentions(
    evaluations: &[earshot_proto::escalation::v1::Evaluation],
) -> Vec<&earshot_proto::escalation::v1::Evaluation> {
    evaluations
        .iter()
        .filter(|e| e.case_id.is_empty())
        .collect()
}
