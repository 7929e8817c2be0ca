//! The parsed form of a listening rule. All strings are normalised
//! (lowercase NFC), so they compare directly with a [`super::Document`].
//!
//! `Display` prints a canonical, fully parenthesised query that parses back
//! to the same expression.

use std::fmt;

use super::text;

/// A boolean listening query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A single word, matched as a whole word: `card`.
    Word(String),
    /// Words starting with a prefix: `deliver*`.
    Prefix(String),
    /// Consecutive words, ignoring punctuation between them:
    /// `"still waiting"`; any word may carry wildcards. Two or more words,
    /// or one word with `?` or an inner `*` (`colo*r`).
    Phrase(Vec<PhraseWord>),
    /// A word matched in exactly this case: `{BT}`. Kept as written (NFC).
    CaseSensitive(String),
    /// `#hashtag`, without the `#`.
    Hashtag(String),
    /// `@handle`, without the `@`.
    Handle(String),
    /// `lang:`, `source:`, `followers:`, `verified:`.
    Filter(Filter),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// Both sides occur with at most `distance` words between them, in
    /// either order, or with `ordered` the left one first (`NEAR/3f`).
    Near {
        left: Box<Expr>,
        right: Box<Expr>,
        distance: u32,
        ordered: bool,
    },
}

/// One word of a phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseWord {
    /// The word, or with `glob` a pattern where `?` is one character and
    /// `*` any number of them (`customi?e`, `colo*r`).
    pub text: String,
    /// Matches any word starting with `text`.
    pub prefix: bool,
    /// `text` is a pattern (never together with `prefix`).
    pub glob: bool,
}

impl PhraseWord {
    /// The literal start of the word: all of it, or a pattern's text before
    /// its first wildcard.
    pub fn literal(&self) -> &str {
        match self.text.find(['?', '*']) {
            Some(i) if self.glob => &self.text[..i],
            _ => &self.text,
        }
    }
}

/// A metadata filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `lang:en` matches `en` and any `en-…`; `lang:en-gb` only `en-gb`.
    Lang(String),
    /// `source:twitter`: the source, case-insensitively.
    Source(String),
    /// `followers:>1000`.
    Followers(Cmp, u64),
    /// `verified:true`.
    Verified(bool),
}

/// A comparison for `followers:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    pub fn holds(self, value: u64, bound: u64) -> bool {
        match self {
            Cmp::Lt => value < bound,
            Cmp::Le => value <= bound,
            Cmp::Eq => value == bound,
            Cmp::Ge => value >= bound,
            Cmp::Gt => value > bound,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "=",
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
        }
    }
}

impl Expr {
    /// True for expressions that have positions in the text, i.e. that may
    /// be an operand of NEAR.
    pub fn is_positional(&self) -> bool {
        match self {
            Expr::Word(_) | Expr::Prefix(_) | Expr::Phrase(_) | Expr::Near { .. } => true,
            Expr::Or(children) => children.iter().all(Expr::is_positional),
            _ => false,
        }
    }

    /// True when the expression needs something to be present (a word, a
    /// tag, a handle): `NOT juice` and `lang:en NOT juice` do not, so as a
    /// rule they would match nearly every mention.
    pub fn looks_for_something(&self) -> bool {
        match self {
            Expr::Filter(_) | Expr::Not(_) => false,
            Expr::And(children) => children.iter().any(Expr::looks_for_something),
            Expr::Or(children) => children.iter().all(Expr::looks_for_something),
            _ => true,
        }
    }

    /// The same expression with accents folded out of its words, tags and
    /// handles (see [`super::RuleOptions::fold_accents`]); case-sensitive
    /// terms stay as written.
    pub fn accents_folded(&self) -> Expr {
        let fold = |s: &str| text::fold_accents(s);
        match self {
            Expr::Word(w) => Expr::Word(fold(w)),
            Expr::Prefix(p) => Expr::Prefix(fold(p)),
            Expr::Phrase(words) => Expr::Phrase(
                words
                    .iter()
                    .map(|w| PhraseWord {
                        text: fold(&w.text),
                        ..w.clone()
                    })
                    .collect(),
            ),
            Expr::CaseSensitive(_) | Expr::Filter(_) => self.clone(),
            Expr::Hashtag(t) => Expr::Hashtag(fold(t)),
            Expr::Handle(h) => Expr::Handle(fold(h)),
            Expr::Not(inner) => Expr::Not(Box::new(inner.accents_folded())),
            Expr::And(children) => Expr::And(children.iter().map(Expr::accents_folded).collect()),
            Expr::Or(children) => Expr::Or(children.iter().map(Expr::accents_folded).collect()),
            Expr::Near {
                left,
                right,
                distance,
                ordered,
            } => Expr::Near {
                left: Box::new(left.accents_folded()),
                right: Box::new(right.accents_folded()),
                distance: *distance,
                ordered: *ordered,
            },
        }
    }

    /// True when a `NOT` occurs anywhere.
    pub fn has_not(&self) -> bool {
        match self {
            Expr::Not(_) => true,
            Expr::And(children) | Expr::Or(children) => children.iter().any(Expr::has_not),
            _ => false,
        }
    }
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '“' | '”'))
}

impl fmt::Display for PhraseWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.prefix {
            f.write_str("*")?;
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Lang(lang) => write!(f, "lang:{lang}"),
            Filter::Source(source) if needs_quotes(source) => write!(f, "source:\"{source}\""),
            Filter::Source(source) => write!(f, "source:{source}"),
            Filter::Followers(cmp, n) => write!(f, "followers:{}{n}", cmp.as_str()),
            Filter::Verified(v) => write!(f, "verified:{v}"),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, children: &[Expr], op: &str| {
            f.write_str("(")?;
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{child}")?;
            }
            f.write_str(")")
        };
        match self {
            Expr::Word(w) => f.write_str(w),
            Expr::Prefix(p) => write!(f, "{p}*"),
            // A lone pattern word needs no quotes: `colo*r`.
            Expr::Phrase(words) if words.len() == 1 => write!(f, "{}", words[0]),
            Expr::Phrase(words) => {
                f.write_str("\"")?;
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{w}")?;
                }
                f.write_str("\"")
            }
            Expr::CaseSensitive(w) => write!(f, "{{{w}}}"),
            Expr::Hashtag(t) => write!(f, "#{t}"),
            Expr::Handle(h) => write!(f, "@{h}"),
            Expr::Filter(filter) => write!(f, "{filter}"),
            Expr::Not(inner) => write!(f, "NOT {inner}"),
            Expr::And(children) => join(f, children, "AND"),
            Expr::Or(children) => join(f, children, "OR"),
            Expr::Near {
                left,
                right,
                distance,
                ordered,
            } => {
                let order = if *ordered { "f" } else { "" };
                write!(f, "({left} NEAR/{distance}{order} {right})")
            }
        }
    }
}
