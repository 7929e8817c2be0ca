//! A cry for help heard by listening becomes a case with a customer, a clock
//! and a reply; the customer's answer in the same thread joins the case. The
//! four services run together against real Postgres.

use earshot_e2e::{ALL, Clients, Suite, cry_for_help, eventually};
use earshot_proto::case::v1::{
    CaseStatus, FindCustomerRequest, GetCaseRequest, Identity, Lane, ListCaseMessagesRequest,
    MessageDirection, PutSlaPolicyRequest, SendReplyRequest, SlaPolicy, SlaState, SlaTarget,
};

#[tokio::test]
async fn a_cry_for_help_becomes_a_case_answered_and_threaded_end_to_end() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    acme.case
        .put_sla_policy(PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                priority: "normal".into(),
                lane: Lane::Standard as i32,
                first_response_seconds: 3600,
                next_response_seconds: 1800,
                resolution_seconds: 86_400,
                version: 0,
                business_hours: false,
            }),
        })
        .await
        .expect("policy");

    let first = cry_for_help("9001");
    let author = first.author.clone().expect("author");
    acme.ingest(vec![first.clone()]).await;
    let case = acme.first_case().await;
    assert_eq!(case.status, CaseStatus::New as i32);
    let customer = acme
        .case
        .find_customer(FindCustomerRequest {
            identity: Some(Identity {
                platform: "x".into(),
                value: author.external_id.clone(),
            }),
        })
        .await
        .expect("the author became a customer")
        .into_inner();
    assert_eq!(case.customer_id, customer.customer_id);
    assert!(case.slas.iter().any(
        |t| t.target == SlaTarget::FirstResponse as i32 && t.state == SlaState::Running as i32
    ));

    let answered = acme
        .case
        .send_reply(SendReplyRequest {
            request_id: "reply-1".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: format!(
                "Hi {}, your card was posted on Monday by tracked mail; if it is not with you by Friday we will courier a new one.",
                author.display_name
            ),
            public: true,
            ..Default::default()
        })
        .await
        .expect("reply")
        .into_inner()
        .case
        .expect("case");
    assert_eq!(answered.status, CaseStatus::Open as i32);

    // The customer answers in the same conversation.
    let mut follow_up = cry_for_help("9002");
    follow_up.thread_key = first.thread_key.clone();
    follow_up.author = Some(author);
    follow_up.text = "thanks, still nothing in the post today though".into();
    acme.ingest(vec![follow_up]).await;
    let joined = eventually("the answer joined the case", || {
        let mut client = acme.case.clone();
        let id = case.case_id.clone();
        async move {
            let messages = client
                .list_case_messages(ListCaseMessagesRequest {
                    case_id: id,
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner()
                .messages;
            (messages.len() == 3).then_some(messages)
        }
    })
    .await;
    let directions: Vec<i32> = joined.iter().map(|m| m.direction).collect();
    assert_eq!(
        directions,
        [
            MessageDirection::Inbound as i32,
            MessageDirection::Outbound as i32,
            MessageDirection::Inbound as i32
        ]
    );
    let now = acme
        .case
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(
        now.slas
            .iter()
            .any(|t| t.target == SlaTarget::NextResponse as i32
                && t.state == SlaState::Running as i32)
    );
    assert_eq!(acme.cases().await.len(), 1, "one case for the conversation");
}
