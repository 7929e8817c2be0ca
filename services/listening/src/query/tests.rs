//! Parser, error and matching tests of the rule language. Sample texts are
//! adapted from banking77 (PolyAI, CC BY 4.0) or written for the tests.

use earshot_testkit::rng::Rng;
use uuid::Uuid;

use super::*;

fn canon(query: &str) -> String {
    match parse(query) {
        Ok(expr) => expr.to_string(),
        Err(e) => panic!("{query:?} should parse: {e}"),
    }
}

fn err(query: &str) -> String {
    match parse(query) {
        Ok(expr) => panic!("{query:?} should not parse, got {expr}"),
        Err(e) => e.to_string(),
    }
}

fn doc(text: &str) -> Document {
    Document::new(text, "en", "twitter", 100, false, &[], &[])
}

fn rule(n: u128, query: &str) -> Rule {
    Rule {
        id: Uuid::from_u128(n),
        version: 1,
        query: query.to_owned(),
        options: Default::default(),
    }
}

/// Does `query` match `document`, through a compiled rule set?
fn hits_doc(query: &str, document: &Document) -> bool {
    let set = RuleSet::compile([rule(1, query)]).expect("query parses");
    let matched = set.matches(document);
    let naive = naive::matches(&parse(query).expect("query parses"), document);
    assert_eq!(
        !matched.is_empty(),
        naive,
        "rule set and reference disagree on {query:?}"
    );
    !matched.is_empty()
}

fn hits(query: &str, text: &str) -> bool {
    hits_doc(query, &doc(text))
}

// ---------------------------------------------------------------- parsing

#[test]
fn parses_terms_phrases_wildcards_tags_and_handles() {
    assert_eq!(canon("card"), "card");
    assert_eq!(canon("  CaRd  "), "card");
    assert_eq!(canon("\"Still  Waiting\""), "\"still waiting\"");
    assert_eq!(canon("“smart quotes”"), "\"smart quotes\"");
    assert_eq!(canon("\"card\""), "card");
    assert_eq!(canon("deliver*"), "deliver*");
    assert_eq!(canon("\"deliver*\""), "deliver*");
    assert_eq!(canon("\"deliver* late\""), "\"deliver* late\"");
    assert_eq!(canon("can't"), "\"can t\"");
    assert_eq!(canon("wi-fi*"), "\"wi fi*\"");
    assert_eq!(canon("10:30"), "\"10 30\"");
    assert_eq!(canon("#Fail"), "#fail");
    assert_eq!(canon("@Acme_Help"), "@acme_help");
    assert_eq!(canon("@acme.bank."), "@acme.bank");
    assert_eq!(canon("Café"), "café");
    assert_eq!(canon("CAFE\u{301}"), "café");
    assert_eq!(canon("東京"), "\"東 京\"");
    // Lower-case operator names are words.
    assert_eq!(
        canon("and or not near/2"),
        "(and AND or AND not AND \"near 2\")"
    );
}

#[test]
fn parses_filters() {
    assert_eq!(canon("lang:EN"), "lang:en");
    assert_eq!(canon("Lang:pt_BR"), "lang:pt-br");
    assert_eq!(canon("lang:zh-hant-tw"), "lang:zh-hant-tw");
    assert_eq!(canon("source:Twitter"), "source:twitter");
    assert_eq!(canon("source:\"App Store\""), "source:\"app store\"");
    assert_eq!(canon("followers:>1000"), "followers:>1000");
    assert_eq!(canon("followers:>=10k"), "followers:>=10000");
    assert_eq!(canon("followers:<5000"), "followers:<5000");
    assert_eq!(canon("followers:<=1.5M"), "followers:<=1500000");
    assert_eq!(canon("followers:=42"), "followers:=42");
    assert_eq!(canon("followers:42"), "followers:=42");
    assert_eq!(canon("verified:TRUE"), "verified:true");
    assert_eq!(canon("verified:false"), "verified:false");
}

#[test]
fn parses_operators_with_precedence() {
    assert_eq!(canon("a AND b"), "(a AND b)");
    assert_eq!(canon("a b"), "(a AND b)");
    assert_eq!(canon("a AND b c AND d"), "(a AND b AND c AND d)");
    assert_eq!(canon("a OR b"), "(a OR b)");
    assert_eq!(canon("NOT a"), "NOT a");
    assert_eq!(canon("NOT NOT a"), "NOT NOT a");
    assert_eq!(canon("a AND NOT b"), "(a AND NOT b)");
    assert_eq!(canon("a NOT b"), "(a AND NOT b)");
    assert_eq!(canon("a NEAR/3 b"), "(a NEAR/3 b)");
    // NOT > NEAR > AND > OR
    assert_eq!(canon("a OR b AND c"), "(a OR (b AND c))");
    assert_eq!(canon("a OR b c"), "(a OR (b AND c))");
    assert_eq!(canon("a AND b OR c"), "((a AND b) OR c)");
    assert_eq!(canon("NOT a OR b"), "(NOT a OR b)");
    assert_eq!(canon("NOT a b"), "(NOT a AND b)");
    assert_eq!(canon("a b NEAR/2 c"), "(a AND (b NEAR/2 c))");
    assert_eq!(canon("a NEAR/2 b AND c"), "((a NEAR/2 b) AND c)");
    assert_eq!(
        canon("a AND b NEAR/2 c OR d"),
        "((a AND (b NEAR/2 c)) OR d)"
    );
    assert_eq!(canon("a NEAR/1 b NEAR/2 c"), "((a NEAR/1 b) NEAR/2 c)");
    assert_eq!(canon("(a OR b) AND c"), "((a OR b) AND c)");
    assert_eq!(canon("NOT (a OR b)"), "NOT (a OR b)");
    assert_eq!(canon("(a OR (b OR c))"), "(a OR b OR c)");
    assert_eq!(
        canon("(refund OR \"money back\") NEAR/4 deliver*"),
        "((refund OR \"money back\") NEAR/4 deliver*)"
    );
    assert_eq!(canon("a NEAR/0 b"), "(a NEAR/0 b)");
    assert_eq!(canon("(a)"), "a");
    assert_eq!(canon("a\n\tOR\r\nb"), "(a OR b)");
    assert_eq!(canon("(a)(b)"), "(a AND b)");
    assert_eq!(canon("\"a b\"c"), "(\"a b\" AND c)");
}

