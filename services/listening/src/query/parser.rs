//! Lexer and recursive-descent parser for the rule language (grammar in
//! the module docs of [`super`]).

use super::ast::{Cmp, Expr, Filter, PhraseWord};
use super::text;
use unicode_normalization::UnicodeNormalization;

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
    #[error(
        "a wildcard cannot start a word (words are looked up by their start): \
         put at least one letter before ? or *, like deliver* or customi?e"
    )]
    LeadingWildcard,
    #[error(
        "fuzzy matching ({0}) is not supported: list the spellings with OR, \
         or use wildcards (colo*r, customi?e)"
    )]
    Fuzzy(String),
    #[error("{construct} is not supported: {hint}")]
    Unsupported {
        construct: String,
        hint: &'static str,
    },
    #[error("\"{field}:\" is not an Earshot filter: {hint}")]
    ForeignFilter { field: String, hint: &'static str },
    #[error(
        "a proximity phrase needs two or more words, like \"apple juice\"~5 \
         (both within 5 words of each other)"
    )]
    ProximityWords,
    #[error(
        "a case-sensitive term is one word, like {{BT}}: for a phrase write \
         {{Apple}} AND \"apple juice\""
    )]
    CaseSensitiveWords,
    #[error(
        "the rule only excludes, so it would match nearly every mention: \
         add something to look for, like juice AND NOT apple"
    )]
    OnlyNegative,
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

/// Something a query means that its author may not expect, e.g. how mixed
/// AND and OR group, or that `anti-aging` is a phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWarning {
    /// Byte offset into the query.
    pub offset: usize,
    /// 1-based character position, as for [`ParseError`].
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for QueryWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at {} (column {}): {}",
            self.offset, self.column, self.message
        )
    }
}

/// A parsed query and its warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub expr: Expr,
    pub warnings: Vec<QueryWarning>,
}

/// Parses one listening query. Stored rules are compiled with this; a rule
/// being written goes through [`parse_rule`], which is stricter.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    parse_with_warnings(query).map(|parsed| parsed.expr)
}

/// Parses a query a user is writing: also refuses a rule that only
/// excludes (`NOT juice`), which would match nearly every mention.
pub fn parse_rule(query: &str) -> Result<Parsed, ParseError> {
    let parsed = parse_with_warnings(query)?;
    if parsed.expr.has_not() && !parsed.expr.looks_for_something() {
        return Err(error_at(query, 0, ParseErrorKind::OnlyNegative));
    }
    Ok(parsed)
}

