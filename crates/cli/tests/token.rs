//! `earshot token --subject` names the caller: two agents minted apart are
//! told apart by the services (here, in the case audit trail).

use earshot_case::CaseService;
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{CreateCaseRequest, ListAuditEntriesRequest};
use earshot_proto::common::v1::Channel;
use earshot_testkit::{TEST_SECRET, TestDatabase, TestService, reserve, settings};

/// A token from the `earshot` binary, as a developer mints one.
fn minted(subject: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_earshot"))
        .args(["token", "--tenant", "acme", "--subject", subject])
        .env("EARSHOT_JWT_HS256_SECRET", TEST_SECRET)
        .output()
        .expect("earshot runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_token_names_the_agent_it_was_minted_for() {
    let db = TestDatabase::create().await;
    let service = TestService::start::<CaseService>(settings(&db, &[]), reserve().await).await;
    let mut actors = Vec::new();
    for agent in ["agent-ana", "agent-ben"] {
        let mut client = CaseServiceClient::new(service.authed(&minted(agent)));
        let case = client
            .create_case(CreateCaseRequest {
                request_id: format!("r-{agent}"),
                channel: Channel::Email as i32,
                subject: "Refund".into(),
                customer_handle: "jane@example.com".into(),
                ..Default::default()
            })
            .await
            .expect("case opened")
            .into_inner();
        let trail = client
            .list_audit_entries(ListAuditEntriesRequest {
                case_id: case.case_id,
                ..Default::default()
            })
            .await
            .expect("trail")
            .into_inner()
            .entries;
        actors.push(trail[0].actor.clone());
    }
    assert_eq!(actors, ["agent-ana", "agent-ben"]);
}