#[test]
fn display_round_trips() {
    for query in [
        "card",
        "(refund* OR \"charged twice\" OR #fail) AND NOT test lang:en followers:>=1k",
        "\"card\" NEAR/3 (stolen OR lost) AND @acme_bank AND verified:false",
        "source:\"app store\" OR source:email",
        "NOT (a b) OR NOT (c NEAR/2 d) OR x",
        "((a NEAR/1 b) NEAR/2 \"c d*\") followers:<10",
        "can't log-in",
    ] {
        let expr = parse(query).expect("parses");
        let again = parse(&expr.to_string()).expect("canonical form parses");
        assert_eq!(expr, again, "{query:?} → {expr}");
    }
}

// ---------------------------------------------------------------- errors

#[test]
fn reports_missing_operands() {
    assert_eq!(
        err("card stolen AND"),
        "at 15 (column 16): expected a term or \"(\" after AND, found end of query"
    );
    assert_eq!(
        err(""),
        "at 0 (column 1): expected a term or \"(\" at start of query, found end of query"
    );
    assert_eq!(
        err("OR card"),
        "at 0 (column 1): expected a term or \"(\" at start of query, found OR"
    );
    assert_eq!(
        err("card OR OR x"),
        "at 8 (column 9): expected a term or \"(\" after OR, found OR"
    );
    assert_eq!(
        err("card AND )"),
        "at 9 (column 10): expected a term or \"(\" after AND, found \")\""
    );
    assert_eq!(
        err("NOT"),
        "at 3 (column 4): expected a term or \"(\" after NOT, found end of query"
    );
    assert_eq!(
        err("()"),
        "at 1 (column 2): expected a term or \"(\" after \"(\", found \")\""
    );
    assert_eq!(
        err("card NEAR/3"),
        "at 11 (column 12): expected a term or \"(\" after NEAR/3, found end of query"
    );
    assert_eq!(
        err("NEAR/3 card"),
        "at 0 (column 1): expected a term or \"(\" at start of query, found NEAR/3"
    );
    // Columns count characters, offsets bytes.
    assert_eq!(
        err("café AND"),
        "at 9 (column 9): expected a term or \"(\" after AND, found end of query"
    );
}

#[test]
fn reports_unbalanced_parentheses_and_quotes() {
    assert_eq!(
        err("(card OR stolen"),
        "at 15 (column 16): expected \")\" to close the \"(\" at 0, found end of query"
    );
    assert_eq!(
        err("card)"),
        "at 4 (column 5): unexpected \")\" with no matching \"(\""
    );
    assert_eq!(
        err("card \"still waiting"),
        "at 5 (column 6): unterminated phrase, expected a closing \""
    );
    assert_eq!(
        err("a \"\" b"),
        "at 2 (column 3): empty phrase, expected at least one word between the quotes"
    );
    assert_eq!(
        err("\"?!\""),
        "at 0 (column 1): phrase \"?!\" has no letters or digits to match"
    );
}

#[test]
fn reports_bad_near() {
    assert_eq!(
        err("card NEAR stolen"),
        "at 5 (column 6): expected a distance after NEAR, like NEAR/3, found \"NEAR\""
    );
    assert_eq!(
        err("card NEAR/x stolen"),
        "at 10 (column 11): expected a number of words up to 1000 after NEAR/, like NEAR/3, \
         found \"x\""
    );
    assert_eq!(
        err("card NEAR/+3 stolen"),
        "at 10 (column 11): expected a number of words up to 1000 after NEAR/, like NEAR/3, \
         found \"+3\""
    );
    assert_eq!(
        err("card NEAR/1001 stolen"),
        "at 10 (column 11): expected a number of words up to 1000 after NEAR/, like NEAR/3, \
         found \"1001\""
    );
    assert_eq!(
        err("card NEAR/3 NOT stolen"),
        "at 12 (column 13): NEAR only joins words, phrases and wildcards (or OR-groups of them), \
         found NOT"
    );
    assert_eq!(
        err("#fail NEAR/2 card"),
        "at 0 (column 1): NEAR only joins words, phrases and wildcards (or OR-groups of them), \
         found a hashtag"
    );
    assert_eq!(
        err("(a AND b) NEAR/2 c"),
        "at 0 (column 1): NEAR only joins words, phrases and wildcards (or OR-groups of them), \
         found AND"
    );
    assert_eq!(
        err("a NEAR/2 (b OR lang:en)"),
        "at 9 (column 10): NEAR only joins words, phrases and wildcards (or OR-groups of them), \
         found a filter"
    );
    assert_eq!(
        err("a NEAR/2 @acme"),
        "at 9 (column 10): NEAR only joins words, phrases and wildcards (or OR-groups of them), \
         found a handle"
    );
}