/// Parses one listening query and says what in it may surprise its author.
pub fn parse_with_warnings(query: &str) -> Result<Parsed, ParseError> {
    let mut parser = Parser {
        lexer: Lexer { query, pos: 0 },
        peeked: None,
        depth: 0,
        warnings: Vec::new(),
    };
    let expr = parser.or("at start of query")?.0;
    let tok = parser.next()?;
    match tok.kind {
        Tok::End => Ok(Parsed {
            expr,
            warnings: parser.warnings,
        }),
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
    Near {
        distance: u32,
        ordered: bool,
    },
    /// The text between the quotes, starting at `content_at`; `"a b"~5`
    /// carries the proximity.
    Phrase {
        content: &'q str,
        content_at: usize,
        proximity: Option<u32>,
    },
    /// `{BT}`: the text between the braces.
    CaseSensitive {
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
    c.is_whitespace() || c == '(' || c == ')' || c == '{' || is_quote(c)
}

fn is_wildcard(c: char) -> bool {
    c == '?' || c == '*'
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
        let mut trimmed = self.rest().trim_start();
        // Brandwatch's comments, `<<<why this rule>>>`, say nothing to match.
        while let Some(comment) = trimmed.strip_prefix("<<<") {
            let open = self.query.len() - trimmed.len();
            let Some(end) = comment.find(">>>") else {
                return Err(error_at(
                    self.query,
                    open,
                    ParseErrorKind::Expected {
                        expected: "a closing >>> after the comment".into(),
                        found: "end of query".into(),
                    },
                ));
            };
            trimmed = comment[end + 3..].trim_start();
        }
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
                let proximity = self.proximity()?;
                Tok::Phrase {
                    content,
                    content_at,
                    proximity,
                }
            }
            '{' => {
                let content_at = at + 1;
                let Some(close) = self.query[content_at..].find('}') else {
                    return Err(error_at(
                        self.query,
                        at,
                        ParseErrorKind::Expected {
                            expected: "a closing } after the case-sensitive term".into(),
                            found: "end of query".into(),
                        },
                    ));
                };
                self.pos = content_at + close + 1;
                Tok::CaseSensitive {
                    content: &self.query[content_at..content_at + close],
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

    /// `~5` right after a phrase: its words within 5 words of each other.
    fn proximity(&mut self) -> Result<Option<u32>, ParseError> {
        let Some(rest) = self.rest().strip_prefix('~') else {
            return Ok(None);
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let at = self.pos + 1;
        match rest[..digits].parse::<u32>() {
            Ok(n) if n <= MAX_NEAR => {
                self.pos = at + digits;
                Ok(Some(n))
            }
            _ => Err(error_at(
                self.query,
                at,
                ParseErrorKind::Expected {
                    expected: format!(
                        "a number of words up to {MAX_NEAR} after ~, like \"apple juice\"~5"
                    ),
                    found: format!("\"{}\"", rest.split(ends_term).next().unwrap_or("")),
                },
            )),
        }
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
        // Sprinklr's ONEAR/n is Brandwatch's NEAR/nf.
        let (near, always_ordered) = match raw.strip_prefix("ONEAR") {
            Some(rest) if rest.starts_with('/') => (Some(rest), true),
            _ => (raw.strip_prefix("NEAR"), false),
        };
        if let Some(rest) = near {
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
            let (n, ordered) = match n.strip_suffix(['f', 'F']) {
                Some(n) if !always_ordered => (n, true),
                _ => (n, always_ordered),
            };
            let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            return match n.parse::<u32>() {
                Ok(distance) if digits && distance <= MAX_NEAR => {
                    Ok(Tok::Near { distance, ordered })
                }
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
                // `authorFollowers:[1000 TO 5000]` spans white space.
                if value.starts_with('[') && !value.ends_with(']') {
                    let Some(close) = self.query[value_at..].find(']') else {
                        return Err(error_at(
                            self.query,
                            value_at,
                            ParseErrorKind::Expected {
                                expected: "a closing ] after the range".into(),
                                found: "end of query".into(),
                            },
                        ));
                    };
                    self.pos = value_at + close + 1;
                    return Ok(Tok::Filter {
                        field,
                        value: &self.query[value_at..self.pos],
                        value_at,
                    });
                }
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

fn column(query: &str, offset: usize) -> usize {
    query[..offset].chars().count() + 1
}

fn error_at(query: &str, offset: usize, kind: ParseErrorKind) -> ParseError {
    ParseError {
        offset,
        column: column(query, offset),
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
        Tok::Near { distance, ordered } => {
            format!("NEAR/{distance}{}", if *ordered { "f" } else { "" })
        }
        Tok::Phrase { content, .. } => format!("phrase \"{content}\""),
        Tok::CaseSensitive { content, .. } => format!("{{{content}}}"),
        Tok::Term(t) => format!("\"{t}\""),
        Tok::Filter { field, value, .. } => format!("filter \"{field}:{value}\""),
        Tok::End => "end of query".into(),
    }
}

struct Parser<'q> {
    lexer: Lexer<'q>,
    peeked: Option<Token<'q>>,
    depth: usize,
    warnings: Vec<QueryWarning>,
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

    fn warn(&mut self, offset: usize, message: String) {
        self.warnings.push(QueryWarning {
            offset,
            column: column(self.lexer.query, offset),
            message,
        });
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(at, ParseErrorKind::TooDeep));
        }
        Ok(())
    }

    /// or := and ("OR" and)*
    /// Returns the expression and where it starts.
    fn or(&mut self, context: &str) -> Result<(Expr, usize), ParseError> {
        let start = self.peek()?.at;
        let (first, terms) = self.and(context)?;
        let mut anded = terms > 1;
        let mut children = vec![first];
        while self.peek()?.kind == Tok::Or {
            self.next()?;
            let (next, terms) = self.and("after OR")?;
            anded |= terms > 1;
            children.push(next);
        }
        let or = children.len() > 1;
        let expr = flatten(children, true);
        if or && anded {
            self.warn(
                start,
                format!(
                    "AND (or terms side by side) binds tighter than OR, so this reads as \
                     {expr}; add parentheses to say so (Brandwatch refuses it unbracketed)"
                ),
            );
        }
        Ok((expr, start))
    }

    /// and := near (["AND"] near)*  — adjacency is AND.
    /// Returns the expression and how many terms it ANDs at this level.
    fn and(&mut self, context: &str) -> Result<(Expr, usize), ParseError> {
        let first = self.near(context)?.0;
        let mut children = vec![first];
        loop {
            match self.peek()?.kind {
                Tok::And => {
                    self.next()?;
                    children.push(self.near("after AND")?.0);
                }
                Tok::LParen
                | Tok::Not
                | Tok::Phrase { .. }
                | Tok::CaseSensitive { .. }
                | Tok::Term(_)
                | Tok::Filter { .. } => children.push(self.near(context)?.0),
                _ => break,
            }
        }
        let terms = children.len();
        Ok((flatten(children, false), terms))
    }

    /// near := unary ("NEAR/n" unary)*  — left-associative.
    /// Returns the expression and where it starts.
    fn near(&mut self, context: &str) -> Result<(Expr, usize), ParseError> {
        let (mut left, start) = self.unary(context)?;
        let depth = self.depth;
        while let Tok::Near { distance, ordered } = self.peek()?.kind {
            let op = self.next()?;
            self.enter(op.at)?;
            self.check_near_operand(&left, start)?;
            let (right, right_at) = self.unary(&format!("after {}", describe(&op.kind)))?;
            self.check_near_operand(&right, right_at)?;
            left = Expr::Near {
                left: Box::new(left),
                right: Box::new(right),
                distance,
                ordered,
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
                let inner = self.or("after \"(\"")?.0;
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
                proximity,
            } => {
                if content.trim().is_empty() {
                    return Err(self.error(tok.at, ParseErrorKind::EmptyPhrase));
                }
                let words = self.words(content, content_at)?;
                if let Some(distance) = proximity {
                    return self.proximity(words, distance, tok.at);
                }
                one_or_phrase(words).ok_or_else(|| {
                    let what = format!("phrase \"{content}\"");
                    self.error(tok.at, ParseErrorKind::NoWords(what))
                })
            }
            Tok::CaseSensitive {
                content,
                content_at,
            } => {
                let word = content.trim();
                let mut spans = Vec::new();
                text::tokenize(&text::normalize(word), &mut spans);
                if spans.len() != 1 || word.contains(is_wildcard) {
                    return Err(self.error(content_at, ParseErrorKind::CaseSensitiveWords));
                }
                Ok(Expr::CaseSensitive(word.nfc().collect()))
            }
            Tok::Filter {
                field,
                value,
                value_at,
            } => self.filter(field, value, tok.at, value_at),
            _ => Err(self.expected(tok.at, &format!("a term or \"(\" {context}"), &tok)),
        }
    }

    /// `"a b c"~n`: each word within `n` words of the ones before it, in
    /// any order.
    fn proximity(
        &self,
        words: Vec<PhraseWord>,
        distance: u32,
        at: usize,
    ) -> Result<Expr, ParseError> {
        if words.len() < 2 {
            return Err(self.error(at, ParseErrorKind::ProximityWords));
        }
        let mut terms = words.into_iter().filter_map(|w| one_or_phrase(vec![w]));
        let first = terms
            .next()
            .ok_or_else(|| self.error(at, ParseErrorKind::ProximityWords))?;
        Ok(terms.fold(first, |left, right| Expr::Near {
            left: Box::new(left),
            right: Box::new(right),
            distance,
            ordered: false,
        }))
    }

    fn term(&mut self, raw: &str, at: usize) -> Result<Expr, ParseError> {
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
        if let Some(i) = raw.find('~') {
            return Err(self.error(at + i, ParseErrorKind::Fuzzy(raw.to_owned())));
        }
        if let Some(i) = raw.find('^') {
            return Err(self.error(
                at + i,
                ParseErrorKind::Unsupported {
                    construct: format!("boosting ({raw})"),
                    hint: "every term counts the same; remove the ^ and its number",
                },
            ));
        }
        if let Some(i) = raw.find(['[', ']', '}', '\\']) {
            return Err(self.error(
                at + i,
                ParseErrorKind::Unsupported {
                    construct: format!("\"{}\" in a term", &raw[i..i + 1]),
                    hint: "ranges only follow followers:, case-sensitive terms are {BT}, \
                           and there is no escaping: put text in quotes",
                },
            ));
        }
        if let Some(symbol) = raw.strip_prefix('$').filter(|s| !s.is_empty()) {
            self.warn(
                at,
                format!(
                    "{raw} is read as the word {}: Earshot has no cashtags, so it also \
                     matches {symbol} without the $",
                    symbol.to_lowercase()
                ),
            );
        }
        let lower = raw.to_ascii_lowercase();
        if ["near/", "onear/"].iter().any(|op| lower.starts_with(op)) {
            self.warn(
                at,
                format!(
                    "{raw} is read as words: operators are upper case, write {} for proximity",
                    raw.to_ascii_uppercase()
                ),
            );
        }
        let words = self.words(raw, at)?;
        if words.len() > 1 && raw.contains('-') {
            let phrase = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>();
            self.warn(
                at,
                format!(
                    "{raw} is read as the phrase \"{}\": it matches {raw} and \"{}\" but not \
                     {}, which some tools also match; add OR {} for that spelling",
                    phrase.join(" "),
                    phrase.join(" "),
                    phrase.concat(),
                    phrase.concat(),
                ),
            );
        }
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

    /// The words of a term or phrase. A wildcard may follow any letter or
    /// digit of a word: `deliver*` (a prefix), `customi?e`, `colo*r`.
    fn words(&mut self, raw: &str, at: usize) -> Result<Vec<PhraseWord>, ParseError> {
        let mut prev: Option<char> = None;
        let has_words = raw.chars().any(text::is_word_char);
        for (i, c) in raw.char_indices() {
            let in_word = prev.is_some_and(|p| text::is_word_char(p) || is_wildcard(p));
            if is_wildcard(c) && !in_word && has_words {
                return Err(self.error(at + i, ParseErrorKind::LeadingWildcard));
            }
            prev = Some(c);
        }
        let normalized = text::normalize(raw);
        let mut spans = Vec::new();
        text::tokenize(&normalized, &mut spans);
        let mut words = Vec::with_capacity(spans.len());
        let mut next = spans.iter().peekable();
        while let Some(&(start, mut end)) = next.next() {
            // A word runs on through its wildcards and the parts between them.
            loop {
                let rest = &normalized[end as usize..];
                let wild = rest.len() - rest.trim_start_matches(is_wildcard).len();
                if wild == 0 {
                    break;
                }
                end += wild as u32;
                match next.next_if(|&&(a, _)| a == end) {
                    Some(&(_, b)) => end = b,
                    None => break,
                }
            }
            let mut piece = normalized[start as usize..end as usize].to_owned();
            while piece.contains("**") {
                piece = piece.replace("**", "*");
            }
            let word = match piece.find(is_wildcard) {
                None => PhraseWord {
                    text: piece,
                    prefix: false,
                    glob: false,
                },
                Some(i) if i + 1 == piece.len() && piece.ends_with('*') => PhraseWord {
                    text: piece[..i].to_owned(),
                    prefix: true,
                    glob: false,
                },
                Some(_) => {
                    if piece.ends_with('?') {
                        let word = piece.trim_end_matches('?');
                        self.warn(
                            at,
                            format!(
                                "in {piece}, ? is a wildcard for one character (it matches \
                                 {word}s, not {word}); write {word} for the word alone"
                            ),
                        );
                    }
                    PhraseWord {
                        text: piece,
                        prefix: false,
                        glob: true,
                    }
                }
            };
            words.push(word);
        }
        Ok(words)
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
        let foreign = |hint: &'static str| {
            self.error(
                at,
                ParseErrorKind::ForeignFilter {
                    field: field.to_owned(),
                    hint,
                },
            )
        };
        // Other tools' names are aliases where they mean the same thing.
        let filter = match field.to_ascii_lowercase().as_str() {
            "lang" | "language" => {
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
            lower @ ("followers" | "authorfollowers" | "followers_count") => {
                // X PowerTrack's followers_count:500 means at least 500.
                let bare = if lower == "followers_count" {
                    Cmp::Ge
                } else {
                    Cmp::Eq
                };
                return followers(value, bare).ok_or_else(|| {
                    bad(
                        "a comparison and a number like >1000 or <=10k, or a range like \
                         [1000 TO 5000] or 1000..5000",
                    )
                });
            }
            "verified" | "authorverified" => match value.to_ascii_lowercase().as_str() {
                "true" => Filter::Verified(true),
                "false" => Filter::Verified(false),
                _ => return Err(bad("true or false")),
            },
            "is" => match value.to_ascii_lowercase().as_str() {
                "verified" => Filter::Verified(true),
                _ => {
                    return Err(foreign(
                        "is:verified is verified:true; shares (is:retweet) and the brand's own \
                         posts are filtered as noise before rules match, and replies and quotes \
                         are matched like any mention",
                    ));
                }
            },
            "site" | "domain" | "url" | "host" => {
                return Err(foreign(
                    "Earshot does not record web domains; filter by channel with source:, \
                     like source:twitter or source:\"app store\"",
                ));
            }
            "country" | "region" | "city" | "continent" | "location" | "place" | "geo" => {
                return Err(foreign(
                    "Earshot does not know where authors are; filter by language with lang:, \
                     like lang:en-gb",
                ));
            }
            "gender" | "authorgender" => {
                return Err(foreign("Earshot does not infer authors' gender"));
            }
            "from" | "author" | "authorname" | "to" | "retweets_of" => {
                return Err(foreign(
                    "write @handle to match a handle the mention addresses or contains",
                ));
            }
            "has" => {
                return Err(foreign(
                    "has:links and has:media are not supported; link-only posts are \
                     dropped as noise before rules match",
                ));
            }
            "sentiment" | "tone" => {
                return Err(foreign(
                    "sentiment is not part of a rule; filter what rules caught with \
                     ListMentions' sentiment_label",
                ));
            }
            _ => {
                return Err(self.error(at, ParseErrorKind::UnknownFilter(field.to_owned())));
            }
        };
        Ok(Expr::Filter(filter))
    }
}

/// A follower filter: `>1000`, `<=10k`, `=5`, a bare number (`bare`), or a
/// range: `[1000 TO 5000]` (Brandwatch, `*` for no bound) or `1000..5000`
/// (X PowerTrack), both ends included.
fn followers(value: &str, bare: Cmp) -> Option<Expr> {
    let range = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) => {
            let (low, high) = inner.split_once(" TO ")?;
            Some((low.trim(), high.trim()))
        }
        None => value.split_once(".."),
    };
    let Some((low, high)) = range else {
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
            (bare, value)
        };
        return Some(Expr::Filter(Filter::Followers(cmp, parse_count(number)?)));
    };
    let bound = |s: &str| match s {
        "*" => Some(None),
        _ => parse_count(s).map(Some),
    };
    let bounds: Vec<Expr> = [(bound(low)?, Cmp::Ge), (bound(high)?, Cmp::Le)]
        .into_iter()
        .filter_map(|(n, cmp)| n.map(|n| Expr::Filter(Filter::Followers(cmp, n))))
        .collect();
    match bounds.len() {
        0 => None,
        1 => bounds.into_iter().next(),
        _ => Some(Expr::And(bounds)),
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
        Expr::CaseSensitive(_) => Some("a case-sensitive term"),
        Expr::Handle(_) => Some("a handle"),
        Expr::Filter(_) => Some("a filter"),
    }
}

fn one_or_phrase(mut words: Vec<PhraseWord>) -> Option<Expr> {
    match words.len() {
        0 => None,
        1 => {
            let w = words.pop()?;
            Some(if w.glob {
                Expr::Phrase(vec![w])
            } else if w.prefix {
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
