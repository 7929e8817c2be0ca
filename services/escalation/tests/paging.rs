//! Every list pages by keyset: page after page of two holds exactly what
//! one large page holds, in the same order, rows made in one transaction
//! (same time) included.

mod common;

use std::future::Future;

use common::{Client, Harness, Mention, default_named};
use earshot_proto::common::v1::Urgency;
use earshot_proto::escalation::v1::{self as pb, start_drill_request::Scenario};

/// Every row of a list read two at a time, each page at most two long.
async fn two_at_a_time<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(u32, String) -> Fut,
    Fut: Future<Output = (Vec<T>, String)>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    for _ in 0..100 {
        let (rows, next) = page(2, token).await;
        assert!(rows.len() <= 2);
        all.extend(rows);
        if next.is_empty() {
            return all;
        }
        token = next;
    }
    panic!("a list of a few rows never ended");
}

async fn guidelines(client: &Client, size: u32, token: String) -> (Vec<String>, String) {
    let r = client
        .clone()
        .list_guidelines(pb::ListGuidelinesRequest {
            page_size: size,
            page_token: token,
        })
        .await
        .expect("page")
        .into_inner();
    (
        r.guidelines.into_iter().map(|g| g.guideline_id).collect(),
        r.next_page_token,
    )
}

async fn evaluations(client: &Client, size: u32, token: String) -> (Vec<String>, String) {
    let r = client
        .clone()
        .list_evaluations(pb::ListEvaluationsRequest {
            page_size: size,
            page_token: token,
        })
        .await
        .expect("page")
        .into_inner();
    (
        r.evaluations.into_iter().map(|e| e.evaluation_id).collect(),
        r.next_page_token,
    )
}

async fn escalations(client: &Client, size: u32, token: String) -> (Vec<String>, String) {
    let r = client
        .clone()
        .list_escalations(pb::ListEscalationsRequest {
            page_size: size,
            page_token: token,
            include_drills: true,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    (
        r.escalations.into_iter().map(|e| e.escalation_id).collect(),
        r.next_page_token,
    )
}

async fn incidents(client: &Client, size: u32, token: String) -> (Vec<String>, String) {
    let r = client
        .clone()
        .list_incidents(pb::ListIncidentsRequest {
            page_size: size,
            page_token: token,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    (
        r.incidents.into_iter().map(|i| i.incident_id).collect(),
        r.next_page_token,
    )
}

async fn drills(client: &Client, size: u32, token: String) -> (Vec<String>, String) {
    let r = client
        .clone()
        .list_drills(pb::ListDrillsRequest {
            page_size: size,
            page_token: token,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    (
        r.drills.into_iter().map(|d| d.drill_id).collect(),
        r.next_page_token,
    )
}

#[tokio::test]
async fn every_list_pages_through_all_its_rows_once() {
    let h = Harness::start().await;
    let client = h.client("acme");
    let mut c = client.clone();
    // Two more guidelines than the five defaults (which share a creation time).
    for name in ["Six", "Seven"] {
        common::create(
            &mut c,
            common::guideline(
                name,
                common::phrase(&[name]),
                common::actions(pb::Team::Support),
            ),
        )
        .await;
    }
    // Five mentions in one batch (one evaluation time), two more alone.
    h.deliver(
        (0..5)
            .map(|i| {
                Mention::new("acme", &format!("batch-{i}"))
                    .urgency(Urgency::LegalThreat)
                    .event()
            })
            .collect(),
    )
    .await;
    for i in 0..2 {
        h.deliver(vec![
            Mention::new("acme", &format!("alone-{i}"))
                .urgency(Urgency::Safety)
                .event(),
        ])
        .await;
    }
    for i in 0..5 {
        c.open_incident(pb::OpenIncidentRequest {
            title: format!("Incident {i}"),
            request_id: format!("open-{i}"),
            ..Default::default()
        })
        .await
        .expect("opened");
    }
    let legal = default_named(&mut c, "Legal threat").await;
    for i in 0..3 {
        c.start_drill(pb::StartDrillRequest {
            guideline_id: legal.guideline_id.clone(),
            scenario: Some(Scenario::Script(pb::DrillScript {
                mentions: vec![pb::ScriptedMention {
                    text: "court".into(),
                    ..Default::default()
                }],
            })),
            time_limit_seconds: 0,
            request_id: format!("drill-{i}"),
        })
        .await
        .expect("started");
    }

    let whole = guidelines(&client, 500, String::new()).await.0;
    assert_eq!(whole.len(), 7);
    assert_eq!(two_at_a_time(|s, t| guidelines(&client, s, t)).await, whole);
    let whole = evaluations(&client, 500, String::new()).await.0;
    assert_eq!(whole.len(), 7);
    assert_eq!(
        two_at_a_time(|s, t| evaluations(&client, s, t)).await,
        whole
    );
    let whole = escalations(&client, 500, String::new()).await.0;
    assert_eq!(whole.len(), 7);
    assert_eq!(
        two_at_a_time(|s, t| escalations(&client, s, t)).await,
        whole
    );
    let whole = incidents(&client, 500, String::new()).await.0;
    assert_eq!(whole.len(), 5);
    assert_eq!(two_at_a_time(|s, t| incidents(&client, s, t)).await, whole);
    let whole = drills(&client, 500, String::new()).await.0;
    assert_eq!(whole.len(), 3);
    assert_eq!(two_at_a_time(|s, t| drills(&client, s, t)).await, whole);
}