#[test]
fn reports_bad_filters() {
    assert_eq!(
        err("card lang:english"),
        "at 10 (column 11): expected a language code like en or pt-br after lang:, \
         found \"english\""
    );
    assert_eq!(
        err("lang: en"),
        "at 5 (column 6): expected a language code like en or pt-br after lang:, found nothing"
    );
    assert_eq!(
        err("followers:lots"),
        "at 10 (column 11): expected a comparison and a number like >1000 or <=10k, or a \
         range like [1000 TO 5000] or 1000..5000 after followers:, found \"lots\""
    );
    assert_eq!(
        err("followers:>99999999999999999999"),
        "at 10 (column 11): expected a comparison and a number like >1000 or <=10k, or a \
         range like [1000 TO 5000] or 1000..5000 after followers:, found \">99999999999999999999\""
    );
    assert_eq!(
        err("verified:yes"),
        "at 9 (column 10): expected true or false after verified:, found \"yes\""
    );
    assert_eq!(
        err("source:\"\""),
        "at 8 (column 9): expected a source like twitter after source:, found nothing"
    );
    assert_eq!(
        err("source:\"app store"),
        "at 7 (column 8): unterminated phrase, expected a closing \""
    );
    assert_eq!(
        err("card colour:red"),
        "at 5 (column 6): unknown filter \"colour:\", expected lang:, source:, followers: or \
         verified: (put the term in quotes to search for it as text)"
    );
    assert_eq!(canon("\"https://acme.com\""), "\"https acme com\"");
}

#[test]
fn reports_bad_terms() {
    let leading = "a wildcard cannot start a word (words are looked up by their start): put at \
                   least one letter before ? or *, like deliver* or customi?e";
    assert_eq!(err("*ing"), format!("at 0 (column 1): {leading}"));
    assert_eq!(err("card ?ard"), format!("at 5 (column 6): {leading}"));
    assert_eq!(
        err("\"late *ivery\""),
        format!("at 6 (column 7): {leading}")
    );
    // Inner wildcards and doubled stars are patterns, not errors.
    assert_eq!(canon("del*ivery"), "del*ivery");
    assert_eq!(canon("card**"), "card*");
    assert_eq!(canon("\"late del*ivery\""), "\"late del*ivery\"");
    assert_eq!(
        err("a *"),
        "at 2 (column 3): term \"*\" has no letters or digits to match"
    );
    assert_eq!(
        err("card !!!"),
        "at 5 (column 6): term \"!!!\" has no letters or digits to match"
    );
    assert_eq!(
        err("card -spam"),
        "at 5 (column 6): \"-\" is not an operator, use NOT to exclude a term"
    );
    assert_eq!(
        err("+card"),
        "at 0 (column 1): \"+\" is not an operator, use NOT to exclude a term"
    );
    assert_eq!(
        err("#"),
        "at 1 (column 2): expected a name after #, found nothing"
    );
    assert_eq!(
        err("@ x"),
        "at 1 (column 2): expected a name after @, found nothing"
    );
    assert_eq!(
        err("#fail*"),
        "at 5 (column 6): wildcards are not supported in hashtags"
    );
    assert_eq!(
        err("#fail-whale"),
        "at 5 (column 6): expected letters, digits or _ in a hashtag, found \"-\""
    );
    assert_eq!(
        err("@acme!"),
        "at 5 (column 6): expected letters, digits, _ or . in a handle, found \"!\""
    );
}

#[test]
fn limits_nesting() {
    let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(canon(&ok), "a");
    let deep = format!(
        "{}a{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        err(&deep),
        "at 64 (column 65): query nests too deeply, at most 64 levels of parentheses, NOT and NEAR"
    );
    let nots = format!("{}a", "NOT ".repeat(MAX_DEPTH + 1));
    assert!(err(&nots).contains("nests too deeply"));
    let nears = format!("a{}", " NEAR/1 a".repeat(MAX_DEPTH + 1));
    assert!(err(&nears).contains("nests too deeply"));
    // Long flat lists are fine.
    let wide = vec!["w"; 5_000].join(" OR ");
    assert!(parse(&wide).is_ok());
}

#[test]
fn errors_have_typed_fields() {
    let e = parse("a AND").expect_err("incomplete");
    assert_eq!(e.offset, 5);
    assert_eq!(e.column, 6);
    assert_eq!(
        e.kind,
        ParseErrorKind::Expected {
            expected: "a term or \"(\" after AND".into(),
            found: "end of query".into()
        }
    );
    let bad = RuleSet::compile([rule(1, "ok"), rule(7, "bad AND")]).expect_err("rule 7 is bad");
    assert_eq!(bad.id, Uuid::from_u128(7));
    assert_eq!(
        bad.to_string(),
        "rule 00000000-0000-0000-0000-000000000007 (version 1): at 7 (column 8): expected a term \
         or \"(\" after AND, found end of query"
    );
}

