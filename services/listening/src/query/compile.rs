//! All of a tenant's rules compiled into one [`RuleSet`].
//!
//! Every word, wildcard prefix and phrase word of the rules is a *literal*;
//! word and prefix literals share one Aho-Corasick automaton (walked
//! anchored at each word start, so a word costs one pass over its bytes
//! however many rules there are), two consecutive exact words of a phrase
//! are a *pair* literal, and hashtags, handles, languages, sources and
//! `verified:` have hash maps. Matching a document:
//!
//! 1. walk each word of the document through the automaton, collecting which
//!    word and prefix literals occur at which positions, then look up the
//!    pairs of consecutive words and the metadata;
//! 2. each rule is indexed under up to eight *clauses*: sets of literals of
//!    which at least one must occur for the rule to possibly match (a word:
//!    itself; a phrase: its pairs and uncommon words; `a OR b`: the best
//!    clause of `a` or of `b`; `a AND b` and `a NEAR/n b`: the clauses of
//!    both; NOT and `followers:` none). Clauses almost every document
//!    satisfies (common words, filters) are left out. Each occurring literal
//!    ticks off its clauses;
//! 3. rules with all clauses ticked are evaluated (a compact program per
//!    rule), unless their clauses say it all (`a OR b`, `(a OR b) AND c`,
//!    `"two words"`: no evaluation needed), plus the few rules without any
//!    clause (`NOT spam`, `followers:>1000`).
//!
//! The cost of matching thus grows with the length of the mention and the
//! number of rules that can match it, hardly with the number of rules.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use aho_corasick::automaton::Automaton;
use aho_corasick::{Anchored, MatchKind, nfa::contiguous};
use uuid::Uuid;

use super::Document;
use super::ast::{Cmp, Expr, Filter, PhraseWord};
use super::parser::{ParseError, parse};
use super::text;

/// One listening rule of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: Uuid,
    pub version: u32,
    pub query: String,
    pub options: RuleOptions,
}

/// How a rule compares its words with a mention's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleOptions {
    /// `nino` matches "Niño" and `niño` "Nino": accents and other combining
    /// marks are ignored on both sides (never in a case-sensitive term).
    /// Off by default, as on X, where `nino` does not match "niño".
    pub fold_accents: bool,
}

/// A matched rule: its id and the version that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleRef {
    pub id: Uuid,
    pub version: u32,
}

/// A rule of the set does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {id} (version {version}): {error}")]
pub struct RuleError {
    pub id: Uuid,
    pub version: u32,
    #[source]
    pub error: ParseError,
}

/// Sizes of a compiled rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSetStats {
    pub rules: usize,
    /// Distinct literals (words, prefixes, hashtags, handles, filters).
    pub literals: usize,
    /// Distinct strings in the automaton.
    pub patterns: usize,
    /// Rules evaluated for every document (no clause to index them under).
    pub always_evaluated: usize,
    /// Rules that match exactly when their clauses hold, never evaluated.
    pub exact: usize,
    /// Heap used by the automaton.
    pub automaton_bytes: usize,
}

const NONE: u32 = u32::MAX;
/// Position of a literal that is not a word (hashtag, language, …).
const NO_POS: u32 = u32::MAX;
/// Most clauses a rule is indexed under.
const MAX_CLAUSES: usize = 8;
/// Generations are 24 bits, next to an 8-bit clause mask.
const GENERATION_LIMIT: u32 = 1 << 24;
/// `entries` flag: the rule matches whenever its clauses hold.
const EXACT: u32 = 1 << 31;

// Rule programs: one `u32` header (`tag | len << 4`, `len` counting the
// node's words including children) followed by the operands. A rule's
// program is contiguous, so evaluating it touches a cache line or two.
const OP_LIT: u32 = 0; // [lit]
const OP_FOLLOWERS: u32 = 1; // [cmp, low, high]
const OP_NOT: u32 = 2; // [child]
const OP_AND: u32 = 3; // [children…]
const OP_OR: u32 = 4; // [children…]
const OP_NEAR: u32 = 5; // [distance, left, right]
const OP_PHRASE: u32 = 6; // [lit, anchor, words, (len | prefix << 31 | glob << 30, bytes…)…]
const OP_CASE: u32 = 7; // [lit, len, bytes…]

/// Phrase word record flags, beside the byte length.
const RECORD_PREFIX: u32 = 1 << 31;
const RECORD_GLOB: u32 = 1 << 30;
/// NEAR distance flag: the left side must come first.
const NEAR_ORDERED: u32 = 1 << 31;

