//! Lexer and recursive-descent parser for the rule language (grammar in
//! the module docs of [`super`]).

use super::ast::{Cmp, Expr, Filter, PhraseWord};
use super::text;

/// Deepest nesting of parentheses, NOT and chained NEAR a query may have.
pub const MAX_DEPTH: usize = 64;

/// Largest NEAR distance, in words.
pub const MAX_NEAR: u32 = 1_000;

/// Why a query does not parse, and where.
///
/// The message is self-contained, e.g.
/// `at 14 (column 15): expected a term or "(" after AND, found end of query`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {offset} (column {column}): {kind}")]
pub struct ParseError {
    /// Byte offset into the query.
    pub offset: usize,
    /// 1-based character position in the query (the column, for a query on
    /// one line; a line break counts as one character).
    pub column: usize,
    pub kind: ParseErrorKind,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    #[error("unexpected \")\" with no matching \"(\"")]
    UnmatchedClose,
    #[error("unterminated phrase, expected a closing \"")]
    UnterminatedPhrase,
    #[error("empty phrase, expected at least one word between the quotes")]
    EmptyPhrase,
    #[error("{0} has no letters or digits to match")]
    NoWords(String),
    #[error("a wildcard * can only end a word, like deliver*")]
    MisplacedWildcard,
    #[error("wildcards are not supported in {0}")]
    WildcardNotAllowed(&'static str),
    #[error("\"{0}\" is not an operator, use NOT to exclude a term")]
    SignOperator(char),
    #[error(
        "unknown filter \"{0}:\", expected lang:, source:, followers: or verified: \
         (put the term in quotes to search for it as text)"
    )]
    UnknownFilter(String),
    #[error("NEAR only joins words, phrases and wildcards (or OR-groups of them), found {0}")]
    NearOperand(&'static str),
    #[error("query nests too deeply, at most {MAX_DEPTH} levels of parentheses, NOT and NEAR")]
    TooDeep,
}

/// Parses one listening query.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser {
        lexer: Lexer { query, pos: 0 },
        peeked: None,
        depth: 0,
    };
    let expr = parser.or("at start of query")?;
    let tok = parser.next()?;
    match tok.kind {
        Tok::End => Ok(expr),
        Tok::RParen => Err(parser.error(tok.at, ParseErrorKind::UnmatchedClose)),
        // `or` only stops at the end or at ")".
        _ => Err(parser.expected(tok.at, "AND, OR or the end of the query", &tok)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'q> {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Near(u32),
    /// The text between the quotes, starting at `content_at`.
    Phrase {
        content: &'q str,
        content_at: usize,
    },
    Term(&'q str),
    Filter {
        field: &'q str,
        value: &'q str,
        value_at: usize,
    },
    End,
}

#[derive(Debug, Clone)]
struct Token<'q> {
    kind: Tok<'q>,
    at: usize,
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”')
}

fn ends_term(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || is_quote(c)
}

struct Lexer<'q> {
    query: &'q str,
    pos: usize,
}