// ---------------------------------------------------------------- semantics

#[test]
fn words_match_whole_words_in_any_case() {
    assert!(hits("card", "I am still waiting on my card?"));
    assert!(hits("card", "CARD declined"));
    assert!(hits("CARD", "my card"));
    assert!(!hits("card", "my cards"));
    assert!(!hits("card", "discard it"));
    assert!(hits("card", "#card @card"));
    assert!(!hits("card", ""));
}

#[test]
fn phrases_match_consecutive_words_across_punctuation() {
    let q = "\"still waiting\"";
    assert!(hits(q, "I am still waiting on my card?"));
    assert!(hits(q, "STILL... waiting!"));
    assert!(hits(q, "still-waiting"));
    assert!(!hits(q, "still not waiting"));
    assert!(!hits(q, "waiting still"));
    assert!(hits("\"card arrival\"", "card-arrival"));
    assert!(hits("can't", "I can’t log in"));
    assert!(hits("\"top up\"", "Why did my top-up fail?"));
    assert!(hits("\"my card\"", "my card"));
    assert!(!hits("\"my card\"", "my"));
    // Repeated words.
    assert!(hits("\"very very good\"", "it was very very very good"));
    // Phrases of common words, and longer ones whose pairs occur apart.
    assert!(hits("\"is okay\"", "it is okay"));
    assert!(!hits("\"is okay\"", "okay, it is"));
    assert!(hits("\"on my way\"", "ON MY WAY!"));
    assert!(!hits("\"on my way\"", "on my own way, my way"));
    assert!(hits("\"on my way\" OR \"is okay\"", "is okay"));
    assert!(hits(
        "\"my card\" AND NOT \"my card was\"",
        "my card is here"
    ));
    assert!(!hits(
        "\"my card\" AND NOT \"my card was\"",
        "my card was here"
    ));
}

#[test]
fn wildcards_match_prefixes() {
    for text in [
        "Delivery was late",
        "it delivered",
        "deliver it",
        "DELIVERIES",
    ] {
        assert!(hits("deliver*", text), "{text}");
    }
    assert!(!hits("deliver*", "undelivered"));
    assert!(!hits("deliver*", "deli"));
    assert!(!hits("\"deliver* late\"", "the delivery was late"));
    assert!(hits("\"deliver* late\"", "Delivery late again"));
    assert!(hits("\"late deliver*\"", "another late delivery"));
    // The same string as word and as prefix.
    assert!(hits("card AND card*", "cards and card"));
    assert!(!hits("card AND card*", "cards"));
    assert!(hits("card* AND NOT card", "cards"));
}

#[test]
fn near_matches_either_order_within_distance() {
    let q = "card NEAR/2 stolen";
    assert!(hits(q, "card stolen"));
    assert!(hits(q, "My card was stolen"));
    assert!(hits(q, "stolen: my card"));
    assert!(hits(q, "card, sadly, was stolen"));
    assert!(!hits(q, "card was sadly and cruelly stolen"));
    assert!(!hits(q, "stolen it was, not my card"));
    assert!(!hits(q, "card only"));
    assert!(hits("card NEAR/0 stolen", "stolen card"));
    assert!(!hits("card NEAR/0 stolen", "card was stolen"));
    // Phrases count as one unit; distance is between their ends.
    assert!(hits(
        "\"credit card\" NEAR/1 stolen",
        "my credit card was stolen"
    ));
    assert!(hits("\"credit card\" NEAR/1 stolen", "stolen credit card"));
    assert!(!hits(
        "\"credit card\" NEAR/1 stolen",
        "credit card that was stolen"
    ));
    // A word is not near itself.
    assert!(!hits("card NEAR/3 card", "one card"));
    assert!(hits("card NEAR/3 card", "card after card"));
    // OR groups, wildcards and chains.
    assert!(hits("(lost OR stolen) NEAR/3 card*", "I lost both cards"));
    assert!(!hits(
        "(lost OR stolen) NEAR/1 card*",
        "I lost both my cards"
    ));
    assert!(hits(
        "refund NEAR/2 card NEAR/2 late",
        "refund my card, late"
    ));
    assert!(!hits(
        "refund NEAR/2 card NEAR/2 late",
        "refund my card, it is very late"
    ));
    // Far occurrences do not help, near ones do.
    assert!(hits(
        "card NEAR/1 stolen",
        "card here, then many many words here, stolen card"
    ));
}

#[test]
fn not_and_precedence() {
    assert!(hits("card AND NOT stolen", "card declined"));
    assert!(!hits("card AND NOT stolen", "card stolen"));
    assert!(hits("card NOT stolen", "card declined"));
    assert!(hits("NOT spam", "hello"));
    assert!(!hits("NOT spam", "spam spam"));
    assert!(hits("NOT (spam OR scam)", "hello"));
    assert!(!hits("NOT (spam OR scam)", "a scam"));
    // a OR (b AND c)
    assert!(hits("a OR b c", "a"));
    assert!(!hits("a OR b c", "b"));
    assert!(hits("a OR b c", "c b"));
    // (NOT a) AND b
    assert!(hits("NOT a b", "b"));
    assert!(!hits("NOT a b", "a b"));
    assert!(!hits("NOT a b", "x"));
    // NOT binds tighter than NEAR is an error; NEAR tighter than AND.
    assert!(hits("x y NEAR/1 z", "z y ... x"));
    assert!(!hits("x y NEAR/1 z", "y a b z x"));
}