/// A tenant's rules, compiled for matching many documents.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<RuleRef>,
    /// Per rule: where its program starts in `code`, `| EXACT`.
    entries: Vec<u32>,
    code: Vec<u32>,
    /// Anchored automaton of the word and prefix patterns. (A contiguous
    /// NFA: for thousands of patterns as fast as a DFA, a twentieth of
    /// the memory, so it stays in cache.)
    trie: Option<contiguous::NFA>,
    /// Per automaton pattern: the exact-word literal and the prefix literal
    /// (either may be `NONE`).
    pattern_lits: Vec<[u32; 2]>,
    hashtags: HashMap<Box<str>, u32>,
    handles: HashMap<Box<str>, u32>,
    langs: HashMap<Box<str>, u32>,
    sources: HashMap<Box<str>, u32>,
    /// Literals of `verified:false` and `verified:true`.
    verified: [u32; 2],
    /// Two consecutive exact words of a phrase (`first << 32 | second`,
    /// their literals) to the literal of the pair.
    bigrams: PairMap,
    literals: usize,
    /// Clauses literal `l` ticks off, as `rule << 3 | clause`:
    /// `postings[post_start[l]..post_start[l + 1]]`.
    post_start: Vec<u32>,
    postings: Vec<u32>,
    /// Per rule, the mask of all its clauses.
    full: Vec<u8>,
    /// Rules without clauses.
    always: Vec<u32>,
    /// The rules that fold accents, matched against the folded document.
    folding: Option<Box<RuleSet>>,
}

/// Reusable buffers for [`RuleSet::matches_with`]; keep one per thread.
#[derive(Debug, Default)]
pub struct MatchScratch {
    /// `(literal << 32) | position`, sorted.
    hits: Vec<u64>,
    /// Per word of the document: its exact-word literal, or `NONE`.
    words: Vec<u32>,
    candidates: Vec<u32>,
    evaluated: usize,
    /// Current match, 1..2^24; stamps equal to it were set during this match.
    generation: u32,
    /// Per literal: the generation it last occurred in.
    lit_seen: Vec<u32>,
    /// Per rule: `generation << 8 | clauses ticked off`.
    ticked: Vec<u32>,
    /// The accent-folded document, for rule sets with rules that fold.
    folded: Document,
}

impl MatchScratch {
    /// How many rules the last match evaluated; the others were ruled in
    /// or out by their clauses alone.
    pub fn evaluated(&self) -> usize {
        self.evaluated
    }

    /// Starts a match against a set of `literals` literals and `rules` rules.
    fn begin(&mut self, literals: usize, rules: usize) -> u32 {
        if self.lit_seen.len() < literals {
            self.lit_seen.resize(literals, 0);
        }
        if self.ticked.len() < rules {
            self.ticked.resize(rules, 0);
        }
        self.generation += 1;
        if self.generation >= GENERATION_LIMIT {
            self.lit_seen.fill(0);
            self.ticked.fill(0);
            self.generation = 1;
        }
        self.hits.clear();
        self.words.clear();
        self.candidates.clear();
        self.evaluated = 0;
        self.generation
    }
}

impl RuleSet {
    /// Parses and compiles rules; fails on the first rule that does not parse.
    pub fn compile<I>(rules: I) -> Result<Self, RuleError>
    where
        I: IntoIterator,
        I::Item: Borrow<Rule>,
    {
        let mut parsed = Vec::new();
        for rule in rules {
            let rule = rule.borrow();
            let expr = parse(&rule.query).map_err(|error| RuleError {
                id: rule.id,
                version: rule.version,
                error,
            })?;
            parsed.push((
                RuleRef {
                    id: rule.id,
                    version: rule.version,
                },
                expr,
                rule.options,
            ));
        }
        Ok(Self::from_parsed(parsed))
    }

    /// Compiles already parsed rules.
    pub fn from_parsed<I, E>(rules: I) -> Self
    where
        I: IntoIterator<Item = (RuleRef, E, RuleOptions)>,
        E: Borrow<Expr>,
    {
        let (folding, exact): (Vec<_>, Vec<_>) = rules
            .into_iter()
            .partition(|(_, _, options)| options.fold_accents);
        let exact = exact.into_iter().map(|(rule, expr, _)| (rule, expr));
        let mut set = Self::compile_words(exact, false);
        if !folding.is_empty() {
            let folded = folding
                .into_iter()
                .map(|(rule, expr, _)| (rule, expr.borrow().accents_folded()));
            set.folding = Some(Box::new(Self::compile_words(folded, true)));
        }
        set
    }

