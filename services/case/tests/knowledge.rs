//! The knowledge base and replies citing it, against a real case service and
//! Postgres.

mod common;

use common::{Harness, assert_code, assert_invalid};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    Article, CreateArticleRequest, CreateCaseRequest, GetArticleRequest,
    PublishArticleVersionRequest, SearchArticlesRequest, SendReplyRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::event;
use earshot_testkit::AuthedChannel;
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

async fn create(
    client: &mut Client,
    request_id: &str,
    title: &str,
    topics: &[&str],
    channels: &[Channel],
) -> Article {
    client
        .create_article(CreateArticleRequest {
            request_id: request_id.into(),
            title: title.into(),
            body: format!("{title}: what to do, step by step."),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            channels: channels.iter().map(|c| *c as i32).collect(),
        })
        .await
        .expect("article created")
        .into_inner()
}

async fn search(client: &mut Client, request: SearchArticlesRequest) -> Vec<String> {
    client
        .search_articles(request)
        .await
        .expect("search")
        .into_inner()
        .articles
        .into_iter()
        .map(|a| a.title)
        .collect()
}

#[tokio::test]
async fn articles_keep_every_version_and_are_found_by_topic_channel_and_text() {
    let mut h = Harness::start().await;
    let mut acme = h.client("acme");
    let card = create(&mut acme, "a1", "Card not arrived", &["card_delivery"], &[]).await;
    let again = create(&mut acme, "a1", "Card not arrived", &["card_delivery"], &[]).await;
    assert_eq!(
        (card.article_id.as_str(), card.version),
        (again.article_id.as_str(), 1)
    );
    create(
        &mut acme,
        "a2",
        "Refund a double charge",
        &["fees"],
        &[Channel::Email],
    )
    .await;
    create(
        &mut acme,
        "a3",
        "Top up failed",
        &["top_up"],
        &[Channel::X, Channel::Chat],
    )
    .await;

    let v2 = acme
        .publish_article_version(PublishArticleVersionRequest {
            article_id: card.article_id.clone(),
            version: 1,
            title: "Card not arrived".into(),
            body: "Cards arrive within 5 working days; after 7 we send a new one by courier."
                .into(),
            topics: vec!["card_delivery".into()],
            channels: vec![],
        })
        .await
        .expect("published")
        .into_inner();
    assert_eq!((v2.version, v2.latest_version), (2, 2));
    assert_code(
        acme.publish_article_version(PublishArticleVersionRequest {
            article_id: card.article_id.clone(),
            version: 1,
            title: "stale".into(),
            body: "stale".into(),
            ..Default::default()
        })
        .await,
        Code::Aborted,
    );
    h.service.restart().await;
    let first = acme
        .get_article(GetArticleRequest {
            article_id: card.article_id.clone(),
            version: 1,
        })
        .await
        .expect("version 1")
        .into_inner();
    assert_eq!((first.version, first.latest_version), (1, 2));
    assert!(first.body.contains("step by step"));
    let latest = acme
        .get_article(GetArticleRequest {
            article_id: card.article_id.clone(),
            version: 0,
        })
        .await
        .expect("latest")
        .into_inner();
    assert!(latest.body.contains("courier"));
    assert_code(
        acme.get_article(GetArticleRequest {
            article_id: card.article_id.clone(),
            version: 3,
        })
        .await,
        Code::NotFound,
    );
    // Published versions never change, even by hand.
    let pool = h.db.pool("cases").await;
    let tampered = sqlx::query("UPDATE kb_article_versions SET body = 'x'")
        .execute(&pool)
        .await;
    assert!(tampered.is_err(), "versions are immutable");

    let all = SearchArticlesRequest::default();
    assert_eq!(
        search(&mut acme, all).await,
        [
            "Card not arrived",
            "Refund a double charge",
            "Top up failed"
        ]
    );
    let by_text = SearchArticlesRequest {
        text: "courier".into(),
        ..Default::default()
    };
    assert_eq!(search(&mut acme, by_text).await, ["Card not arrived"]);
    let old_words = SearchArticlesRequest {
        text: "step by step".into(),
        topic: "card_delivery".into(),
        ..Default::default()
    };
    assert!(
        search(&mut acme, old_words).await.is_empty(),
        "only latest versions are searched"
    );
    let by_topic = SearchArticlesRequest {
        topic: "fees".into(),
        ..Default::default()
    };
    assert_eq!(
        search(&mut acme, by_topic).await,
        ["Refund a double charge"]
    );
    let on_x = SearchArticlesRequest {
        channel: Channel::X as i32,
        ..Default::default()
    };
    assert_eq!(
        search(&mut acme, on_x).await,
        ["Card not arrived", "Top up failed"],
        "articles for every channel, and those for X"
    );
    let page = acme
        .search_articles(SearchArticlesRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let rest = search(
        &mut acme,
        SearchArticlesRequest {
            page_size: 2,
            page_token: page.next_page_token,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(rest, ["Top up failed"]);

    // Another tenant sees none of it.
    let mut globex = h.client("globex");
    assert!(
        search(&mut globex, SearchArticlesRequest::default())
            .await
            .is_empty()
    );
    assert_code(
        globex
            .get_article(GetArticleRequest {
                article_id: card.article_id.clone(),
                version: 0,
            })
            .await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn a_reply_cites_an_exact_article_version() {
    let h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    let article = create(&mut acme, "a1", "Card not arrived", &["card_delivery"], &[]).await;
    let theirs = create(&mut globex, "g1", "Their article", &[], &[]).await;
    let case = acme
        .create_case(CreateCaseRequest {
            request_id: "c1".into(),
            channel: Channel::Email as i32,
            subject: "Card".into(),
            customer_handle: "jane@example.com".into(),
            ..Default::default()
        })
        .await
        .expect("case")
        .into_inner();
    let cite = |article_id: &str, version: u32, request_id: &str| SendReplyRequest {
        request_id: request_id.into(),
        case_id: case.case_id.clone(),
        version: case.version,
        body: "Jane, your card left on Monday; if it is not there by Friday I will send a new one."
            .into(),
        public: false,
        kb_article_id: article_id.into(),
        kb_article_version: version,
    };
    assert_code(
        acme.send_reply(cite(&article.article_id, 2, "r0")).await,
        Code::NotFound,
    );
    assert_code(
        acme.send_reply(cite(&theirs.article_id, 1, "r0")).await,
        Code::NotFound,
    );
    assert_invalid(
        acme.send_reply(cite(&article.article_id, 0, "r0")).await,
        &["kb_article_version"],
    );
    let sent = acme
        .send_reply(cite(&article.article_id, 1, "r1"))
        .await
        .expect("sent")
        .into_inner()
        .reply
        .expect("reply");
    assert_eq!(
        (sent.kb_article_id.as_str(), sent.kb_article_version),
        (article.article_id.as_str(), 1)
    );
    let posted: Vec<_> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::ReplySent(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        (
            posted[0].kb_article_id.as_str(),
            posted[0].kb_article_version
        ),
        (article.article_id.as_str(), 1)
    );
}

#[tokio::test]
async fn bad_input_on_every_knowledge_call_names_the_field() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    assert_invalid(
        acme.create_article(CreateArticleRequest {
            request_id: String::new(),
            title: " ".into(),
            body: String::new(),
            topics: vec!["Bad Topic".into()],
            channels: vec![0],
        })
        .await,
        &["request_id", "title", "body", "topics[0]", "channels[0]"],
    );
    assert_invalid(
        acme.publish_article_version(PublishArticleVersionRequest {
            article_id: "x".into(),
            version: 0,
            title: "t".into(),
            body: "b".into(),
            ..Default::default()
        })
        .await,
        &["article_id", "version"],
    );
    assert_invalid(
        acme.get_article(GetArticleRequest {
            article_id: String::new(),
            version: 0,
        })
        .await,
        &["article_id"],
    );
    assert_invalid(
        acme.search_articles(SearchArticlesRequest {
            topic: "?".into(),
            channel: 99,
            ..Default::default()
        })
        .await,
        &["topic", "channel"],
    );
    assert_code(
        acme.publish_article_version(PublishArticleVersionRequest {
            article_id: uuid::Uuid::now_v7().to_string(),
            version: 1,
            title: "t".into(),
            body: "b".into(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
    );
}