#[test]
fn filters_match_metadata() {
    let d = |lang: &str, source: &str, followers: u64, verified: bool| {
        Document::new("hello", lang, source, followers, verified, &[], &[])
    };
    assert!(hits_doc("lang:en", &d("en", "x", 0, false)));
    assert!(hits_doc("lang:en", &d("en-GB", "x", 0, false)));
    assert!(hits_doc("lang:en", &d("EN_us", "x", 0, false)));
    assert!(!hits_doc("lang:en", &d("fr", "x", 0, false)));
    assert!(!hits_doc("lang:en", &d("", "x", 0, false)));
    assert!(hits_doc("lang:en-gb", &d("en_GB", "x", 0, false)));
    assert!(!hits_doc("lang:en-gb", &d("en", "x", 0, false)));
    assert!(hits_doc("source:twitter", &d("en", "Twitter", 0, false)));
    assert!(hits_doc(
        "source:\"App Store\"",
        &d("en", "app store", 0, false)
    ));
    assert!(!hits_doc("source:twitter", &d("en", "email", 0, false)));
    for (q, yes, no) in [
        ("followers:>1000", 1001, 1000),
        ("followers:>=1k", 1000, 999),
        ("followers:<10", 9, 10),
        ("followers:<=10", 10, 11),
        ("followers:=5", 5, 6),
        ("followers:5", 5, 4),
    ] {
        assert!(hits_doc(q, &d("en", "x", yes, false)), "{q} {yes}");
        assert!(!hits_doc(q, &d("en", "x", no, false)), "{q} {no}");
    }
    assert!(hits_doc("verified:true", &d("en", "x", 0, true)));
    assert!(!hits_doc("verified:true", &d("en", "x", 0, false)));
    assert!(hits_doc("verified:false", &d("en", "x", 0, false)));
    assert!(hits_doc(
        "hello lang:en source:twitter followers:>10 verified:true",
        &d("en", "twitter", 11, true)
    ));
    assert!(!hits_doc(
        "hello lang:en source:twitter followers:>10 verified:true",
        &d("en", "twitter", 11, false)
    ));
}

#[test]
fn hashtags_and_handles_come_from_text_and_metadata() {
    assert!(hits("#fail", "Worst service ever #FAIL"));
    assert!(!hits("#fail", "total fail"));
    assert!(hits("fail", "#fail"));
    assert!(hits("@acme", "Hey @ACME, my card?"));
    assert!(!hits("@acme", "mail bob@acme.com"));
    assert!(!hits("@acme", "acme is down"));
    assert!(hits("@acme_help", "ping @Acme_Help."));
    let meta = Document::new("no tags here", "en", "x", 0, false, &["#Fail"], &["ACME"]);
    assert!(hits_doc("#fail", &meta));
    assert!(hits_doc("@acme", &meta));
    assert!(!hits_doc("fail", &meta));
}

#[test]
fn unicode_is_normalised_on_both_sides() {
    assert!(hits("café", "Best CAFÉ in town"));
    assert!(hits("Café", "cafe\u{301} au lait"));
    assert!(hits("CAFE\u{301}", "café"));
    assert!(hits("\"crème brûlée\"", "CRÈME BRÛLÉE!"));
    assert!(!hits("cafe", "café"));
    assert!(hits("straße", "STRAßE"));
    assert!(hits("οδος", "ΟΔΟΣ"));
    assert!(hits("zürich*", "Zürichsee"));
    assert!(hits("東京", "東京タワーに行く"));
    assert!(!hits("東京", "京東"));
    assert!(hits("👍", "great 👍🏽"));
    assert!(hits("#café", "#Cafe\u{301}"));
}

// ---------------------------------------------------------------- rule sets

#[test]
fn rule_set_returns_matching_rules_in_order_with_versions() {
    let rules = vec![
        Rule {
            id: Uuid::from_u128(1),
            version: 3,
            query: "card NEAR/3 (stolen OR lost)".into(),
            options: Default::default(),
        },
        rule(2, "refund* OR \"charged twice\""),
        rule(3, "NOT spam"),
        rule(4, "followers:>1000"),
        rule(5, "lang:fr"),
        rule(6, "#fail OR @acme"),
        rule(7, "card AND NOT stolen"),
    ];
    let set = RuleSet::compile(&rules).expect("valid rules");
    assert_eq!(set.len(), 7);
    let stats = set.stats();
    assert_eq!(stats.rules, 7);
    assert_eq!(stats.always_evaluated, 2, "NOT spam, followers:>1000");
    assert!(stats.automaton_bytes > 0);

    let ids =
        |d: &Document| -> Vec<u128> { set.matches(d).iter().map(|r| r.id.as_u128()).collect() };
    assert_eq!(ids(&doc("My card was stolen, I want a refund")), [1, 2, 3]);
    assert_eq!(set.matches(&doc("my card was lost"))[0].version, 3);
    assert_eq!(ids(&doc("card declined")), [3, 7]);
    assert_eq!(ids(&doc("spam")), Vec::<u128>::new());
    let vip = Document::new("spam #fail", "fr-CA", "x", 5000, false, &[], &[]);
    assert_eq!(ids(&vip), [4, 5, 6]);

    let mut scratch = MatchScratch::default();
    let mut out = vec![RuleRef {
        id: Uuid::nil(),
        version: 0,
    }];
    set.matches_with(&doc("charged twice!"), &mut scratch, &mut out);
    assert_eq!(
        out.iter().map(|r| r.id.as_u128()).collect::<Vec<_>>(),
        [2, 3]
    );
}