    /// Compiles rules that compare words as they are, or (`folded`) rules
    /// already folded, to match folded documents.
    fn compile_words<I, E>(rules: I, folded: bool) -> Self
    where
        I: IntoIterator<Item = (RuleRef, E)>,
        E: Borrow<Expr>,
    {
        let mut b = Builder {
            verified: [NONE, NONE],
            folded,
            ..Builder::default()
        };
        let mut refs = Vec::new();
        let mut entries = Vec::new();
        let mut clause_lits: Vec<(u32, u32)> = Vec::new();
        let mut full = Vec::new();
        let mut always = Vec::new();
        for (index, (rule, expr)) in rules.into_iter().enumerate() {
            let index = u32::try_from(index)
                .ok()
                .filter(|&i| i < 1 << 28)
                .expect("fewer than 268 million rules");
            let start = b.code.len();
            let c = b.compile(expr.borrow());
            refs.push(rule);
            let total = c.clauses.len();
            let clauses = pick_clauses(c.clauses);
            if clauses.is_empty() {
                always.push(index);
            }
            // All its clauses hold: it matches, no need to evaluate it.
            let exact = c.exact && !clauses.is_empty() && clauses.len() == total;
            let start = u32::try_from(start)
                .ok()
                .filter(|&s| s < EXACT)
                .expect("rule programs under 8 GiB");
            entries.push(if exact { start | EXACT } else { start });
            full.push(((1u16 << clauses.len()) - 1) as u8);
            for (i, mut clause) in clauses.into_iter().enumerate() {
                clause.lits.sort_unstable();
                clause.lits.dedup();
                clause_lits.extend(clause.lits.into_iter().map(|l| (l, index << 3 | i as u32)));
            }
        }
        clause_lits.sort_unstable();
        let literals = b.literals as usize;
        let mut post_start = Vec::with_capacity(literals + 1);
        let mut postings = Vec::with_capacity(clause_lits.len());
        let mut next = clause_lits.iter().peekable();
        for lit in 0..b.literals {
            post_start.push(postings.len() as u32);
            while let Some(&&(l, entry)) = next.peek() {
                if l != lit {
                    break;
                }
                postings.push(entry);
                next.next();
            }
        }
        post_start.push(postings.len() as u32);

        RuleSet {
            rules: refs,
            entries,
            code: b.code,
            trie: build_trie(&b.patterns),
            pattern_lits: b.pattern_lits,
            hashtags: b.hashtags,
            handles: b.handles,
            langs: b.langs,
            sources: b.sources,
            verified: b.verified,
            bigrams: b.bigrams,
            literals,
            post_start,
            postings,
            full,
            always,
            folding: None,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len() + self.folding.as_ref().map_or(0, |f| f.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> RuleSetStats {
        let own = RuleSetStats {
            rules: self.rules.len(),
            literals: self.literals,
            patterns: self.pattern_lits.len(),
            always_evaluated: self.always.len(),
            exact: self.entries.iter().filter(|&&e| e & EXACT != 0).count(),
            automaton_bytes: self.trie.as_ref().map_or(0, |a| a.memory_usage()),
        };
        let Some(folding) = &self.folding else {
            return own;
        };
        let other = folding.stats();
        RuleSetStats {
            rules: own.rules + other.rules,
            literals: own.literals + other.literals,
            patterns: own.patterns + other.patterns,
            always_evaluated: own.always_evaluated + other.always_evaluated,
            exact: own.exact + other.exact,
            automaton_bytes: own.automaton_bytes + other.automaton_bytes,
        }
    }

    /// The rules that match `doc`: those comparing words as they are, then
    /// those folding accents, each in the order they were compiled.
    ///
    /// Allocates scratch space sized to the rule set on every call; a hot
    /// loop should keep a [`MatchScratch`] per thread and call
    /// [`RuleSet::matches_with`].
    pub fn matches(&self, doc: &Document) -> Vec<RuleRef> {
        let mut out = Vec::new();
        self.matches_with(doc, &mut MatchScratch::default(), &mut out);
        out
    }

    /// Like [`RuleSet::matches`], reusing `scratch` and writing into `out`
    /// (cleared first).
    pub fn matches_with(&self, doc: &Document, scratch: &mut MatchScratch, out: &mut Vec<RuleRef>) {
        out.clear();
        self.match_into(doc, scratch, out);
        if let Some(folding) = &self.folding {
            if doc.folds_to_itself() {
                folding.match_into(doc, scratch, out);
            } else {
                let mut folded = std::mem::take(&mut scratch.folded);
                folded.fold_from(doc);
                folding.match_into(&folded, scratch, out);
                scratch.folded = folded;
            }
        }
    }

    /// Appends the rules of this set (not of its folding part) that match.
    fn match_into(&self, doc: &Document, scratch: &mut MatchScratch, out: &mut Vec<RuleRef>) {
        let generation = scratch.begin(self.literals, self.rules.len());
        let hits = &mut scratch.hits;
        if let Some(trie) = &self.trie {
            self.scan_words(trie, doc, hits, &mut scratch.words);
        }
        if !self.bigrams.is_empty() {
            for (pos, pair) in scratch.words.windows(2).enumerate() {
                if pair[0] != NONE && pair[1] != NONE {
                    let key = u64::from(pair[0]) << 32 | u64::from(pair[1]);
                    if let Some(&lit) = self.bigrams.get(&key) {
                        hits.push(u64::from(lit) << 32 | pos as u64);
                    }
                }
            }
        }
        self.scan_meta(doc, hits);
        hits.sort_unstable();

        // Tick off the clauses of each literal that occurs.
        let candidates = &mut scratch.candidates;
        candidates.extend_from_slice(&self.always);
        let stamp = generation << 8;
        let mut last = NONE;
        for &hit in hits.iter() {
            let lit = (hit >> 32) as u32;
            if lit == last {
                continue;
            }
            last = lit;
            scratch.lit_seen[lit as usize] = generation;
            let (a, b) = (
                self.post_start[lit as usize] as usize,
                self.post_start[lit as usize + 1] as usize,
            );
            for &entry in &self.postings[a..b] {
                let rule = (entry >> 3) as usize;
                let bit = 1u32 << (entry & 7);
                let state = scratch.ticked[rule];
                let ticked = if state & !0xff == stamp {
                    state & 0xff
                } else {
                    0
                };
                if ticked & bit == 0 {
                    let now = ticked | bit;
                    scratch.ticked[rule] = stamp | now;
                    if now == u32::from(self.full[rule]) {
                        candidates.push(rule as u32);
                    }
                }
            }
        }
        candidates.sort_unstable();

        let eval = Eval {
            code: &self.code,
            doc,
            hits,
            lit_seen: &scratch.lit_seen,
            generation,
        };
        for &rule in candidates.iter() {
            let entry = self.entries[rule as usize];
            let matched = entry & EXACT != 0 || {
                scratch.evaluated += 1;
                eval.matches((entry & !EXACT) as usize)
            };
            if matched {
                out.push(self.rules[rule as usize]);
            }
        }
    }

    /// Walks each word through the anchored automaton: every pattern that
    /// ends inside the word is a prefix of it, one that ends at its end is
    /// the word itself. Also notes each word's exact-word literal in `words`.
    fn scan_words<A: Automaton>(
        &self,
        aut: &A,
        doc: &Document,
        hits: &mut Vec<u64>,
        words: &mut Vec<u32>,
    ) {
        let Ok(start) = aut.start_state(Anchored::Yes) else {
            return;
        };
        let text = doc.text().as_bytes();
        let min_len = aut.min_pattern_len();
        words.resize(doc.len(), NONE);
        for (pos, &(a, b)) in doc.spans().iter().enumerate() {
            let word = &text[a as usize..b as usize];
            if word.len() < min_len {
                continue;
            }
            let pos = pos as u64;
            let mut sid = start;
            for (i, &byte) in word.iter().enumerate() {
                sid = aut.next_state(Anchored::Yes, sid, byte);
                if !aut.is_special(sid) {
                    continue;
                }
                if aut.is_dead(sid) {
                    break;
                }
                if !aut.is_match(sid) {
                    continue;
                }
                let len = i + 1;
                for k in 0..aut.match_len(sid) {
                    let pid = aut.match_pattern(sid, k);
                    // Match states also report patterns that are suffixes of
                    // the path; only those starting at the word start count.
                    if aut.pattern_len(pid) != len {
                        continue;
                    }
                    let [exact, prefix] = self.pattern_lits[pid.as_usize()];
                    if prefix != NONE {
                        hits.push(u64::from(prefix) << 32 | pos);
                    }
                    if exact != NONE && len == word.len() {
                        hits.push(u64::from(exact) << 32 | pos);
                        words[pos as usize] = exact;
                    }
                }
            }
        }
    }

    fn scan_meta(&self, doc: &Document, hits: &mut Vec<u64>) {
        let mut push = |lit: Option<&u32>| {
            if let Some(&lit) = lit {
                hits.push(u64::from(lit) << 32 | u64::from(NO_POS));
            }
        };
        if !self.hashtags.is_empty() {
            for tag in doc.hashtags() {
                push(self.hashtags.get(tag));
            }
        }
        if !self.handles.is_empty() {
            for handle in doc.handles() {
                push(self.handles.get(handle));
            }
        }
        if !self.langs.is_empty() {
            let lang = doc.lang();
            push(self.langs.get(lang));
            // `lang:zh` and `lang:zh-hant` both match `zh-hant-tw`.
            for (i, _) in lang.match_indices('-') {
                push(self.langs.get(&lang[..i]));
            }
        }
        if !self.sources.is_empty() {
            push(self.sources.get(doc.source()));
        }
        let verified = self.verified[usize::from(doc.verified())];
        if verified != NONE {
            push(Some(&verified));
        }
    }
}

fn build_trie(patterns: &[Box<str>]) -> Option<contiguous::NFA> {
    if patterns.is_empty() {
        return None;
    }
    let nfa = contiguous::Builder::new()
        .match_kind(MatchKind::Standard)
        .prefilter(false)
        .build(patterns.iter().map(|p| p.as_bytes()))
        .expect("an automaton of distinct words fits in memory");
    Some(nfa)
}

/// A clause: literals of which at least one must occur, and how often we
/// expect that (lower is rarer).
struct Clause {
    cost: u64,
    lits: Vec<u32>,
}

/// The clauses to index a rule under: the rarest few, leaving out the ones
/// that most documents satisfy (common words, filters) unless nothing else
/// is left.
fn pick_clauses(mut clauses: Vec<Clause>) -> Vec<Clause> {
    clauses.sort_by_key(|c| c.cost);
    let keep = clauses
        .iter()
        .take(MAX_CLAUSES)
        .take_while(|c| c.cost < COMMON_COST)
        .count()
        .max(clauses.len().min(1));
    clauses.truncate(keep);
    clauses
}

/// A compiled (sub)expression.
struct Compiled {
    /// Clauses that hold whenever it matches.
    clauses: Vec<Clause>,
    /// It matches exactly when all `clauses` hold.
    exact: bool,
}

#[derive(Default)]
struct Builder {
    code: Vec<u32>,
    literals: u32,
    lit_cost: Vec<u64>,
    patterns: Vec<Box<str>>,
    pattern_index: HashMap<Box<str>, u32>,
    pattern_lits: Vec<[u32; 2]>,
    hashtags: HashMap<Box<str>, u32>,
    handles: HashMap<Box<str>, u32>,
    langs: HashMap<Box<str>, u32>,
    sources: HashMap<Box<str>, u32>,
    verified: [u32; 2],
    bigrams: PairMap,
    /// The rules match accent-folded documents.
    folded: bool,
}

/// Words too common to be worth indexing a rule under when it has better.
const COMMON_WORDS: &[&str] = &[
    "a", "about", "after", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "could", "do", "does", "for", "from", "get", "got", "had", "has", "have", "he",
    "her", "his", "how", "i", "if", "in", "is", "it", "its", "just", "me", "my", "no", "not", "of",
    "on", "or", "our", "out", "she", "so", "that", "the", "their", "them", "they", "this", "to",
    "up", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your",
];

/// Filters: most documents pass `lang:en` or `verified:false`.
const META_COST: u64 = 100_000;
/// Common words (and any clause this likely) are not worth indexing under.
const COMMON_COST: u64 = 10_000;
const TAG_COST: u64 = 4;
const BIGRAM_COST: u64 = 2;

/// Keys are pairs of small literal numbers: a multiply-shift hash does.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type PairMap = HashMap<u64, u32, BuildHasherDefault<PairHasher>>;

fn word_cost(word: &str, prefix: bool) -> u64 {
    let base = if COMMON_WORDS.contains(&word) {
        COMMON_COST
    } else {
        match word.chars().count() {
            1 => 2_000,
            2 => 500,
            3 => 60,
            4 => 25,
            5 => 12,
            6 => 8,
            _ => 5,
        }
    };
    if prefix { base * 4 } else { base }
}

#[derive(Clone, Copy)]
enum MapKind {
    Hashtag,
    Handle,
    Lang,
    Source,
}

impl Builder {
    fn new_lit(&mut self, cost: u64) -> u32 {
        let lit = self.literals;
        self.literals += 1;
        self.lit_cost.push(cost);
        lit
    }

    fn word_lit(&mut self, word: &str, prefix: bool) -> u32 {
        let pattern = match self.pattern_index.get(word) {
            Some(&p) => p as usize,
            None => {
                let p = self.patterns.len();
                self.patterns.push(word.into());
                self.pattern_index.insert(word.into(), p as u32);
                self.pattern_lits.push([NONE, NONE]);
                p
            }
        };
        let slot = usize::from(prefix);
        if self.pattern_lits[pattern][slot] == NONE {
            let lit = self.new_lit(word_cost(word, prefix));
            self.pattern_lits[pattern][slot] = lit;
        }
        self.pattern_lits[pattern][slot]
    }

    fn map_lit(&mut self, which: MapKind, key: &str, cost: u64) -> u32 {
        let map = match which {
            MapKind::Hashtag => &self.hashtags,
            MapKind::Handle => &self.handles,
            MapKind::Lang => &self.langs,
            MapKind::Source => &self.sources,
        };
        if let Some(&lit) = map.get(key) {
            return lit;
        }
        let lit = self.new_lit(cost);
        let map = match which {
            MapKind::Hashtag => &mut self.hashtags,
            MapKind::Handle => &mut self.handles,
            MapKind::Lang => &mut self.langs,
            MapKind::Source => &mut self.sources,
        };
        map.insert(key.into(), lit);
        lit
    }

    fn verified_lit(&mut self, value: bool) -> u32 {
        let slot = usize::from(value);
        if self.verified[slot] == NONE {
            self.verified[slot] = self.new_lit(META_COST);
        }
        self.verified[slot]
    }

    /// Starts a node; finish it with [`Builder::close`].
    fn open(&mut self, op: u32) -> usize {
        self.code.push(op);
        self.code.len() - 1
    }

    fn close(&mut self, at: usize) {
        let len = u32::try_from(self.code.len() - at)
            .ok()
            .filter(|&l| l < 1 << 28)
            .expect("rule programs under 1 GiB");
        self.code[at] |= len << 4;
    }

    fn lit(&mut self, lit: u32) -> Compiled {
        let at = self.open(OP_LIT);
        self.code.push(lit);
        self.close(at);
        Compiled {
            clauses: vec![Clause {
                cost: self.lit_cost[lit as usize],
                lits: vec![lit],
            }],
            exact: true,
        }
    }

    /// Appends the program of `expr` to `code`.
    fn compile(&mut self, expr: &Expr) -> Compiled {
        match expr {
            Expr::Word(w) => {
                let lit = self.word_lit(w, false);
                self.lit(lit)
            }
            Expr::Prefix(p) => {
                let lit = self.word_lit(p, true);
                self.lit(lit)
            }
            Expr::Phrase(words) => self.phrase(words),
            Expr::Hashtag(t) => {
                let lit = self.map_lit(MapKind::Hashtag, t, TAG_COST);
                self.lit(lit)
            }
            Expr::CaseSensitive(word) => {
                // Found by its lowercase (in a folding set, folded) word, then
                // checked in the text as written.
                let lower = text::normalize(word);
                let lower = if self.folded {
                    text::fold_accents(&lower)
                } else {
                    lower
                };
                let lit = self.word_lit(&lower, false);
                let at = self.open(OP_CASE);
                let bytes = word.as_bytes();
                self.code.extend([lit, bytes.len() as u32]);
                self.code.extend(bytes.chunks(4).map(pack));
                self.close(at);
                Compiled {
                    clauses: vec![Clause {
                        cost: self.lit_cost[lit as usize],
                        lits: vec![lit],
                    }],
                    exact: false,
                }
            }
            Expr::Handle(h) => {
                let lit = self.map_lit(MapKind::Handle, h, TAG_COST);
                self.lit(lit)
            }
            Expr::Filter(Filter::Lang(l)) => {
                let lit = self.map_lit(MapKind::Lang, l, META_COST);
                self.lit(lit)
            }
            Expr::Filter(Filter::Source(s)) => {
                let lit = self.map_lit(MapKind::Source, s, META_COST);
                self.lit(lit)
            }
            Expr::Filter(Filter::Verified(v)) => {
                let lit = self.verified_lit(*v);
                self.lit(lit)
            }
            Expr::Filter(Filter::Followers(cmp, n)) => {
                let at = self.open(OP_FOLLOWERS);
                let cmp = match cmp {
                    Cmp::Lt => 0,
                    Cmp::Le => 1,
                    Cmp::Eq => 2,
                    Cmp::Ge => 3,
                    Cmp::Gt => 4,
                };
                self.code.extend([cmp, *n as u32, (*n >> 32) as u32]);
                self.close(at);
                Compiled {
                    clauses: Vec::new(),
                    exact: false,
                }
            }
            Expr::Not(inner) => {
                let at = self.open(OP_NOT);
                self.compile(inner);
                self.close(at);
                Compiled {
                    clauses: Vec::new(),
                    exact: false,
                }
            }
            Expr::And(children) => {
                let at = self.open(OP_AND);
                let mut clauses = Vec::new();
                let mut exact = true;
                for child in children {
                    let c = self.compile(child);
                    clauses.extend(c.clauses);
                    exact &= c.exact;
                }
                self.close(at);
                Compiled { clauses, exact }
            }
            Expr::Or(children) => {
                // One clause: the rarest clause of each child, any of which
                // may occur. A child without clauses makes the OR clause-free.
                let at = self.open(OP_OR);
                let mut any = Some(Clause {
                    cost: 0,
                    lits: Vec::new(),
                });
                let mut exact = true;
                for child in children {
                    let c = self.compile(child);
                    // The OR is its clause if each child is its one clause.
                    exact &= c.exact && c.clauses.len() == 1;
                    let best = c.clauses.into_iter().min_by_key(|c| c.cost);
                    any = match (any, best) {
                        (Some(mut acc), Some(c)) => {
                            acc.cost = acc.cost.saturating_add(c.cost);
                            acc.lits.extend(c.lits);
                            Some(acc)
                        }
                        _ => None,
                    };
                }
                self.close(at);
                Compiled {
                    exact: exact && any.is_some(),
                    clauses: any.into_iter().collect(),
                }
            }
            Expr::Near {
                left,
                right,
                distance,
                ordered,
            } => {
                let at = self.open(OP_NEAR);
                self.code
                    .push(distance | if *ordered { NEAR_ORDERED } else { 0 });
                let mut clauses = self.compile(left).clauses;
                clauses.extend(self.compile(right).clauses);
                self.close(at);
                Compiled {
                    clauses,
                    exact: false,
                }
            }
        }
    }

    /// Phrases are found from the occurrences of their rarest word (the
    /// anchor), checking the other words in place. Every word that is not
    /// common is a clause: all must occur for the phrase to.
    fn phrase(&mut self, words: &[PhraseWord]) -> Compiled {
        // A pattern word is found by its literal start, as a prefix.
        let key = |w: &PhraseWord| (w.literal().to_owned(), w.prefix || w.glob);
        let anchor = words
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| {
                let (text, prefix) = key(w);
                word_cost(&text, prefix)
            })
            .map_or(0, |(i, _)| i);
        let (text, prefix) = key(&words[anchor]);
        let lit = self.word_lit(&text, prefix);
        // Each pair of consecutive exact words is a clause of its own (very
        // selective, even for "is okay"); so is each word that is not common.
        let exact_lits: Vec<u32> = words
            .iter()
            .map(|w| {
                if w.prefix || w.glob {
                    NONE
                } else {
                    self.word_lit(&w.text, false)
                }
            })
            .collect();
        let mut clauses = Vec::new();
        for pair in exact_lits.windows(2) {
            if pair[0] != NONE && pair[1] != NONE {
                let key = u64::from(pair[0]) << 32 | u64::from(pair[1]);
                let bigram = match self.bigrams.get(&key) {
                    Some(&l) => l,
                    None => {
                        let l = self.new_lit(BIGRAM_COST);
                        self.bigrams.insert(key, l);
                        l
                    }
                };
                clauses.push(Clause {
                    cost: BIGRAM_COST,
                    lits: vec![bigram],
                });
            }
        }
        // A two-word phrase is exactly its pair.
        let exact = words.len() == 2 && clauses.len() == 1;
        if !exact {
            for (i, w) in words.iter().enumerate() {
                let (text, prefix) = key(w);
                let cost = word_cost(&text, prefix);
                if i == anchor || cost < COMMON_COST {
                    let lit = self.word_lit(&text, prefix);
                    clauses.push(Clause {
                        cost,
                        lits: vec![lit],
                    });
                }
            }
        }
        let at = self.open(OP_PHRASE);
        self.code.extend([lit, anchor as u32, words.len() as u32]);
        for w in words {
            let bytes = w.text.as_bytes();
            let flags =
                if w.prefix { RECORD_PREFIX } else { 0 } | if w.glob { RECORD_GLOB } else { 0 };
            self.code.push(bytes.len() as u32 | flags);
            self.code.extend(bytes.chunks(4).map(pack));
        }
        self.close(at);
        Compiled { clauses, exact }
    }
}

/// Up to four bytes, little-endian, zero-padded.
fn pack(chunk: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word[..chunk.len()].copy_from_slice(chunk);
    u32::from_le_bytes(word)
}

/// Byte length of the word of a phrase word record or case-sensitive term.
fn record_len(header: u32) -> usize {
    (header & !(RECORD_PREFIX | RECORD_GLOB)) as usize
}

/// The bytes of a record of `len` bytes packed into `packed`.
fn unpack(packed: &[u32], len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = packed.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.truncate(len);
    bytes
}

/// Does `word` equal (or, for a prefix, start with; for a pattern, fit) the
/// phrase word whose record (`len | flags`, packed bytes) is `record`?
fn word_matches(record: &[u32], word: &[u8]) -> bool {
    let len = record_len(record[0]);
    if record[0] & RECORD_GLOB != 0 {
        let pattern = unpack(&record[1..1 + len.div_ceil(4)], len);
        return match (std::str::from_utf8(&pattern), std::str::from_utf8(word)) {
            (Ok(pattern), Ok(word)) => text::glob_matches(pattern, word),
            _ => false,
        };
    }
    let prefix = record[0] & RECORD_PREFIX != 0;
    if word.len() < len || (!prefix && word.len() != len) {
        return false;
    }
    word[..len]
        .chunks(4)
        .zip(&record[1..])
        .all(|(chunk, &packed)| pack(chunk) == packed)
}

fn node_len(header: u32) -> usize {
    (header >> 4) as usize
}

struct Eval<'a> {
    code: &'a [u32],
    doc: &'a Document,
    hits: &'a [u64],
    lit_seen: &'a [u32],
    generation: u32,
}

impl Eval<'_> {
    /// Hits of `lit`, as `(lit << 32) | pos`.
    fn hits_of(&self, lit: u32) -> &[u64] {
        let lo = u64::from(lit) << 32;
        let start = self.hits.partition_point(|&h| h < lo);
        let len = self.hits[start..].partition_point(|&h| h >> 32 == u64::from(lit));
        &self.hits[start..start + len]
    }

