//! The matching input: one mention, normalised and tokenised once, then
//! matched against any number of rule sets.

use unicode_normalization::{IsNormalized, UnicodeNormalization};

use super::text::{self, Span};

/// Longest text (in bytes, after normalisation) that is matched; the rest of
/// a longer mention is ignored. Mentions are far shorter than this.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// What a mention carries besides its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentMeta<'a> {
    /// Language tag, e.g. `en` or `pt-BR` (case and `_`/`-` do not matter).
    pub lang: &'a str,
    /// Where it was heard, e.g. `twitter`.
    pub source: &'a str,
    /// The author's follower count.
    pub followers: u64,
    /// Whether the author is verified.
    pub verified: bool,
    /// Hashtags from the platform's metadata, with or without `#`. Hashtags
    /// written in the text are found without help.
    pub hashtags: &'a [&'a str],
    /// Handles the mention addresses (and, if the caller wants `@handle` to
    /// match the author too, the author's), with or without `@`. Handles
    /// written in the text are found without help.
    pub handles: &'a [&'a str],
}

/// A mention ready for matching: lowercase NFC text split into words (with
/// their positions, for phrases and NEAR), hashtags, handles and metadata.
///
/// Words, hashtags and handles are spans into two string buffers (the text
/// and the metadata), never strings of their own: building a document costs at most
/// five allocations whatever the text, and [`Document::rebuild`] reuses them.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The text as written (NFC), for case-sensitive terms.
    raw: String,
    text: String,
    tokens: Vec<Span>,
    /// Language, source, hashtags and handles, normalised, back to back.
    meta: String,
    lang: Span,
    source: Span,
    hashtags: Vec<Span>,
    handles: Vec<Span>,
    followers: u64,
    verified: bool,
}

impl Document {
    /// Builds the document of one mention.
    pub fn new(
        text: &str,
        lang: &str,
        source: &str,
        followers: u64,
        verified: bool,
        hashtags: &[&str],
        handles: &[&str],
    ) -> Self {
        Self::from_meta(
            text,
            &DocumentMeta {
                lang,
                source,
                followers,
                verified,
                hashtags,
                handles,
            },
        )
    }

    /// Builds the document of one mention.
    pub fn from_meta(text: &str, meta: &DocumentMeta<'_>) -> Self {
        let mut doc = Self::default();
        doc.rebuild(text, meta);
        doc
    }

    /// Makes this the document of another mention, reusing its buffers.
    pub fn rebuild(&mut self, text: &str, meta: &DocumentMeta<'_>) {
        self.raw.clear();
        let text = &text[..floor_char_boundary(text, MAX_TEXT_BYTES)];
        if text.is_ascii() || unicode_normalization::is_nfc_quick(text.chars()) == IsNormalized::Yes
        {
            self.raw.push_str(text);
        } else {
            self.raw.extend(text.nfc());
        }
        self.text.clear();
        text::normalize_into(text, &mut self.text);
        if self.text.len() > MAX_TEXT_BYTES {
            let cut = floor_char_boundary(&self.text, MAX_TEXT_BYTES);
            self.text.truncate(cut);
        }
        self.tokens.clear();
        text::tokenize(&self.text, &mut self.tokens);

        self.meta.clear();
        self.hashtags.clear();
        self.handles.clear();
        self.lang = push_meta(&mut self.meta, meta.lang);
        let (start, end) = self.lang;
        // `pt_BR` and `pt-br` are the same language.
        let lang = &self.meta[start as usize..end as usize];
        if lang.contains('_') {
            let fixed = lang.replace('_', "-");
            self.meta.truncate(start as usize);
            self.meta.push_str(&fixed);
        }
        self.source = push_meta(&mut self.meta, meta.source);
        for tag in meta.hashtags {
            let tag = tag.strip_prefix('#').unwrap_or(tag);
            let span = push_meta(&mut self.meta, tag);
            self.hashtags.push(span);
        }
        for handle in meta.handles {
            let handle = handle.strip_prefix('@').unwrap_or(handle);
            let span = push_meta(&mut self.meta, handle);
            self.handles.push(span);
        }
        let (meta_buf, hashtags, handles) = (&mut self.meta, &mut self.hashtags, &mut self.handles);
        text::scan_tags(&self.text, |is_handle, name| {
            let start = meta_buf.len();
            meta_buf.push_str(name);
            let span = (start as u32, meta_buf.len() as u32);
            if is_handle {
                handles.push(span);
            } else {
                hashtags.push(span);
            }
        });
        self.followers = meta.followers;
        self.verified = meta.verified;
    }