#[test]
fn empty_rule_sets_match_nothing() {
    let set = RuleSet::compile(Vec::<Rule>::new()).expect("no rules");
    assert!(set.is_empty());
    assert!(set.matches(&doc("anything")).is_empty());
    let only_filters = RuleSet::compile([rule(1, "lang:en")]).expect("valid");
    assert_eq!(only_filters.matches(&doc("anything")).len(), 1);
    assert_eq!(only_filters.stats().patterns, 0);
}

#[test]
fn rule_sets_agree_with_a_reference_evaluator() {
    // Random rules over a small vocabulary, matched against random mentions,
    // through one big rule set; each rule checked against the reference.
    const VOCAB: &[&str] = &[
        "card", "cards", "carded", "stolen", "lost", "refund", "refunds", "late", "deliver",
        "delivery", "my", "the", "still", "waiting", "café", "a", "app", "apple",
    ];
    let mut rng = Rng(0x5eed);
    let mut rules = Vec::new();
    for n in 0..600u128 {
        rules.push(rule(n, &random_query(&mut rng, VOCAB, 3)));
    }
    let set = RuleSet::compile(&rules).expect("generated rules parse");
    let exprs: Vec<Expr> = rules
        .iter()
        .map(|r| parse(&r.query).expect("parses"))
        .collect();
    let mut scratch = MatchScratch::default();
    let mut out = Vec::new();
    let mut matched_any = 0;
    for _ in 0..400 {
        let len = rng.below(12);
        let mut text = String::new();
        for _ in 0..len {
            let w = VOCAB[rng.below(VOCAB.len())];
            let w = match rng.below(6) {
                0 => format!("#{w}"),
                1 => w.to_uppercase(),
                _ => w.to_owned(),
            };
            text.push_str(&w);
            text.push_str([" ", ", ", "! ", "-"][rng.below(4)]);
        }
        let langs = ["en", "en-GB", "fr", ""];
        let d = Document::new(
            &text,
            langs[rng.below(4)],
            ["twitter", "email"][rng.below(2)],
            rng.below(3000) as u64,
            rng.below(2) == 0,
            &[],
            &["acme"][..rng.below(2)],
        );
        set.matches_with(&d, &mut scratch, &mut out);
        let got: Vec<u128> = out.iter().map(|r| r.id.as_u128()).collect();
        let want: Vec<u128> = exprs
            .iter()
            .enumerate()
            .filter(|(_, e)| naive::matches(e, &d))
            .map(|(i, _)| i as u128)
            .collect();
        for &i in &want {
            assert!(
                got.contains(&i),
                "missed {:?} on {text:?}",
                rules[i as usize].query
            );
        }
        for &i in &got {
            assert!(
                want.contains(&i),
                "wrongly matched {:?} on {text:?}",
                rules[i as usize].query
            );
        }
        matched_any += usize::from(!got.is_empty());
    }
    assert!(matched_any > 100, "the generated rules should match often");
}

fn random_positional(rng: &mut Rng, vocab: &[&str], depth: u32) -> String {
    let w = vocab[rng.below(vocab.len())];
    match rng.below(if depth == 0 { 3 } else { 5 }) {
        0 | 1 => w.to_owned(),
        2 => {
            let cut = w.char_indices().nth(2).map_or(w.len(), |(i, _)| i);
            let second = w.char_indices().nth(1).map_or(w.len(), |(i, _)| i);
            match rng.below(3) {
                0 => format!("{}*", &w[..cut]),
                // One character, and any number of them, inside the word.
                1 if cut < w.len() => format!("{}?{}", &w[..second], &w[cut..]),
                _ => format!("{}*{}", &w[..second], &w[cut..]),
            }
        }
        3 => format!("\"{w} {}\"", vocab[rng.below(vocab.len())]),
        _ => format!(
            "({} OR {})",
            random_positional(rng, vocab, depth - 1),
            random_positional(rng, vocab, depth - 1)
        ),
    }
}

fn random_query(rng: &mut Rng, vocab: &[&str], depth: u32) -> String {
    let choices = if depth == 0 { 4 } else { 12 };
    match rng.below(choices) {
        0 => random_positional(rng, vocab, 1),
        1 => vocab[rng.below(vocab.len())].to_owned(),
        2 => [
            "lang:en",
            "lang:en-gb",
            "source:twitter",
            "followers:>1000",
            "followers:<=10",
            "verified:true",
            "verified:false",
        ][rng.below(7)]
        .to_owned(),
        3 => ["#card", "#late", "@acme", "#café"][rng.below(4)].to_owned(),
        4 | 5 => format!(
            "({} AND {})",
            random_query(rng, vocab, depth - 1),
            random_query(rng, vocab, depth - 1)
        ),
        6 | 7 => format!(
            "({} OR {})",
            random_query(rng, vocab, depth - 1),
            random_query(rng, vocab, depth - 1)
        ),
        8 => format!("NOT {}", random_query(rng, vocab, depth - 1)),
        9 => format!(
            "{} {}",
            random_query(rng, vocab, depth - 1),
            random_query(rng, vocab, depth - 1)
        ),
        _ => format!(
            "({} NEAR/{}{} {})",
            random_positional(rng, vocab, 1),
            rng.below(4),
            if rng.below(3) == 0 { "f" } else { "" },
            random_positional(rng, vocab, 1)
        ),
    }
}

