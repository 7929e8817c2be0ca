//! The four services wired together as in production, for end-to-end tests:
//! listening delivers to case, escalation and insight; case to escalation,
//! insight and listening; escalation to case and insight; insight to case
//! (its answers to erasures).

pub mod faults;
pub mod fuzz;
pub mod ingest;
pub mod raw;

use chrono::{Datelike, Utc};
use earshot_case::CaseService;
use earshot_escalation::EscalationService;
use earshot_insight::InsightService;
use earshot_listening::ListeningService;
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{Case, ListCasesRequest};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::escalation::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{Day, GetSummaryRequest, GetSummaryResponse};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{IngestMentionsRequest, IngestMentionsResponse, MentionInput};
use earshot_testkit::nats::TestNats;
use earshot_testkit::{
    AuthedChannel, TestDatabase, TestService, jetstream_settings, reserve, settings,
};

pub use earshot_testkit::{eventually, token};

/// Every scope a tenant's operator has.
pub use earshot_auth::TENANT_SCOPES as ALL;

pub struct Suite {
    pub db: TestDatabase,
    pub listening: TestService,
    pub case: TestService,
    pub escalation: TestService,
    pub insight: TestService,
    /// The NATS server events travel through, over JetStream.
    pub nats: Option<TestNats>,
}

/// How the suite's services send each other their events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Each producer pushes to its subscribers' `EventSink` (the default).
    Grpc,
    /// Each producer publishes to its JetStream stream; consumers pull.
    JetStream,
}

impl Suite {
    pub async fn start() -> Self {
        Self::start_over(Transport::Grpc).await
    }

    pub async fn start_over(transport: Transport) -> Self {
        let db = TestDatabase::create().await;
        let (l, c, e, i) = (
            reserve().await,
            reserve().await,
            reserve().await,
            reserve().await,
        );
        let (la, ca, ea, ia) = (
            l.local_addr().expect("bound"),
            c.local_addr().expect("bound"),
            e.local_addr().expect("bound"),
            i.local_addr().expect("bound"),
        );
        let nats = match transport {
            Transport::Grpc => None,
            Transport::JetStream => Some(TestNats::start().await),
        };
        // Over gRPC each producer names whom it delivers to; over JetStream
        // nobody does: consumers read the producers' streams.
        let settings = |subscribers: &[(&str, std::net::SocketAddr)]| match &nats {
            None => settings(&db, subscribers),
            Some(nats) => jetstream_settings(&db, nats),
        };
        let insight = TestService::start::<InsightService>(settings(&[("case", ca)]), i).await;
        let escalation =
            TestService::start::<EscalationService>(settings(&[("case", ca), ("insight", ia)]), e)
                .await;
        let case = TestService::start::<CaseService>(
            settings(&[("escalation", ea), ("insight", ia), ("listening", la)]),
            c,
        )
        .await;
        let listening = TestService::start::<ListeningService>(
            settings(&[("case", ca), ("escalation", ea), ("insight", ia)]),
            l,
        )
        .await;
        Self {
            db,
            listening,
            case,
            escalation,
            insight,
            nats,
        }
    }
}

/// Clients of the four services, all calling as one tenant.
pub struct Clients {
    pub listening: ListeningServiceClient<AuthedChannel>,
    pub case: CaseServiceClient<AuthedChannel>,
    pub escalation: EscalationServiceClient<AuthedChannel>,
    pub insight: InsightServiceClient<AuthedChannel>,
}

impl Clients {
    pub fn new(suite: &Suite, tenant: &str, scopes: &[&str]) -> Self {
        let token = token(tenant, scopes);
        Self {
            listening: ListeningServiceClient::new(suite.listening.authed(&token)),
            case: CaseServiceClient::new(suite.case.authed(&token)),
            escalation: EscalationServiceClient::new(suite.escalation.authed(&token)),
            insight: InsightServiceClient::new(suite.insight.authed(&token)),
        }
    }

    pub async fn ingest(&mut self, mentions: Vec<MentionInput>) -> IngestMentionsResponse {
        self.listening
            .ingest_mentions(IngestMentionsRequest { mentions })
            .await
            .expect("ingest succeeds")
            .into_inner()
    }

