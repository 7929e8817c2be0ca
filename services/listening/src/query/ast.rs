//! The parsed form of a listening rule. All strings are normalised
//! (lowercase NFC), so they compare directly with a [`super::Document`].
//!
//! `Display` prints a canonical, fully parenthesised query that parses back
//! to the same expression.

use std::fmt;

/// A boolean listening query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A single word, matched as a whole word: `card`.
    Word(String),
    /// Words starting with a prefix: `deliver*`.
    Prefix(String),
    /// Two or more consecutive words, ignoring punctuation between them:
    /// `"still waiting"`. Any word may end in a wildcard.
    Phrase(Vec<PhraseWord>),
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
    /// either order.
    Near {
        left: Box<Expr>,
        right: Box<Expr>,
        distance: u32,
    },
}

/// One word of a phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseWord {
    pub text: String,
    /// Matches any word starting with `text`.
    pub prefix: bool,
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
            } => write!(f, "({left} NEAR/{distance} {right})"),
        }
    }
}