/// A slow, obviously correct evaluator straight on the AST.
mod naive {
    use super::super::{Document, Expr, Filter};

    fn spans(expr: &Expr, words: &[&str]) -> Vec<(usize, usize)> {
        match expr {
            Expr::Word(w) => (0..words.len())
                .filter(|&i| words[i] == w)
                .map(|i| (i, i + 1))
                .collect(),
            Expr::Prefix(p) => (0..words.len())
                .filter(|&i| words[i].starts_with(p.as_str()))
                .map(|i| (i, i + 1))
                .collect(),
            Expr::Phrase(ws) => (0..words.len())
                .filter(|&i| {
                    i + ws.len() <= words.len()
                        && ws.iter().enumerate().all(|(j, w)| {
                            if w.glob {
                                glob(&w.text, words[i + j])
                            } else if w.prefix {
                                words[i + j].starts_with(w.text.as_str())
                            } else {
                                words[i + j] == w.text
                            }
                        })
                })
                .map(|i| (i, i + ws.len()))
                .collect(),
            Expr::Or(children) => children.iter().flat_map(|c| spans(c, words)).collect(),
            Expr::Near {
                left,
                right,
                distance,
                ordered,
            } => {
                let mut out = Vec::new();
                for (a0, a1) in spans(left, words) {
                    for (b0, b1) in spans(right, words) {
                        let gap = if a1 <= b0 {
                            b0 - a1
                        } else if b1 <= a0 && !ordered {
                            a0 - b1
                        } else {
                            continue;
                        };
                        if gap <= *distance as usize {
                            out.push((a0.min(b0), a1.max(b1)));
                        }
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// `?` one character, `*` any: by recursion, unlike the matcher.
    fn glob(pattern: &str, word: &str) -> bool {
        match pattern.chars().next() {
            None => word.is_empty(),
            Some('*') => {
                let rest = &pattern[1..];
                word.char_indices()
                    .map(|(i, _)| i)
                    .chain([word.len()])
                    .any(|i| glob(rest, &word[i..]))
            }
            Some(p) => word.chars().next().is_some_and(|c| {
                (p == '?' || p == c) && glob(&pattern[p.len_utf8()..], &word[c.len_utf8()..])
            }),
        }
    }

    pub fn matches(expr: &Expr, doc: &Document) -> bool {
        let words: Vec<&str> = doc.words().collect();
        eval(expr, doc, &words)
    }

    fn eval(expr: &Expr, doc: &Document, words: &[&str]) -> bool {
        match expr {
            Expr::Word(_) | Expr::Prefix(_) | Expr::Phrase(_) | Expr::Near { .. } => {
                !spans(expr, words).is_empty()
            }
            Expr::Hashtag(t) => doc.hashtags().any(|h| h == t),
            Expr::CaseSensitive(_) => unreachable!("random queries have no case-sensitive terms"),
            Expr::Handle(h) => doc.handles().any(|x| x == h),
            Expr::Filter(Filter::Lang(l)) => {
                doc.lang() == l || doc.lang().starts_with(&format!("{l}-"))
            }
            Expr::Filter(Filter::Source(s)) => doc.source() == s,
            Expr::Filter(Filter::Followers(cmp, n)) => cmp.holds(doc.followers(), *n),
            Expr::Filter(Filter::Verified(v)) => doc.verified() == *v,
            Expr::Not(inner) => !eval(inner, doc, words),
            Expr::And(children) => children.iter().all(|c| eval(c, doc, words)),
            Expr::Or(children) => children.iter().any(|c| eval(c, doc, words)),
        }
    }
}

// ------------------------------------------------- other tools' constructs

#[test]
fn other_tools_constructs_have_canonical_forms_that_parse_back() {
    for (query, canonical) in [
        ("customi?e", "customi?e"),
        ("\"Customi?e* service\"", "\"customi?e* service\""),
        ("\"apple juice\"~5", "(apple NEAR/5 juice)"),
        ("\"a b c\"~2", "((a NEAR/2 b) NEAR/2 c)"),
        ("card NEAR/3f stolen", "(card NEAR/3f stolen)"),
        ("card ONEAR/3 stolen", "(card NEAR/3f stolen)"),
        ("ONEARTH", "onearth"),
        ("{BT} {Café}", "({BT} AND {Café})"),
        ("language:EN", "lang:en"),
        (
            "authorFollowers:[1k TO 5k]",
            "(followers:>=1000 AND followers:<=5000)",
        ),
        ("authorFollowers:[10 TO *]", "followers:>=10"),
        ("followers_count:500", "followers:>=500"),
        ("followers:500", "followers:=500"),
        (
            "followers_count:10..20",
            "(followers:>=10 AND followers:<=20)",
        ),
        (
            "authorVerified:TRUE is:verified",
            "(verified:true AND verified:true)",
        ),
    ] {
        assert_eq!(canon(query), canonical, "{query}");
        assert_eq!(
            canon(canonical),
            canonical,
            "{canonical} parses back to itself"
        );
    }
}

#[test]
fn other_tools_constructs_match_as_there() {
    assert!(hits("customi?e", "please customise it") && hits("customi?e", "CUSTOMIZE"));
    assert!(!hits("customi?e", "customie") && !hits("customi?e", "customizes"));
    assert!(hits("colo*r", "colour") && hits("colo*r", "color") && !hits("colo*r", "colours"));
    assert!(hits("\"apple juice\"~2", "juice, then an apple"));
    assert!(!hits("\"apple juice\"~2", "juice and then one apple"));
    assert!(hits("card NEAR/1f stolen", "card was stolen"));
    assert!(!hits("card NEAR/1f stolen", "stolen card"));
    assert!(hits("card NEAR/1 stolen", "stolen card"));
    let bt = RuleSet::compile([rule(1, "{BT} AND broadband")]).expect("parses");
    assert_eq!(bt.matches(&doc("BT broadband")).len(), 1);
    assert!(bt.matches(&doc("bt broadband")).is_empty());
    assert!(bt.matches(&doc("BTbroadband broadband")).is_empty());
}

#[test]
fn folding_rules_ignore_accents_on_both_sides_and_others_do_not() {
    let folding = RuleOptions { fold_accents: true };
    let rules = RuleSet::compile([
        Rule {
            options: folding,
            ..rule(1, "nino OR #café")
        },
        rule(2, "nino"),
        Rule {
            options: folding,
            ..rule(3, "\"crème brûlée\"")
        },
    ])
    .expect("parses");
    let ids = |text: &str| -> Vec<u128> {
        let matched = rules.matches(&doc(text));
        matched.iter().map(|r| r.id.as_u128()).collect()
    };
    assert_eq!(ids("El Niño is back"), [1]);
    assert_eq!(ids("el nino is back"), [2, 1]);
    assert_eq!(ids("off to #Cafe"), [1]);
    assert_eq!(ids("creme brulee for two"), [3]);
    assert_eq!(ids("CRÈME BRÛLÉE"), [3]);
    // A case-sensitive term of a folding rule is still compared as written.
    let written = RuleSet::compile([Rule {
        options: folding,
        ..rule(4, "{Niño}")
    }])
    .expect("parses");
    assert_eq!(written.matches(&doc("El Niño")).len(), 1);
    assert!(written.matches(&doc("El niño")).is_empty());
    assert!(written.matches(&doc("El Nino")).is_empty());
    assert_eq!(rules.len(), 3);
    assert_eq!(rules.stats().rules, 3);
}

#[test]
fn warnings_say_what_reads_differently_elsewhere() {
    let warnings = |query: &str| -> Vec<(usize, String)> {
        parse_with_warnings(query)
            .expect("parses")
            .warnings
            .into_iter()
            .map(|w| (w.column, w.message))
            .collect()
    };
    let mixed = warnings("refund OR money back");
    assert_eq!(mixed.len(), 1);
    assert_eq!(mixed[0].0, 1);
    assert!(
        mixed[0].1.contains("reads as (refund OR (money AND back))"),
        "{mixed:?}"
    );
    assert!(warnings("(refund OR money) back").is_empty());
    assert!(warnings("refund OR (money back)").is_empty());
    let hyphen = warnings("cream anti-aging");
    assert_eq!(hyphen.len(), 1);
    assert_eq!(hyphen[0].0, 7);
    assert!(hyphen[0].1.contains("add OR antiaging"), "{hyphen:?}");
    assert!(warnings("why?")[0].1.contains("matches whys, not why"));
    assert!(warnings("card NEAR/3 stolen").is_empty());
    assert!(
        warnings("card near/3 stolen")[0]
            .1
            .contains("write NEAR/3 for proximity")
    );
    assert!(warnings("$AAPL")[0].1.contains("no cashtags"));
    assert_eq!(
        canon("<<<why>>> card <<<and>>> OR refund"),
        "(card OR refund)"
    );
}

#[test]
fn refusals_name_the_position_and_the_earshot_way() {
    assert_eq!(
        err("\"apple\"~5"),
        "at 0 (column 1): a proximity phrase needs two or more words, like \"apple juice\"~5 \
         (both within 5 words of each other)"
    );
    assert!(err("\"apple juice\"~x").starts_with("at 14 (column 15): expected a number"));
    assert!(err("card roam~2").starts_with("at 9 (column 10): fuzzy matching (roam~2)"));
    assert!(err("{BT").starts_with("at 0 (column 1): expected a closing }"));
    assert!(err("{BT broadband}").contains("is one word"));
    assert!(err("{bt*}").contains("is one word"));
    assert!(err("refund site:acme.com").starts_with("at 7 (column 8): \"site:\" is not"));
    assert!(err("followers:[1 TO").contains("closing ]"));
    assert!(err("is:reply").contains("is:verified is verified:true"));
    assert!(matches!(
        parse_rule("NOT spam").map(|p| p.expr),
        Err(ParseError {
            kind: ParseErrorKind::OnlyNegative,
            ..
        })
    ));
    // Stored rules written before the refusal still compile.
    assert!(parse("NOT spam").is_ok());
}