    pub async fn cases(&mut self) -> Vec<Case> {
        self.case
            .list_cases(ListCasesRequest::default())
            .await
            .expect("list cases")
            .into_inner()
            .cases
    }

    /// The tenant's first case, once there is one.
    pub async fn first_case(&self) -> Case {
        eventually("a case was opened", || {
            let mut case = self.case.clone();
            async move {
                let cases = case
                    .list_cases(ListCasesRequest::default())
                    .await
                    .ok()?
                    .into_inner()
                    .cases;
                cases.into_iter().next()
            }
        })
        .await
    }

    /// Today's mentions and cases as insight counts them.
    pub async fn today(&mut self) -> GetSummaryResponse {
        today(&mut self.insight).await
    }

    /// Waits until insight has counted exactly this many mentions and cases today.
    pub async fn wait_for_counts(&mut self, mentions: u64, cases: u64) {
        wait_for_counts(&self.insight, mentions, cases).await;
    }
}

/// Insight's counts, when the test runs insight alone.
pub struct InsightOnly(InsightServiceClient<AuthedChannel>);

impl InsightOnly {
    pub fn new(insight: &TestService, token: &str) -> Self {
        Self(InsightServiceClient::new(insight.authed(token)))
    }

    /// Waits until insight has counted exactly this many mentions and cases today.
    pub async fn wait_for_counts(&mut self, mentions: u64, cases: u64) {
        wait_for_counts(&self.0, mentions, cases).await;
    }
}

async fn wait_for_counts(insight: &InsightServiceClient<AuthedChannel>, mentions: u64, cases: u64) {
    eventually(
        &format!("insight counts {mentions} mentions and {cases} cases"),
        || {
            let mut insight = insight.clone();
            async move {
                let s = today(&mut insight).await;
                (s.mentions == mentions && s.cases_opened == cases).then_some(())
            }
        },
    )
    .await;
}

async fn today(insight: &mut InsightServiceClient<AuthedChannel>) -> GetSummaryResponse {
    let now = Utc::now().date_naive();
    let day = Day {
        year: now.year(),
        month: now.month(),
        day: now.day(),
    };
    insight
        .get_summary(GetSummaryRequest {
            from: Some(day),
            to: Some(day),
        })
        .await
        .expect("summary")
        .into_inner()
}

/// A tweet asking for help, as a source adapter would hand it over. Each
/// comes from its own customer about its own order, in a few words: the
/// same person repeating the same words is noise, and so are long texts
/// copied by many, and listening drops them.
pub fn cry_for_help(external_id: &str) -> MentionInput {
    MentionInput {
        source: "x".into(),
        external_id: external_id.into(),
        channel: Channel::X as i32,
        public: true,
        author: Some(Author {
            external_id: format!("2244994945-{external_id}"),
            handle: "jane_doe".into(),
            display_name: "Jane".into(),
            followers: 812,
            verified: false,
        }),
        text: format!("@acme order {external_id} hasn't arrived, can you help?"),
        language: "en".into(),
        thread_key: format!("x:{external_id}"),
        posted_at: Some(std::time::SystemTime::now().into()),
        share: false,
    }
}

/// A mention that needs no reply.
pub fn high_five(external_id: &str) -> MentionInput {
    MentionInput {
        text: "Thanks @acme, the new app is awesome".into(),
        ..cry_for_help(external_id)
    }
}

/// Runs a stock client's flow script (`program script args…`) with a token
/// of tenant "acme" and every scope in `EARSHOT_TOKEN`, and returns what it
/// printed; a script that fails fails the test with its output.
pub async fn run_client_script(program: &std::path::Path, script: &str, args: &[String]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let output = tokio::process::Command::new(program)
        .arg(&script)
        .args(args)
        .env("EARSHOT_TOKEN", token("acme", ALL))
        .output()
        .await
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed\nstdout: {stdout}\nstderr: {stderr}",
        script.display()
    );
    stdout
}