impl<'q> Lexer<'q> {
    fn rest(&self) -> &'q str {
        &self.query[self.pos..]
    }

    fn next(&mut self) -> Result<Token<'q>, ParseError> {
        let trimmed = self.rest().trim_start();
        self.pos = self.query.len() - trimmed.len();
        let at = self.pos;
        let Some(c) = trimmed.chars().next() else {
            return Ok(Token { kind: Tok::End, at });
        };
        let kind = match c {
            '(' => {
                self.pos += 1;
                Tok::LParen
            }
            ')' => {
                self.pos += 1;
                Tok::RParen
            }
            c if is_quote(c) => {
                let content_at = at + c.len_utf8();
                let (content, end) = self.quoted(at, content_at)?;
                self.pos = end;
                Tok::Phrase {
                    content,
                    content_at,
                }
            }
            _ => {
                let len = trimmed.find(ends_term).unwrap_or(trimmed.len());
                let raw = &trimmed[..len];
                self.pos = at + len;
                self.word(raw, at)?
            }
        };
        Ok(Token { kind, at })
    }

    /// The quoted text starting at `content_at` (the opening quote is at
    /// `open`), and the offset after the closing quote.
    fn quoted(&self, open: usize, content_at: usize) -> Result<(&'q str, usize), ParseError> {
        let body = &self.query[content_at..];
        match body.char_indices().find(|&(_, c)| is_quote(c)) {
            Some((i, q)) => Ok((&body[..i], content_at + i + q.len_utf8())),
            None => Err(error_at(
                self.query,
                open,
                ParseErrorKind::UnterminatedPhrase,
            )),
        }
    }

    fn word(&mut self, raw: &'q str, at: usize) -> Result<Tok<'q>, ParseError> {
        match raw {
            "AND" => return Ok(Tok::And),
            "OR" => return Ok(Tok::Or),
            "NOT" => return Ok(Tok::Not),
            _ => {}
        }
        if let Some(rest) = raw.strip_prefix("NEAR") {
            let found = || format!("\"{raw}\"");
            let Some(n) = rest.strip_prefix('/') else {
                return Err(error_at(
                    self.query,
                    at,
                    ParseErrorKind::Expected {
                        expected: "a distance after NEAR, like NEAR/3".into(),
                        found: found(),
                    },
                ));
            };
            let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            return match n.parse::<u32>() {
                Ok(distance) if digits && distance <= MAX_NEAR => Ok(Tok::Near(distance)),
                _ => Err(error_at(
                    self.query,
                    at + "NEAR/".len(),
                    ParseErrorKind::Expected {
                        expected: format!(
                            "a number of words up to {MAX_NEAR} after NEAR/, like NEAR/3"
                        ),
                        found: format!("\"{n}\""),
                    },
                )),
            };
        }
        if let Some(colon) = raw.find(':') {
            let field = &raw[..colon];
            if !field.is_empty() && field.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
                let value_at = at + colon + 1;
                let value = &raw[colon + 1..];
                // `source:"google play"`
                if value.is_empty()
                    && let Some(q) = self.rest().chars().next().filter(|&c| is_quote(c))
                {
                    let (content, end) = self.quoted(self.pos, self.pos + q.len_utf8())?;
                    self.pos = end;
                    return Ok(Tok::Filter {
                        field,
                        value: content,
                        value_at: value_at + q.len_utf8(),
                    });
                }
                return Ok(Tok::Filter {
                    field,
                    value,
                    value_at,
                });
            }
        }
        Ok(Tok::Term(raw))
    }
}

fn error_at(query: &str, offset: usize, kind: ParseErrorKind) -> ParseError {
    ParseError {
        offset,
        column: query[..offset].chars().count() + 1,
        kind,
    }
}

fn describe(tok: &Tok<'_>) -> String {
    match tok {
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::And => "AND".into(),
        Tok::Or => "OR".into(),
        Tok::Not => "NOT".into(),
        Tok::Near(n) => format!("NEAR/{n}"),
        Tok::Phrase { content, .. } => format!("phrase \"{content}\""),
        Tok::Term(t) => format!("\"{t}\""),
        Tok::Filter { field, value, .. } => format!("filter \"{field}:{value}\""),
        Tok::End => "end of query".into(),
    }
}

struct Parser<'q> {
    lexer: Lexer<'q>,
    peeked: Option<Token<'q>>,
    depth: usize,
}

