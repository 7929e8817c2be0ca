//! The query language of listening rules: boolean, like the ones of
//! Brandwatch, Sprinklr or Talkwalker, compiled into a [`RuleSet`] that
//! matches each mention ([`Document`]) against all of a tenant's rules at
//! once. Pure library: no database, no gRPC.
//!
//! # Language
//!
//! ```text
//! (refund* OR "charged twice" OR #fail) AND NOT test lang:en followers:>=1k
//! "card" NEAR/3 (stolen OR lost) AND @acme_bank AND verified:false
//! ```
//!
//! | construct | example | matches |
//! |---|---|---|
//! | word | `card` | the whole word, any case (`Card`, `CARD`, `#card`, `@card`), not `cards` |
//! | phrase | `"still waiting"` | consecutive words; punctuation between them is ignored (`still... waiting`) |
//! | wildcard | `deliver*` | words starting with `deliver` (also inside phrases: `"deliver* late"`) |
//! | pattern | `customi?e`, `colo*r` | `?` one character, `*` any number (none included) inside a word: customise, customize; color, colour |
//! | case-sensitive | `{BT}` | the word exactly as written: `BT`, not `bt` or `Bt` |
//! | hashtag | `#fail` | the hashtag, from metadata or the text |
//! | handle | `@acme` | a mentioned handle, from metadata or the text |
//! | language | `lang:en`, `language:en` | `en`, `en-GB`, …; `lang:pt-br` only `pt-BR` (`_` = `-`) |
//! | source | `source:twitter`, `source:"app store"` | the source, any case |
//! | followers | `followers:>1000` (`>=`, `<`, `<=`, `=`, none = `=`; `10k`, `1.5m`), `authorFollowers:[1000 TO 5000]` (`*` open), `followers_count:500` (at least), `followers_count:1000..5000` | the author's followers |
//! | verified | `verified:true`, `verified:false`, `authorVerified:true`, `is:verified` | the author's verified flag |
//! | NOT | `NOT spam`, `a AND NOT b`, `a NOT b` | negation |
//! | NEAR | `card NEAR/3 stolen` | both within 3 words of each other (3 words or fewer between them), either order; `NEAR/0` = adjacent |
//! | ordered NEAR | `card NEAR/3f stolen`, `card ONEAR/3 stolen` | the same, `card` first |
//! | proximity phrase | `"apple juice"~5` | `apple NEAR/5 juice`; more words chain: `"a b c"~2` is `(a NEAR/2 b) NEAR/2 c` |
//! | AND | `a AND b`, `a b` | both; **adjacent terms are ANDed** |
//! | OR | `a OR b` | either |
//! | grouping | `(a OR b) AND c` | |
//!
//! Precedence, tightest first: `NOT`, `NEAR/n`, `AND` (explicit or
//! implicit), `OR`. So `a OR b c` is `a OR (b AND c)`, `NOT a b` is
//! `(NOT a) AND b`, `a b NEAR/2 c` is `a AND (b NEAR/2 c)`. NEAR is
//! left-associative and joins words, phrases, wildcards, OR-groups of them
//! and other NEARs (`(refund OR money) NEAR/4 back`), never NOT, AND,
//! hashtags, handles or filters.
//!
//! Grammar:
//!
//! ```text
//! query   := or END
//! or      := and ("OR" and)*
//! and     := near (["AND"] near)*
//! near    := unary (("NEAR/" | "ONEAR/") digits ["f"] unary)*
//! unary   := "NOT" unary | primary
//! primary := "(" or ")" | PHRASE ["~" digits] | "{" WORD "}" | TERM | FILTER
//! ```
//!
//! Lexical rules:
//! * Operators are upper case (`AND OR NOT NEAR/n`); `and`, `or`, `near`
//!   in lower case are ordinary words.
//! * A term runs until white space, `(`, `)` or a quote. Phrases are in
//!   straight or curly double quotes. There is no escaping.
//! * Case, Unicode composition (NFC) and punctuation do not matter: both the
//!   query and the mention are lowercased, NFC-normalised and split into
//!   words the same way, so `can't` is the phrase `"can t"`,
//!   `wi-fi` the phrase `"wi fi"`, and `Café` matches `CAFE\u{301}`.
//!   (Lowercasing is not full case folding: `straße` does not match
//!   `STRASSE`.) Han, kana and emoji characters are one word each.
//! * A wildcard follows at least one letter or digit of its word
//!   (`deliver*`, `colo*r`, `customi?e`, not `*ing`); a `?` ends no question
//!   (`why?` is a warning: it needs one more character). Hashtags and handles
//!   have no wildcards; case-sensitive terms are one word without them.
//! * `name:value` is a filter; other tools' names are aliases where they
//!   mean the same (`language:`, `authorFollowers:`, `followers_count:`,
//!   `authorVerified:`, `is:verified`) and errors naming the Earshot way
//!   where they do not (`site:`, `country:`, `from:`, `has:`); unknown
//!   names (`http:`) are errors, quote the term to search for it as text.
//!   `-word`/`+word`, fuzzy `word~` and boosts `word^2` are errors.
//! * `<<<comments>>>` (Brandwatch's) are ignored; `$AAPL` is the word `aapl`,
//!   with a warning.
//! * A hyphenated term is a phrase (`anti-aging` is `"anti aging"`) with a
//!   warning, since some tools also match `antiaging`; OR and AND (or terms
//!   side by side) mixed without parentheses parse by the precedence above,
//!   with a warning showing the grouping.
//! * [`parse_rule`], for rules being written, also refuses a rule that only
//!   excludes (`NOT juice`, `lang:en NOT juice`): it would match nearly
//!   every mention.
//! * Accent folding is an option of the rule ([`RuleOptions`]), off by
//!   default as on X: with it `nino` matches "Niño" and `niño` "Nino".
//! * At most [`MAX_DEPTH`] levels of parentheses, NOT and chained NEAR;
//!   NEAR distances up to [`MAX_NEAR`].
//!
//! Errors are [`ParseError`]s carrying the byte offset, the column and what
//! was expected, e.g.
//! `at 14 (column 15): expected a term or "(" after AND, found end of query`.
//!
//! # Matching
//!
//! Compile all of a tenant's rules into one immutable [`RuleSet`] (share it
//! behind an `Arc`, recompile when a rule changes), build one [`Document`]
//! per mention, and match it against the set; hot loops keep a
//! [`MatchScratch`] per thread and reuse documents with
//! [`Document::rebuild`].
//!
//! ```
//! use earshot_listening::query::{Document, Rule, RuleOptions, RuleSet};
//! use uuid::Uuid;
//!
//! let rules = RuleSet::compile([
//!     Rule { id: Uuid::from_u128(1), version: 3, query: "card NEAR/3 (stolen OR lost)".into(), options: RuleOptions::default() },
//!     Rule { id: Uuid::from_u128(2), version: 1, query: "#fail OR \"still waiting\"".into(), options: RuleOptions::default() },
//! ])?;
//! let doc = Document::new("My CARD was stolen!", "en", "twitter", 120, false, &[], &[]);
//! let matched = rules.matches(&doc);
//! assert_eq!(matched.len(), 1);
//! assert_eq!((matched[0].id, matched[0].version), (Uuid::from_u128(1), 3));
//! # Ok::<(), earshot_listening::query::RuleError>(())
//! ```

mod ast;
mod compile;
mod document;
mod explain;
mod parser;
mod text;

pub use ast::{Cmp, Expr, Filter, PhraseWord};
pub use compile::{MatchScratch, Rule, RuleError, RuleOptions, RuleRef, RuleSet, RuleSetStats};
pub use document::{Document, DocumentMeta, MAX_TEXT_BYTES};
pub use explain::{Node, explain};
pub use parser::{
    MAX_DEPTH, MAX_NEAR, ParseError, ParseErrorKind, Parsed, QueryWarning, parse, parse_rule,
    parse_with_warnings,
};

#[cfg(test)]
mod tests;
