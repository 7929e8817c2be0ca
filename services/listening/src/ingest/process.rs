//! The listening pipeline for one mention: normalise, judge noise, classify
//! (sentiment, intent, urgency, topics, actionability), match the tenant's
//! rules. Pure CPU work over one tenant profile; buffers are reused across
//! the mentions of a batch.

use earshot_proto::common::v1::RuleMatch;
use earshot_proto::listening::v1::Entities;
use uuid::Uuid;

use crate::mention::{NewMention, NoiseKeys, ValidMention, rebuild_document};
use crate::pipeline::hear;
use crate::pipeline::noise::{Candidate, NoiseSettings, NoiseWindow};
use crate::pipeline::normalise::{UNDETERMINED, normalise};
use crate::query::{Document, MatchScratch, RuleRef};
use crate::tenant::profile::TenantProfile;

/// A mention's conversation: the thread key the source gave (adapters
/// namespace it by platform: `x:<conversation id>`, `email:<root message
/// id>`), or the mention itself, namespaced by source, when it starts one.
pub fn thread_key(source: &str, given: &str, external_id: &str) -> String {
    if given.is_empty() {
        format!("{source}:{external_id}")
    } else {
        given.to_owned()
    }
}

/// Judges a processed mention against the tenant's recent ones (in ingest
/// order; callers hold the window only for this).
pub fn judge_noise(window: &mut NoiseWindow, settings: &NoiseSettings, mention: &mut NewMention) {
    let keys = NoiseKeys::of(&mention.source, &mention.external_id, &mention.author);
    mention.dropped = window.judge(
        &Candidate {
            identity: &keys.identity,
            text: &mention.text,
            urls: &mention.entities.urls,
            handles: &mention.entities.handles,
            hashtags: &mention.entities.hashtags,
            author_key: &keys.author_key,
            author_handle: &keys.author_handle,
            is_share: mention.share,
            posted_at: mention.posted_at,
        },
        settings,
    );
}

pub struct Pipeline<'a> {
    profile: &'a TenantProfile,
    document: Document,
    scratch: MatchScratch,
    matched: Vec<RuleRef>,
}

impl<'a> Pipeline<'a> {
    pub fn new(profile: &'a TenantProfile) -> Self {
        Self {
            profile,
            document: Document::default(),
            scratch: MatchScratch::default(),
            matched: Vec::new(),
        }
    }

    /// Everything but the noise verdict, which needs the tenant's window:
    /// see [`judge_noise`].
    pub fn process(&mut self, m: ValidMention) -> NewMention {
        self.process_with(m, None)
    }

    /// [`Pipeline::process`], detecting the language (when the source gave
    /// none) on `language_text`, the author's new words, rather than on all
    /// of the text: an English reply must not be heard as French because its
    /// subject quotes a French message.
    pub fn process_with(&mut self, m: ValidMention, language_text: Option<&str>) -> NewMention {
        let mut normalised = normalise(&m.text, &m.language);
        let given = !normalised.language_detected && normalised.language != UNDETERMINED;
        if let Some(own) = language_text.filter(|_| !given) {
            let own = normalise(own, "");
            normalised.language = own.language;
            normalised.language_detected = own.language_detected;
        }
        let classification = hear(
            &normalised.text,
            m.author.followers,
            m.author.verified,
            self.profile.taxonomy(),
            self.profile.adapted(),
        );

        // A source's own language tag (with its region) wins over detection.
        let language = if m.language.is_empty() {
            normalised.language
        } else {
            m.language
        };
        rebuild_document(
            &mut self.document,
            &normalised.text,
            &language,
            &m.source,
            &m.author,
        );
        self.profile
            .rules
            .matches_with(&self.document, &mut self.scratch, &mut self.matched);
        let matched_rules = self
            .matched
            .iter()
            .map(|rule| RuleMatch {
                rule_id: rule.id.to_string(),
                name: self.profile.rule_name(rule).to_owned(),
                version: rule.version,
            })
            .collect();

        NewMention {
            id: Uuid::now_v7(),
            thread_key: thread_key(&m.source, &m.thread_key, &m.external_id),
            source: m.source,
            external_id: m.external_id,
            channel: m.channel,
            public: m.public,
            author: m.author,
            text: normalised.text,
            language,
            language_detected: normalised.language_detected,
            posted_at: m.posted_at,
            share: m.share,
            classification,
            entities: Entities {
                urls: normalised.urls,
                handles: normalised.handles,
                hashtags: normalised.hashtags,
                emoji: normalised.emoji,
            },
            matched_rules,
            dropped: None,
            raw: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_without_a_thread_starts_its_own() {
        assert_eq!(
            thread_key("x", "x:1460323737035677698", "1"),
            "x:1460323737035677698"
        );
        assert_eq!(thread_key("web", "", "form-17"), "web:form-17");
    }
}