impl<'q> Parser<'q> {
    fn peek(&mut self) -> Result<&Token<'q>, ParseError> {
        let tok = match self.peeked.take() {
            Some(tok) => tok,
            None => self.lexer.next()?,
        };
        Ok(self.peeked.insert(tok))
    }

    fn next(&mut self) -> Result<Token<'q>, ParseError> {
        match self.peeked.take() {
            Some(tok) => Ok(tok),
            None => self.lexer.next(),
        }
    }

    fn error(&self, offset: usize, kind: ParseErrorKind) -> ParseError {
        error_at(self.lexer.query, offset, kind)
    }

    fn expected(&self, offset: usize, expected: &str, found: &Token<'_>) -> ParseError {
        self.error(
            offset,
            ParseErrorKind::Expected {
                expected: expected.into(),
                found: describe(&found.kind),
            },
        )
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(at, ParseErrorKind::TooDeep));
        }
        Ok(())
    }

    /// or := and ("OR" and)*
    fn or(&mut self, context: &str) -> Result<Expr, ParseError> {
        let first = self.and(context)?;
        let mut children = vec![first];
        while self.peek()?.kind == Tok::Or {
            self.next()?;
            children.push(self.and("after OR")?);
        }
        Ok(flatten(children, true))
    }

    /// and := near (["AND"] near)*  — adjacency is AND.
    fn and(&mut self, context: &str) -> Result<Expr, ParseError> {
        let first = self.near(context)?.0;
        let mut children = vec![first];
        loop {
            match self.peek()?.kind {
                Tok::And => {
                    self.next()?;
                    children.push(self.near("after AND")?.0);
                }
                Tok::LParen | Tok::Not | Tok::Phrase { .. } | Tok::Term(_) | Tok::Filter { .. } => {
                    children.push(self.near(context)?.0)
                }
                _ => break,
            }
        }
        Ok(flatten(children, false))
    }

    /// near := unary ("NEAR/n" unary)*  — left-associative.
    /// Returns the expression and where it starts.
    fn near(&mut self, context: &str) -> Result<(Expr, usize), ParseError> {
        let (mut left, start) = self.unary(context)?;
        let depth = self.depth;
        while let Tok::Near(distance) = self.peek()?.kind {
            let op = self.next()?;
            self.enter(op.at)?;
            self.check_near_operand(&left, start)?;
            let (right, right_at) = self.unary(&format!("after NEAR/{distance}"))?;
            self.check_near_operand(&right, right_at)?;
            left = Expr::Near {
                left: Box::new(left),
                right: Box::new(right),
                distance,
            };
        }
        self.depth = depth;
        Ok((left, start))
    }

    fn check_near_operand(&self, expr: &Expr, at: usize) -> Result<(), ParseError> {
        match non_positional(expr) {
            None => Ok(()),
            Some(what) => Err(self.error(at, ParseErrorKind::NearOperand(what))),
        }
    }

    /// unary := "NOT" unary | primary
    fn unary(&mut self, context: &str) -> Result<(Expr, usize), ParseError> {
        let at = self.peek()?.at;
        if self.peek()?.kind != Tok::Not {
            return Ok((self.primary(context)?, at));
        }
        self.next()?;
        self.enter(at)?;
        let inner = self.unary("after NOT")?.0;
        self.depth -= 1;
        Ok((Expr::Not(Box::new(inner)), at))
    }

    /// primary := "(" or ")" | term | phrase | filter
    fn primary(&mut self, context: &str) -> Result<Expr, ParseError> {
        let tok = self.next()?;
        match tok.kind {
            Tok::LParen => {
                self.enter(tok.at)?;
                let inner = self.or("after \"(\"")?;
                let close = self.next()?;
                if close.kind != Tok::RParen {
                    let expected = format!("\")\" to close the \"(\" at {}", tok.at);
                    return Err(self.expected(close.at, &expected, &close));
                }
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Term(raw) => self.term(raw, tok.at),
            Tok::Phrase {
                content,
                content_at,
            } => {
                if content.trim().is_empty() {
                    return Err(self.error(tok.at, ParseErrorKind::EmptyPhrase));
                }
                let words = self.words(content, content_at, "phrase")?;
                one_or_phrase(words).ok_or_else(|| {
                    let what = format!("phrase \"{content}\"");
                    self.error(tok.at, ParseErrorKind::NoWords(what))
                })
            }
            Tok::Filter {
                field,
                value,
                value_at,
            } => self.filter(field, value, tok.at, value_at),
            _ => Err(self.expected(tok.at, &format!("a term or \"(\" {context}"), &tok)),
        }
    }

    fn term(&self, raw: &str, at: usize) -> Result<Expr, ParseError> {
        let mut chars = raw.chars();
        let first = chars.next().unwrap_or(' ');
        let second = chars.next();
        match first {
            '#' => return self.tag(&raw[1..], at, false),
            '@' => return self.tag(&raw[1..], at, true),
            '-' | '+' if second.is_some_and(|c| text::is_word_char(c) || is_quote(c)) => {
                return Err(self.error(at, ParseErrorKind::SignOperator(first)));
            }
            _ => {}
        }
        let words = self.words(raw, at, "term")?;
        one_or_phrase(words)
            .ok_or_else(|| self.error(at, ParseErrorKind::NoWords(format!("term \"{raw}\""))))
    }

    /// Hashtag or handle name (after `#`/`@`).
    fn tag(&self, name: &str, at: usize, handle: bool) -> Result<Expr, ParseError> {
        let (what, sigil) = if handle {
            ("handles", '@')
        } else {
            ("hashtags", '#')
        };
        for (i, c) in name.char_indices() {
            if c == '*' {
                return Err(self.error(at + 1 + i, ParseErrorKind::WildcardNotAllowed(what)));
            }
            if !(text::is_word_char(c) || c == '_' || (handle && c == '.')) {
                let expected = if handle {
                    "letters, digits, _ or . in a handle"
                } else {
                    "letters, digits or _ in a hashtag"
                };
                return Err(self.error(
                    at + 1 + i,
                    ParseErrorKind::Expected {
                        expected: expected.into(),
                        found: format!("\"{c}\""),
                    },
                ));
            }
        }
        let name = if handle {
            name.trim_end_matches('.')
        } else {
            name
        };
        if name.is_empty() {
            return Err(self.error(
                at + 1,
                ParseErrorKind::Expected {
                    expected: format!("a name after {sigil}"),
                    found: "nothing".into(),
                },
            ));
        }
        let name = text::normalize(name);
        Ok(if handle {
            Expr::Handle(name)
        } else {
            Expr::Hashtag(name)
        })
    }

    /// The words of a term or phrase: `*` must end a word.
    fn words(&self, raw: &str, at: usize, what: &str) -> Result<Vec<PhraseWord>, ParseError> {
        let mut prev: Option<char> = None;
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '*' {
                let after_word = prev.is_some_and(text::is_word_char);
                let before_word = chars
                    .peek()
                    .is_some_and(|&(_, n)| text::is_word_char(n) || n == '*');
                if !after_word || before_word {
                    let kind = if !after_word && !raw.chars().any(text::is_word_char) {
                        ParseErrorKind::NoWords(format!("{what} \"{raw}\""))
                    } else {
                        ParseErrorKind::MisplacedWildcard
                    };
                    let offset = if matches!(kind, ParseErrorKind::NoWords(_)) {
                        at
                    } else {
                        at + i
                    };
                    return Err(self.error(offset, kind));
                }
            }
            prev = Some(c);
        }
        let normalized = text::normalize(raw);
        let mut spans = Vec::new();
        text::tokenize(&normalized, &mut spans);
        Ok(spans
            .iter()
            .map(|&(a, b)| PhraseWord {
                text: normalized[a as usize..b as usize].to_owned(),
                prefix: normalized[b as usize..].starts_with('*'),
            })
            .collect())
    }

    fn filter(
        &self,
        field: &str,
        value: &str,
        at: usize,
        value_at: usize,
    ) -> Result<Expr, ParseError> {
        let bad = |expected: &str| {
            self.error(
                value_at,
                ParseErrorKind::Expected {
                    expected: format!("{expected} after {field}:"),
                    found: if value.is_empty() {
                        "nothing".into()
                    } else {
                        format!("\"{value}\"")
                    },
                },
            )
        };
        let filter = match field.to_ascii_lowercase().as_str() {
            "lang" => {
                let lang = text::normalize(value).replace('_', "-");
                let mut parts = lang.split('-');
                let primary_ok = parts.next().is_some_and(|p| {
                    (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase())
                });
                let rest_ok = parts.all(|p| {
                    (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
                });
                if !(primary_ok && rest_ok) {
                    return Err(bad("a language code like en or pt-br"));
                }
                Filter::Lang(lang)
            }
            "source" => {
                let source = text::normalize(value.trim());
                if source.is_empty() {
                    return Err(bad("a source like twitter"));
                }
                Filter::Source(source)
            }
            "followers" => {
                let (cmp, number) = if let Some(n) = value.strip_prefix(">=") {
                    (Cmp::Ge, n)
                } else if let Some(n) = value.strip_prefix("<=") {
                    (Cmp::Le, n)
                } else if let Some(n) = value.strip_prefix('>') {
                    (Cmp::Gt, n)
                } else if let Some(n) = value.strip_prefix('<') {
                    (Cmp::Lt, n)
                } else if let Some(n) = value.strip_prefix('=') {
                    (Cmp::Eq, n)
                } else {
                    (Cmp::Eq, value)
                };
                match parse_count(number) {
                    Some(n) => Filter::Followers(cmp, n),
                    None => return Err(bad("a comparison and a number like >1000 or <=10k")),
                }
            }
            "verified" => match value.to_ascii_lowercase().as_str() {
                "true" => Filter::Verified(true),
                "false" => Filter::Verified(false),
                _ => return Err(bad("true or false")),
            },
            _ => {
                return Err(self.error(at, ParseErrorKind::UnknownFilter(field.to_owned())));
            }
        };
        Ok(Expr::Filter(filter))
    }
}

