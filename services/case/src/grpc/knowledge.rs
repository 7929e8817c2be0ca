//! Knowledge requests checked into what the domain takes, and articles as the
//! API shows them.

use earshot_proto::case::v1::{
    Article, CreateArticleRequest, GetArticleRequest, PublishArticleVersionRequest,
    SearchArticlesRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_server::convert::{Cursor, page_size, parse_id, timestamp};
use earshot_server::{FieldViolations, ServiceError, invalid};

use super::Check;
use crate::knowledge::store::ArticleRow;
use crate::knowledge::{ArticleRef, Content, NewArticle, NextVersion, Search};
use crate::vocabulary::{KEY_RULE, valid_key};

const MAX_TITLE_CHARS: usize = 200;
const MAX_BODY_CHARS: usize = 50_000;

/// A channel filter: `None` when unspecified; an unknown one is named `field`.
pub fn optional_channel(raw: i32, field: &str, v: &mut FieldViolations) -> Option<i16> {
    match Channel::try_from(raw) {
        Ok(Channel::Unspecified) => None,
        Ok(channel) => Some(channel as i16),
        Err(_) => {
            v.add(field, "must be a known channel");
            None
        }
    }
}

fn check_content(
    title: &str,
    body: &str,
    topics: &[String],
    channels: &[i32],
    v: &mut FieldViolations,
) -> Content {
    let title = title.trim();
    v.check(title.is_empty(), "title", "is required");
    v.check(
        title.chars().count() > MAX_TITLE_CHARS,
        "title",
        "must be at most 200 characters",
    );
    let body = body.trim();
    v.check(body.is_empty(), "body", "is required");
    v.check(
        body.chars().count() > MAX_BODY_CHARS,
        "body",
        "must be at most 50000 characters",
    );
    let mut keys = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        if valid_key(t) {
            keys.push(t.clone());
        } else {
            v.add(format!("topics[{i}]"), KEY_RULE);
        }
    }
    let mut chans = Vec::new();
    for (i, c) in channels.iter().enumerate() {
        match Channel::try_from(*c) {
            Ok(Channel::Unspecified) | Err(_) => {
                v.add(format!("channels[{i}]"), "must be a known channel");
            }
            Ok(c) => chans.push(c as i16),
        }
    }
    keys.sort();
    keys.dedup();
    chans.sort_unstable();
    chans.dedup();
    Content {
        title: title.to_owned(),
        body: body.to_owned(),
        topics: keys,
        channels: chans,
    }
}

impl Check for CreateArticleRequest {
    type Input = NewArticle;

    fn check(&self) -> Result<NewArticle, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id);
        let content = check_content(
            &self.title,
            &self.body,
            &self.topics,
            &self.channels,
            &mut v,
        );
        v.into_result()?;
        Ok(NewArticle {
            request_id: request_id.to_owned(),
            content,
        })
    }
}

impl Check for PublishArticleVersionRequest {
    type Input = NextVersion;

    fn check(&self) -> Result<NextVersion, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.article_id, "article_id");
        v.check(
            self.version < 1,
            "version",
            "must be the latest version, as read",
        );
        let content = check_content(
            &self.title,
            &self.body,
            &self.topics,
            &self.channels,
            &mut v,
        );
        v.into_result()?;
        let article_id = id.ok_or_else(|| invalid("article_id", "is required"))?;
        Ok(NextVersion {
            article_id,
            latest: i32::try_from(self.version).unwrap_or(i32::MAX),
            content,
        })
    }
}

impl Check for GetArticleRequest {
    type Input = ArticleRef;

    fn check(&self) -> Result<ArticleRef, ServiceError> {
        Ok(ArticleRef {
            article_id: parse_id(&self.article_id, "article_id")?,
            version: (self.version > 0).then(|| i32::try_from(self.version).unwrap_or(i32::MAX)),
        })
    }
}

impl Check for SearchArticlesRequest {
    type Input = Search;

    fn check(&self) -> Result<Search, ServiceError> {
        let mut v = FieldViolations::new();
        let text = self.text.trim();
        v.check(
            text.chars().count() > 500,
            "text",
            "must be at most 500 characters",
        );
        let topic = self.topic.trim();
        v.check(!topic.is_empty() && !valid_key(topic), "topic", KEY_RULE);
        let channel = optional_channel(self.channel, "channel", &mut v);
        v.into_result()?;
        Ok(Search {
            text: (!text.is_empty()).then(|| text.to_owned()),
            topic: (!topic.is_empty()).then(|| topic.to_owned()),
            channel,
            limit: page_size(self.page_size)?,
            after: Cursor::decode(&self.page_token)?,
        })
    }
}

pub fn article(row: ArticleRow) -> Article {
    Article {
        article_id: row.id.to_string(),
        version: u32::try_from(row.version).unwrap_or(0),
        latest_version: u32::try_from(row.latest_version).unwrap_or(0),
        title: row.title,
        body: row.body,
        topics: row.topics,
        channels: row.channels.into_iter().map(i32::from).collect(),
        published_by: row.published_by,
        published_at: Some(timestamp(row.published_at)),
    }
}
