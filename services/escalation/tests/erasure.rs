//! Forgetting: a customer's erasure (from the case service and from
//! listening) deletes the evaluations that keep their mentions, and the
//! tenant's retention period deletes older ones on the scheduler.

mod common;

use std::time::SystemTime;

use common::{Harness, Mention, evaluations};
use earshot_proto::events::v1::{
    CustomerErased, ErasedIdentity, ErasureCompleted, Event, RetentionChanged, event,
};
use earshot_testkit::eventually;

fn from(producer: &str, tenant: &str, payload: event::Payload) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        occurred_at: Some(SystemTime::now().into()),
        aggregate_key: "customer".into(),
        producer: producer.into(),
        drill: false,
        payload: Some(payload),
    }
}

fn mentions_of(evaluated: &[earshot_proto::escalation::v1::Evaluation]) -> Vec<&str> {
    let mut ids: Vec<&str> = evaluated.iter().map(|e| e.mention_id.as_str()).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn an_erased_customers_evaluations_are_deleted_and_counted() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    h.deliver(vec![
        Mention::new("acme", "m-1").event(),
        Mention::new("acme", "m-2").event(),
        Mention::new("acme", "m-3").event(),
        Mention::new("globex", "m-1").event(),
    ])
    .await;
    let erasure = uuid::Uuid::now_v7().to_string();
    h.deliver(vec![from(
        "case",
        "acme",
        event::Payload::CustomerErased(CustomerErased {
            erasure_id: erasure.clone(),
            customer_id: uuid::Uuid::now_v7().to_string(),
            identities: vec![ErasedIdentity {
                platform: "x".into(),
                value: "jane".into(),
            }],
            mention_ids: vec!["m-1".into(), "m-2".into()],
        }),
    )])
    .await;
    assert_eq!(mentions_of(&evaluations(&mut client).await), ["m-3"]);
    // Another tenant's mention of the same id is not theirs to erase.
    assert_eq!(
        mentions_of(&evaluations(&mut h.client("globex")).await),
        ["m-1"]
    );
    let answers: Vec<ErasureCompleted> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.event.payload {
            Some(event::Payload::ErasureCompleted(done)) => Some(done),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].erasure_id, erasure);
    assert_eq!(answers[0].service, "escalation");
    assert_eq!(answers[0].records_erased, 2);

    // Listening's own report names the mentions no case held.
    h.deliver(vec![from(
        "listening",
        "acme",
        event::Payload::ErasureCompleted(ErasureCompleted {
            erasure_id: erasure,
            service: "listening".into(),
            records_erased: 1,
            mention_ids: vec!["m-3".into()],
        }),
    )])
    .await;
    assert!(evaluations(&mut client).await.is_empty());
    let answers = h
        .emitted()
        .await
        .into_iter()
        .filter(|e| matches!(e.event.payload, Some(event::Payload::ErasureCompleted(_))))
        .count();
    assert_eq!(answers, 1, "listening's report is not answered");
}

#[tokio::test]
async fn evaluations_older_than_the_retention_period_are_deleted() {
    let h = Harness::start().await;
    let client = h.client("acme");
    h.deliver(vec![
        Mention::new("acme", "old").event(),
        Mention::new("acme", "new").event(),
    ])
    .await;
    let pool = h.pool().await;
    sqlx::query(
        "UPDATE evaluations SET evaluated_at = now() - interval '3 days' WHERE mention_id = 'old'",
    )
    .execute(&pool)
    .await
    .expect("aged");
    let change = |days: u32, version: i64| {
        from(
            "case",
            "acme",
            event::Payload::RetentionChanged(RetentionChanged { days, version }),
        )
    };
    h.deliver(vec![change(2, 1)]).await;
    eventually("the old evaluation is deleted", || {
        let mut client = client.clone();
        async move {
            let left = evaluations(&mut client).await;
            (mentions_of(&left) == ["new"]).then_some(())
        }
    })
    .await;
    // An older version of the policy arriving late changes nothing.
    h.deliver(vec![change(0, 0)]).await;
    let days: i32 =
        sqlx::query_scalar("SELECT days FROM retention_policies WHERE tenant_id = 'acme'")
            .fetch_one(&pool)
            .await
            .expect("policy kept");
    assert_eq!(days, 2);
}