    fn has(&self, lit: u32) -> bool {
        self.lit_seen[lit as usize] == self.generation
    }

    /// Evaluates the node at `pc`.
    fn matches(&self, pc: usize) -> bool {
        let code = self.code;
        let header = code[pc];
        match header & 0xf {
            OP_LIT => self.has(code[pc + 1]),
            OP_FOLLOWERS => {
                let bound = u64::from(code[pc + 2]) | u64::from(code[pc + 3]) << 32;
                let cmp = match code[pc + 1] {
                    0 => Cmp::Lt,
                    1 => Cmp::Le,
                    2 => Cmp::Eq,
                    3 => Cmp::Ge,
                    _ => Cmp::Gt,
                };
                cmp.holds(self.doc.followers(), bound)
            }
            OP_NOT => !self.matches(pc + 1),
            OP_AND => self.children(pc).all(|c| self.matches(c)),
            OP_OR => self.children(pc).any(|c| self.matches(c)),
            OP_PHRASE => {
                let mut found = false;
                self.phrases(pc, |_, _| {
                    found = true;
                    false
                });
                found
            }
            OP_CASE => {
                let len = code[pc + 2] as usize;
                self.has(code[pc + 1])
                    && self
                        .doc
                        .contains_exactly(&unpack(&code[pc + 3..pc + 3 + len.div_ceil(4)], len))
            }
            _ => {
                let mut spans = Vec::new();
                self.spans(pc, &mut spans);
                !spans.is_empty()
            }
        }
    }

