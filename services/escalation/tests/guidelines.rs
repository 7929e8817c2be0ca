//! Guidelines through the API: every tenant's defaults, idempotent creation,
//! immutable versions with optimistic concurrency, and the version in force
//! named by the escalations and evaluations it raised.

mod common;

use common::{
    Harness, Mention, actions, assert_code, create, disable_defaults, evaluation_of, guideline,
    list_guidelines, phrase, topic,
};
use earshot_proto::common::v1::Urgency;
use earshot_proto::escalation::v1::{self as pb, condition};
use tonic::Code;

#[tokio::test]
async fn a_new_tenant_starts_with_the_five_defaults() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let defaults = list_guidelines(&mut client).await;
    let names: Vec<&str> = defaults.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Legal threat",
            "Safety",
            "Media or influencer, negative",
            "Fast-lane SLA breach",
            "Negative spike"
        ]
    );
    for g in &defaults {
        assert!(g.built_in, "{g:?}");
        assert!(g.enabled, "{g:?}");
        assert_eq!(g.version, 1);
        assert_eq!(g.created_by, "system");
        let actions = g.actions.as_ref().expect("actions");
        assert!(actions.ack_within_seconds >= 60, "{g:?}");
    }
    let legal = &defaults[0];
    assert_eq!(legal.severity, pb::Severity::Sev2 as i32);
    assert_eq!(
        legal.actions.as_ref().expect("actions").team,
        pb::Team::Legal as i32
    );
    match legal.condition.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(condition::Kind::Urgency(u)) => {
            assert_eq!(u.any_of, vec![Urgency::LegalThreat as i32]);
        }
        other => panic!("legal threat looks for urgency, not {other:?}"),
    }
    // Listing again makes no second set.
    assert_eq!(list_guidelines(&mut client).await.len(), 5);
    // Another tenant gets its own.
    let other = list_guidelines(&mut h.client("globex")).await;
    assert_eq!(other.len(), 5);
    assert!(
        other
            .iter()
            .all(|g| defaults.iter().all(|d| d.guideline_id != g.guideline_id))
    );
}

#[tokio::test]
async fn a_retried_create_answers_the_first_guideline() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let request = pb::CreateGuidelineRequest {
        guideline: Some(guideline(
            "Chargebacks",
            phrase(&["chargeback"]),
            actions(pb::Team::Support),
        )),
        request_id: "create-1".into(),
    };
    let first = client
        .create_guideline(request.clone())
        .await
        .expect("created")
        .into_inner();
    assert_eq!(first.version, 1);
    assert!(!first.built_in);
    assert_eq!(first.created_by, "test-user");
    let again = client
        .create_guideline(request)
        .await
        .expect("retried")
        .into_inner();
    assert_eq!(again.guideline_id, first.guideline_id);
    assert_eq!(again.version, 1);
    let listed = list_guidelines(&mut client).await;
    assert_eq!(listed.len(), 6, "five defaults and one made once");
    assert_eq!(
        listed
            .iter()
            .filter(|g| g.guideline_id == first.guideline_id)
            .count(),
        1
    );
    // The same request id in another tenant is another guideline.
    let elsewhere = h
        .client("globex")
        .create_guideline(pb::CreateGuidelineRequest {
            guideline: Some(guideline(
                "Chargebacks",
                phrase(&["chargeback"]),
                actions(pb::Team::Support),
            )),
            request_id: "create-1".into(),
        })
        .await
        .expect("created")
        .into_inner();
    assert_ne!(elsewhere.guideline_id, first.guideline_id);
}