#[tokio::test]
async fn an_erased_mention_waiting_in_a_drill_is_erased_too() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    h.deliver(vec![Mention::new("acme", "early").event()]).await;
    h.deliver(vec![Mention::new("acme", "late").event()]).await;
    let pool = h.pool().await;
    // An hour apart: a recorded drill replays the late one an hour in.
    for (mention, minutes) in [("early", 70), ("late", 10)] {
        sqlx::query(
            "UPDATE evaluations SET evaluated_at = now() - make_interval(mins => $2)
              WHERE mention_id = $1",
        )
        .bind(mention)
        .bind(minutes)
        .execute(&pool)
        .await
        .expect("moved");
    }
    let legal = common::default_named(&mut client, "Legal threat").await;
    let now = chrono::Utc::now();
    let drill = client
        .start_drill(earshot_proto::escalation::v1::StartDrillRequest {
            guideline_id: legal.guideline_id,
            scenario: Some(
                earshot_proto::escalation::v1::start_drill_request::Scenario::Recorded(
                    earshot_proto::escalation::v1::RecordedWindow {
                        from: Some(common::timestamp(now - chrono::Duration::hours(2))),
                        to: Some(common::timestamp(now)),
                    },
                ),
            ),
            time_limit_seconds: 0,
            request_id: "drill-1".into(),
        })
        .await
        .expect("started")
        .into_inner();
    assert_eq!(drill.scenario_size, 2);
    let waiting = || {
        let pool = pool.clone();
        let drill_id = drill.drill_id.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT mention_id FROM drill_steps WHERE drill_id = $1::uuid ORDER BY seq",
            )
            .bind(drill_id)
            .fetch_all(&pool)
            .await
            .expect("steps")
        }
    };
    eventually("the first step is replayed", || {
        let waiting = waiting();
        async move { (waiting.await == ["late"]).then_some(()) }
    })
    .await;

    h.deliver(vec![from(
        "case",
        "acme",
        event::Payload::CustomerErased(CustomerErased {
            erasure_id: "erasure-1".into(),
            customer_id: uuid::Uuid::now_v7().to_string(),
            identities: vec![],
            mention_ids: vec!["late".into()],
        }),
    )])
    .await;
    assert!(waiting().await.is_empty(), "the copy in the drill is gone");
    assert_eq!(mentions_of(&evaluations(&mut client).await), ["early"]);
    let answer = h
        .emitted()
        .await
        .into_iter()
        .find_map(|e| match e.event.payload {
            Some(event::Payload::ErasureCompleted(done)) => Some(done),
            _ => None,
        })
        .expect("answered");
    assert_eq!(
        answer.records_erased, 2,
        "the evaluation and the drill's copy"
    );
}

#[tokio::test]
async fn an_erased_mentions_escalation_and_incident_no_longer_quote_it() {
    use earshot_proto::common::v1::Urgency;
    use earshot_proto::escalation::v1::{GetIncidentRequest, ListEscalationsRequest};
    let h = Harness::start().await;
    let client = h.client("acme");
    // A negative mention by an influencer: the default media guideline
    // escalates it to PR and opens an incident quoting it.
    h.deliver(vec![
        Mention::new("acme", "m-1")
            .text("Jane here: my card was charged twice, I will sue")
            .urgency(Urgency::MediaAttention)
            .sentiment(-0.8)
            .followers(90_000)
            .event(),
    ])
    .await;
    let escalations = || {
        let mut c = client.clone();
        async move {
            c.list_escalations(ListEscalationsRequest::default())
                .await
                .expect("list")
                .into_inner()
                .escalations
        }
    };
    let raised = escalations().await;
    assert!(!raised.is_empty());
    assert!(raised.iter().all(|e| e.reason.contains("charged twice")));
    let incident_id = raised
        .iter()
        .map(|e| e.incident_id.clone())
        .find(|i| !i.is_empty())
        .expect("the media guideline opens an incident");
    let incident = |id: String| {
        let mut c = client.clone();
        async move {
            c.get_incident(GetIncidentRequest { incident_id: id })
                .await
                .expect("get")
                .into_inner()
        }
    };
    assert!(
        incident(incident_id.clone())
            .await
            .title
            .contains("charged twice")
    );

    h.deliver(vec![from(
        "case",
        "acme",
        event::Payload::CustomerErased(CustomerErased {
            erasure_id: uuid::Uuid::now_v7().to_string(),
            customer_id: uuid::Uuid::now_v7().to_string(),
            identities: vec![],
            mention_ids: vec!["m-1".into()],
        }),
    )])
    .await;
    let after = escalations().await;
    assert_eq!(after.len(), raised.len(), "the escalations stay");
    for e in &after {
        assert!(!e.reason.contains("charged"), "{}", e.reason);
        assert!(e.reason.ends_with("(erased)"), "{}", e.reason);
    }
    let incident = incident(incident_id).await;
    assert!(!incident.title.contains("charged"), "{}", incident.title);
    assert!(
        incident
            .timeline
            .iter()
            .all(|t| !t.detail.contains("charged")),
        "{:?}",
        incident.timeline
    );
}