    /// The children of the AND/OR node at `pc`.
    fn children(&self, pc: usize) -> impl Iterator<Item = usize> + '_ {
        let end = pc + node_len(self.code[pc]);
        let mut next = pc + 1;
        std::iter::from_fn(move || {
            (next < end).then(|| {
                let child = next;
                next += node_len(self.code[child]);
                child
            })
        })
    }

    /// Calls `found(start, end)` for each occurrence (word positions, end
    /// exclusive) of the phrase at `pc` until it returns false.
    fn phrases(&self, pc: usize, mut found: impl FnMut(u32, u32) -> bool) {
        let code = self.code;
        let (lit, anchor, count) = (code[pc + 1], code[pc + 2], code[pc + 3]);
        if !self.has(lit) {
            return;
        }
        let text = self.doc.text().as_bytes();
        let spans = self.doc.spans();
        for &hit in self.hits_of(lit) {
            let Some(start) = (hit as u32).checked_sub(anchor) else {
                continue;
            };
            let end = start + count;
            if end as usize > spans.len() {
                continue;
            }
            let mut record = pc + 4;
            let all = spans[start as usize..end as usize].iter().all(|&(a, b)| {
                let len = record_len(code[record]);
                let ok = word_matches(&code[record..], &text[a as usize..b as usize]);
                record += 1 + len.div_ceil(4);
                ok
            });
            if all && !found(start, end) {
                return;
            }
        }
    }

    /// Word spans where the positional node at `pc` occurs.
    fn spans(&self, pc: usize, out: &mut Vec<(u32, u32)>) {
        let code = self.code;
        match code[pc] & 0xf {
            OP_LIT => out.extend(self.hits_of(code[pc + 1]).iter().filter_map(|&h| {
                let pos = h as u32;
                (pos != NO_POS).then_some((pos, pos + 1))
            })),
            OP_PHRASE => self.phrases(pc, |a, b| {
                out.push((a, b));
                true
            }),
            OP_OR => {
                for child in self.children(pc) {
                    self.spans(child, out);
                }
            }
            OP_NEAR => {
                let distance = code[pc + 1] & !NEAR_ORDERED;
                let ordered = code[pc + 1] & NEAR_ORDERED != 0;
                let left = pc + 2;
                let right = left + node_len(code[left]);
                let mut lefts = Vec::new();
                self.spans(left, &mut lefts);
                if lefts.is_empty() {
                    return;
                }
                let mut rights = Vec::new();
                self.spans(right, &mut rights);
                for &(a0, a1) in &lefts {
                    for &(b0, b1) in &rights {
                        let gap = if a1 <= b0 {
                            b0 - a1
                        } else if b1 <= a0 && !ordered {
                            a0 - b1
                        } else {
                            // Overlapping occurrences are one occurrence, not two near each other.
                            continue;
                        };
                        if gap <= distance {
                            out.push((a0.min(b0), a1.max(b1)));
                        }
                    }
                }
            }
            // Not positional; the parser keeps these out of NEAR.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(queries: &[&str]) -> RuleSet {
        RuleSet::compile(queries.iter().enumerate().map(|(i, q)| Rule {
            id: Uuid::from_u128(i as u128),
            version: 1,
            query: (*q).to_owned(),
            options: RuleOptions::default(),
        }))
        .expect("valid rules")
    }

    fn ids(set: &RuleSet, text: &str, scratch: &mut MatchScratch) -> Vec<u128> {
        let doc = Document::new(text, "en", "x", 0, false, &[], &[]);
        let mut out = Vec::new();
        set.matches_with(&doc, scratch, &mut out);
        out.iter().map(|r| r.id.as_u128()).collect()
    }

    #[test]
    fn one_scratch_serves_many_rule_sets_and_generations() {
        let small = set(&["card", "refund"]);
        let large = set(&["stolen", "card AND stolen", "\"my card\"", "NOT card"]);
        // Start close to the wrap-around of the 24-bit generation.
        let mut scratch = MatchScratch {
            generation: GENERATION_LIMIT - 3,
            ..MatchScratch::default()
        };
        for _ in 0..3 {
            assert_eq!(ids(&small, "my card", &mut scratch), [0]);
            assert_eq!(ids(&large, "my card was stolen", &mut scratch), [0, 1, 2]);
            assert_eq!(ids(&large, "stolen", &mut scratch), [0, 3]);
            assert_eq!(ids(&small, "refund", &mut scratch), [1]);
        }
        assert!(scratch.generation < 20, "wrapped around");
    }

    #[test]
    fn clauses_decide_what_is_evaluated() {
        let rules = set(&[
            "card OR stolen",            // exact: never evaluated
            "(card OR lost) AND stolen", // exact
            "\"is okay\"",               // exact: the pair
            "\"credit card\" NOT fee",   // evaluated when the pair occurs
            "followers:>10",             // no clause: always evaluated
        ]);
        assert_eq!(rules.stats().exact, 3);
        assert_eq!(rules.stats().always_evaluated, 1);
        let mut scratch = MatchScratch::default();
        assert_eq!(ids(&rules, "it is okay", &mut scratch), [2]);
        assert_eq!(scratch.evaluated(), 1);
        assert_eq!(ids(&rules, "okay is it", &mut scratch), Vec::<u128>::new());
        assert_eq!(ids(&rules, "credit card stolen", &mut scratch), [0, 1, 3]);
        assert_eq!(scratch.evaluated(), 2);
        assert_eq!(ids(&rules, "card credit", &mut scratch), [0]);
        assert_eq!(scratch.evaluated(), 1);
    }

    #[test]
    fn packed_phrase_words_compare_exactly() {
        for (word, text, expected) in [
            ("card", b"card".as_slice(), true),
            ("card", b"cards", false),
            ("cardi", b"card", false),
            ("café", "café".as_bytes(), true),
            ("abcdefgh", b"abcdefgh", true),
            ("abcdefgh", b"abcdefgx", false),
        ] {
            let mut record = vec![word.len() as u32];
            record.extend(word.as_bytes().chunks(4).map(pack));
            assert_eq!(word_matches(&record, text), expected, "{word} vs {text:?}");
            record[0] |= 1 << 31;
            assert_eq!(
                word_matches(&record, text),
                text.starts_with(word.as_bytes()),
                "{word}* vs {text:?}"
            );
        }
    }
}
