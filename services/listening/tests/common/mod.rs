//! Helpers shared by the listening integration tests; each test crate
//! compiles this module and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use earshot_listening::ListeningService;
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{ListMentionsRequest, MentionInput};
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings, token};

/// A mention on X by `handle`, posted now.
pub fn mention(id: &str, handle: &str, text: &str) -> MentionInput {
    MentionInput {
        source: "x".into(),
        external_id: id.into(),
        channel: Channel::X as i32,
        public: true,
        author: Some(Author {
            external_id: format!("id-{handle}"),
            handle: handle.into(),
            followers: 120,
            ..Default::default()
        }),
        text: text.into(),
        language: "en".into(),
        posted_at: Some(std::time::SystemTime::now().into()),
        ..Default::default()
    }
}

/// Every stored mention of the caller's tenant (up to 500 kept and 500
/// dropped): its external id with its noise verdict, "" when kept.
pub async fn verdicts(
    client: &mut ListeningServiceClient<AuthedChannel>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for dropped_reason in ["", "*"] {
        let page = client
            .list_mentions(ListMentionsRequest {
                dropped_reason: dropped_reason.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("listed")
            .into_inner();
        out.extend(
            page.mentions
                .into_iter()
                .map(|m| (m.external_id, m.dropped_reason)),
        );
    }
    out
}

/// A listening server on a loopback port over a fresh database.
pub struct Harness {
    pub db: TestDatabase,
    pub service: TestService,
}

impl Harness {
    pub async fn start() -> Self {
        let db = TestDatabase::create().await;
        let service =
            TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
        Self { db, service }
    }

    /// A client calling as `tenant` with `scopes`.
    pub fn client(&self, tenant: &str, scopes: &[&str]) -> ListeningServiceClient<AuthedChannel> {
        ListeningServiceClient::new(self.service.authed(&token(tenant, scopes)))
    }
}
