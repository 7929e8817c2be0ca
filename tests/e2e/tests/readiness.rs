//! Health follows the database: NOT_SERVING while the service cannot reach
//! it, so that a load balancer routes around the replica, and SERVING again
//! when it can; liveness stays SERVING throughout, since restarting the
//! service would not bring the database back.

use earshot_listening::ListeningService;
use earshot_server::readiness::LIVENESS;
use earshot_testkit::{TestDatabase, TestService, eventually, reserve, settings};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const LISTENING: &str = "earshot.listening.v1.ListeningService";

async fn status(channel: &Channel, service: &str) -> Option<ServingStatus> {
    let answer = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(answer.into_inner().status).ok()
}

async fn wait_for(channel: &Channel, expected: ServingStatus) {
    eventually(&format!("health says {expected:?}"), || async move {
        let overall = status(channel, "").await?;
        let named = status(channel, LISTENING).await?;
        (overall == expected && named == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn health_is_not_serving_while_the_database_is_down_and_serving_once_it_is_back() {
    let mut db = TestDatabase::private().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let channel = listening.channel();
    wait_for(&channel, ServingStatus::Serving).await;
    assert_eq!(
        status(&channel, LIVENESS).await,
        Some(ServingStatus::Serving)
    );

    db.stop_server().await;
    wait_for(&channel, ServingStatus::NotServing).await;
    assert_eq!(
        status(&channel, LIVENESS).await,
        Some(ServingStatus::Serving),
        "alive, only not ready"
    );

    db.start_server().await;
    wait_for(&channel, ServingStatus::Serving).await;
}