/// `1200`, `10k`, `1.5m`.
fn parse_count(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, scale) = if let Some(d) = lower.strip_suffix('k') {
        (d, 1_000u64)
    } else if let Some(d) = lower.strip_suffix('m') {
        (d, 1_000_000)
    } else {
        (lower.as_str(), 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    match digits.split_once('.') {
        None => digits.parse::<u64>().ok()?.checked_mul(scale),
        Some((whole, frac)) => {
            if scale == 1 || frac.is_empty() || frac.contains('.') {
                return None;
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().ok()?
            };
            let frac_scale = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
            let frac: u64 = frac.parse().ok()?;
            whole
                .checked_mul(scale)?
                .checked_add(frac.checked_mul(scale)? / frac_scale)
        }
    }
}

/// Describes the part of `expr` that cannot be an operand of NEAR.
fn non_positional(expr: &Expr) -> Option<&'static str> {
    match expr {
        Expr::Word(_) | Expr::Prefix(_) | Expr::Phrase(_) | Expr::Near { .. } => None,
        Expr::Or(children) => children.iter().find_map(non_positional),
        Expr::Not(_) => Some("NOT"),
        Expr::And(_) => Some("AND"),
        Expr::Hashtag(_) => Some("a hashtag"),
        Expr::Handle(_) => Some("a handle"),
        Expr::Filter(_) => Some("a filter"),
    }
}

fn one_or_phrase(mut words: Vec<PhraseWord>) -> Option<Expr> {
    match words.len() {
        0 => None,
        1 => {
            let w = words.pop()?;
            Some(if w.prefix {
                Expr::Prefix(w.text)
            } else {
                Expr::Word(w.text)
            })
        }
        _ => Some(Expr::Phrase(words)),
    }
}

/// One child stays itself; nested groups of the same operator merge.
fn flatten(children: Vec<Expr>, or: bool) -> Expr {
    if children.len() == 1 {
        return children.into_iter().next().unwrap_or(Expr::And(Vec::new()));
    }
    let mut flat = Vec::with_capacity(children.len());
    for child in children {
        match child {
            Expr::Or(inner) if or => flat.extend(inner),
            Expr::And(inner) if !or => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if or { Expr::Or(flat) } else { Expr::And(flat) }
}
