//! Bounded work per request: a list longer than its documented maximum is
//! refused with one violation naming the list, before any item is read, so
//! an oversized request costs what a small one does (100,000 identities used
//! to hold a core for 19 s, 100,000 skills for 8 s).

mod common;

use common::{Harness, assert_invalid};
use earshot_proto::case::v1::{Agent, CreateCustomerRequest, Identity, PutAgentRequest};

#[tokio::test]
async fn oversized_lists_are_refused_whole_with_one_violation() {
    let harness = Harness::start().await;
    let mut client = harness.client("acme");

    // Some items are bad too: naming them would mean reading them all.
    let identities = (0..100_000)
        .map(|i| Identity {
            platform: if i % 1_000 == 999 { "" } else { "email" }.into(),
            value: format!("p{i}@example.com"),
        })
        .collect();
    assert_invalid(
        client
            .create_customer(CreateCustomerRequest {
                request_id: "many-identities".into(),
                display_name: "Many".into(),
                identities,
                ..Default::default()
            })
            .await,
        &["identities"],
    );

    let skills = (0..100_000)
        .map(|i| {
            if i % 1_000 == 999 {
                "Not A Key".to_owned()
            } else {
                format!("skill-{i}")
            }
        })
        .collect();
    assert_invalid(
        client
            .put_agent(PutAgentRequest {
                agent: Some(Agent {
                    agent_id: "ana".into(),
                    display_name: "Ana".into(),
                    capacity: 5,
                    skills,
                    ..Default::default()
                }),
            })
            .await,
        &["agent.skills"],
    );

    // At the maximum, repeats are folded, not refused.
    let repeated = vec![
        Identity {
            platform: "email".into(),
            value: "jane@example.com".into(),
        };
        50
    ];
    let customer = client
        .create_customer(CreateCustomerRequest {
            request_id: "repeats".into(),
            display_name: "Jane".into(),
            identities: repeated,
            ..Default::default()
        })
        .await
        .expect("fifty repeats of one identity are one identity")
        .into_inner();
    assert_eq!(customer.identities.len(), 1);
}