    /// True when folding accents changes nothing: text and metadata are ASCII.
    pub(crate) fn folds_to_itself(&self) -> bool {
        self.text.is_ascii() && self.meta.is_ascii()
    }

    /// Makes this the accent-folded copy of `doc`: same words in the same
    /// places, without their accents.
    pub(crate) fn fold_from(&mut self, doc: &Document) {
        self.raw.clear();
        self.raw.push_str(&doc.raw);
        self.text.clear();
        text::fold_accents_into(&doc.text, &mut self.text);
        self.tokens.clear();
        text::tokenize(&self.text, &mut self.tokens);
        self.meta.clear();
        let mut fold = |span: Span| {
            let start = self.meta.len();
            text::fold_accents_into(doc.meta_str(span), &mut self.meta);
            (start as u32, self.meta.len() as u32)
        };
        self.lang = fold(doc.lang);
        self.source = fold(doc.source);
        self.hashtags.clear();
        self.hashtags.extend(doc.hashtags.iter().map(|&s| fold(s)));
        self.handles.clear();
        self.handles.extend(doc.handles.iter().map(|&s| fold(s)));
        self.followers = doc.followers;
        self.verified = doc.verified;
    }

    /// True when `word` occurs in the text exactly as given (case and all),
    /// as a whole word.
    pub(crate) fn contains_exactly(&self, word: &[u8]) -> bool {
        let Ok(word) = std::str::from_utf8(word) else {
            return false;
        };
        self.raw.match_indices(word).any(|(at, _)| {
            let before = self.raw[..at].chars().next_back();
            let after = self.raw[at + word.len()..].chars().next();
            !before.is_some_and(text::is_word_char) && !after.is_some_and(text::is_word_char)
        })
    }

    /// The normalised text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when the text has no words.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The words, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.tokens
            .iter()
            .map(|&(a, b)| &self.text[a as usize..b as usize])
    }

    pub(crate) fn spans(&self) -> &[Span] {
        &self.tokens
    }

    /// Normalised language tag (`pt-br`), empty if unknown.
    pub fn lang(&self) -> &str {
        self.meta_str(self.lang)
    }

    /// Normalised source.
    pub fn source(&self) -> &str {
        self.meta_str(self.source)
    }

    /// Hashtags (metadata and text), normalised, without `#`.
    pub fn hashtags(&self) -> impl Iterator<Item = &str> + '_ {
        self.hashtags.iter().map(|&s| self.meta_str(s))
    }

    /// Handles (metadata and text), normalised, without `@`.
    pub fn handles(&self) -> impl Iterator<Item = &str> + '_ {
        self.handles.iter().map(|&s| self.meta_str(s))
    }

    pub fn followers(&self) -> u64 {
        self.followers
    }

    pub fn verified(&self) -> bool {
        self.verified
    }

    fn meta_str(&self, (a, b): Span) -> &str {
        &self.meta[a as usize..b as usize]
    }
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

fn push_meta(buf: &mut String, value: &str) -> Span {
    let start = buf.len();
    // Metadata is short; longer values are not meaningful to match on.
    let value = value.trim();
    text::normalize_into(value, buf);
    (start as u32, buf.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_words_tags_and_metadata() {
        let doc = Document::new(
            "Thanks @Acme_Help, my Café order never arrived #fail",
            "pt_BR",
            "Twitter",
            1200,
            true,
            &["#Delivery"],
            &["@AcmeCorp"],
        );
        assert_eq!(
            doc.words().collect::<Vec<_>>(),
            [
                "thanks", "acme", "help", "my", "café", "order", "never", "arrived", "fail"
            ]
        );
        assert_eq!(doc.lang(), "pt-br");
        assert_eq!(doc.source(), "twitter");
        assert_eq!(doc.hashtags().collect::<Vec<_>>(), ["delivery", "fail"]);
        assert_eq!(doc.handles().collect::<Vec<_>>(), ["acmecorp", "acme_help"]);
        assert_eq!(doc.followers(), 1200);
        assert!(doc.verified());
        assert_eq!(doc.len(), 9);
    }

    #[test]
    fn rebuild_replaces_everything() {
        let mut doc = Document::new("old #tag", "en", "x", 1, true, &[], &["@a"]);
        doc.rebuild(
            "New text",
            &DocumentMeta {
                lang: "fr",
                ..DocumentMeta::default()
            },
        );
        assert_eq!(doc.words().collect::<Vec<_>>(), ["new", "text"]);
        assert_eq!(doc.lang(), "fr");
        assert_eq!(doc.source(), "");
        assert_eq!(doc.hashtags().count(), 0);
        assert_eq!(doc.handles().count(), 0);
        assert!(!doc.verified());
    }
}