#[tokio::test]
async fn every_change_writes_a_version_and_old_versions_still_read() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let v1 = create(
        &mut client,
        guideline("Billing", topic(&["billing"]), actions(pb::Team::Support)),
    )
    .await;
    let id = v1.guideline_id.clone();
    let update = |expected_version: u32, name: &str, team: pb::Team| pb::UpdateGuidelineRequest {
        guideline_id: id.clone(),
        expected_version,
        guideline: Some(guideline(
            name,
            topic(&["billing", "refunds"]),
            actions(team),
        )),
    };
    let v2 = client
        .update_guideline(update(1, "Billing and refunds", pb::Team::ServiceLead))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!((v2.guideline_id.as_str(), v2.version), (id.as_str(), 2));
    assert_eq!(v2.name, "Billing and refunds");

    // A change made from version 1 again is refused: someone wrote 2 since.
    let stale = client
        .update_guideline(update(1, "Lost update", pb::Team::Legal))
        .await;
    assert_code(stale, Code::Aborted);
    // So is one from a version that never was.
    assert_code(
        client
            .update_guideline(update(7, "Future", pb::Team::Legal))
            .await,
        Code::Aborted,
    );

    let v3 = client
        .update_guideline(update(2, "Money", pb::Team::Executive))
        .await
        .expect("updated from 2")
        .into_inner();
    assert_eq!(v3.version, 3);

    let get = |version: u32| pb::GetGuidelineRequest {
        guideline_id: id.clone(),
        version,
    };
    let old = client.get_guideline(get(1)).await.expect("v1").into_inner();
    assert_eq!(old.version, 1);
    assert_eq!(old.name, "Billing");
    assert_eq!(old.condition, v1.condition);
    assert_eq!(
        old.actions.as_ref().expect("actions").team,
        pb::Team::Support as i32
    );
    let newest = client
        .get_guideline(get(0))
        .await
        .expect("newest")
        .into_inner();
    assert_eq!((newest.version, newest.name.as_str()), (3, "Money"));
    assert_code(client.get_guideline(get(4)).await, Code::NotFound);
    // The list shows the version in force.
    let listed = list_guidelines(&mut client).await;
    let mine = listed
        .iter()
        .find(|g| g.guideline_id == id)
        .expect("listed");
    assert_eq!(mine.version, 3);

    // Every version, newest first, two a page.
    let page = |page_token: String| pb::ListGuidelineVersionsRequest {
        guideline_id: id.clone(),
        page_size: 2,
        page_token,
    };
    let first = client
        .list_guideline_versions(page(String::new()))
        .await
        .expect("first page")
        .into_inner();
    let versions: Vec<(u32, &str)> = first
        .versions
        .iter()
        .map(|g| (g.version, g.name.as_str()))
        .collect();
    assert_eq!(versions, [(3, "Money"), (2, "Billing and refunds")]);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_guideline_versions(page(first.next_page_token))
        .await
        .expect("second page")
        .into_inner();
    let versions: Vec<(u32, &str)> = second
        .versions
        .iter()
        .map(|g| (g.version, g.name.as_str()))
        .collect();
    assert_eq!(versions, [(1, "Billing")]);
    assert!(second.next_page_token.is_empty());
}

#[tokio::test]
async fn escalations_and_evaluations_name_the_version_in_force() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    disable_defaults(&mut client).await;
    let g = create(
        &mut client,
        guideline("Billing", topic(&["billing"]), actions(pb::Team::Support)),
    )
    .await;
    let first = Mention::new("acme", "m-1").topic("billing").event();
    h.deliver(vec![first.clone()]).await;
    let v2 = client
        .update_guideline(pb::UpdateGuidelineRequest {
            guideline_id: g.guideline_id.clone(),
            expected_version: 1,
            guideline: Some(guideline(
                "Billing v2",
                topic(&["billing"]),
                actions(pb::Team::Pr),
            )),
        })
        .await
        .expect("updated")
        .into_inner();
    let second = Mention::new("acme", "m-2").topic("billing").event();
    h.deliver(vec![second.clone()]).await;

    let escalations = common::escalations(&mut client, false).await;
    let of = |mention: &str| {
        escalations
            .iter()
            .find(|e| e.trigger.as_ref().expect("trigger").mention_id == mention)
            .unwrap_or_else(|| panic!("an escalation of {mention}"))
    };
    let (a, b) = (of("m-1"), of("m-2"));
    assert_eq!((a.guideline_version, a.team), (1, pb::Team::Support as i32));
    assert_eq!(a.guideline_name, "Billing");
    assert_eq!((b.guideline_version, b.team), (2, pb::Team::Pr as i32));
    assert_eq!(b.guideline_name, "Billing v2");

    let label = |version: u32| format!("{}@{version}", g.guideline_id);
    let before = evaluation_of(&mut client, &first.event_id).await;
    assert!(before.guideline_versions.contains(&label(1)), "{before:?}");
    assert!(!before.guideline_versions.contains(&label(2)));
    let after = evaluation_of(&mut client, &second.event_id).await;
    assert!(
        after.guideline_versions.contains(&label(v2.version)),
        "{after:?}"
    );
    assert!(!after.guideline_versions.contains(&label(1)));
    // Disabled defaults are not in force, so not named.
    assert_eq!(after.guideline_versions, vec![label(2)]);
}

#[tokio::test]
async fn a_disabled_guideline_never_fires() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let legal = common::default_named(&mut client, "Legal threat").await;
    let threat = Mention::new("acme", "m-1").urgency(Urgency::LegalThreat);
    h.deliver(vec![threat.event()]).await;
    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].guideline_id, legal.guideline_id);

    disable_defaults(&mut client).await;
    let again = Mention::new("acme", "m-2")
        .urgency(Urgency::LegalThreat)
        .event();
    h.deliver(vec![again.clone()]).await;
    assert_eq!(common::escalations(&mut client, false).await.len(), 1);
    let evaluation = evaluation_of(&mut client, &again.event_id).await;
    assert_eq!(evaluation.outcome, "no_guideline_matched");
    assert!(evaluation.escalation_ids.is_empty());
}
