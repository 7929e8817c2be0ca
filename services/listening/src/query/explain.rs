//! Why a query matches a mention or not: every node of its tree is
//! compiled as a rule of its own and matched by the same [`RuleSet`] as
//! live rules, so the explanation cannot disagree with ingest.

use std::collections::HashSet;

use uuid::Uuid;

use super::compile::{RuleOptions, RuleRef, RuleSet};
use super::{Document, Expr};

/// One node of a query, and whether it holds for the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    /// The node in canonical form.
    pub text: String,
    pub matched: bool,
    pub children: Vec<Node>,
}

impl Node {
    /// The leaves that hold, in query order.
    pub fn hits(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_hits(&mut out);
        out
    }

    fn collect_hits<'a>(&'a self, out: &mut Vec<&'a str>) {
        if self.children.is_empty() {
            if self.matched {
                out.push(&self.text);
            }
            return;
        }
        for child in &self.children {
            child.collect_hits(out);
        }
    }
}

/// The tree of `expr`, each node marked with whether it holds for `doc`
/// (all unmarked without a document).
pub fn explain(expr: &Expr, options: RuleOptions, doc: Option<&Document>) -> Node {
    let mut nodes = Vec::new();
    preorder(expr, &mut nodes);
    let matched: HashSet<u128> = match doc {
        Some(doc) => {
            let set = RuleSet::from_parsed(nodes.iter().enumerate().map(|(i, node)| {
                let id = RuleRef {
                    id: Uuid::from_u128(i as u128),
                    version: 0,
                };
                (id, *node, options)
            }));
            set.matches(doc).iter().map(|r| r.id.as_u128()).collect()
        }
        None => HashSet::new(),
    };
    let mut next = 0;
    build(expr, &matched, &mut next)
}

fn preorder<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    out.push(expr);
    for child in children(expr) {
        preorder(child, out);
    }
}

fn children(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Not(inner) => vec![inner],
        Expr::And(children) | Expr::Or(children) => children.iter().collect(),
        Expr::Near { left, right, .. } => vec![left, right],
        _ => Vec::new(),
    }
}

fn build(expr: &Expr, matched: &HashSet<u128>, next: &mut u128) -> Node {
    let index = *next;
    *next += 1;
    Node {
        kind: kind(expr),
        text: expr.to_string(),
        matched: matched.contains(&index),
        children: children(expr)
            .into_iter()
            .map(|child| build(child, matched, next))
            .collect(),
    }
}

fn kind(expr: &Expr) -> &'static str {
    match expr {
        Expr::Word(_) => "word",
        Expr::Prefix(_) => "prefix",
        Expr::Phrase(words) if words.len() == 1 => "pattern",
        Expr::Phrase(_) => "phrase",
        Expr::CaseSensitive(_) => "case_sensitive",
        Expr::Hashtag(_) => "hashtag",
        Expr::Handle(_) => "handle",
        Expr::Filter(_) => "filter",
        Expr::Not(_) => "not",
        Expr::And(_) => "and",
        Expr::Or(_) => "or",
        Expr::Near { .. } => "near",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    #[test]
    fn marks_the_nodes_that_hold() {
        let expr = parse("(card OR phone) NEAR/3f stolen NOT {BT}").expect("parses");
        let doc = Document::new("My card was stolen, bt says", "en", "x", 0, false, &[], &[]);
        let tree = explain(&expr, RuleOptions::default(), Some(&doc));
        assert_eq!(tree.kind, "and");
        assert!(tree.matched, "{tree:#?}");
        assert_eq!(tree.hits(), ["card", "stolen"]);
        let not = &tree.children[1];
        assert_eq!((not.kind, not.matched), ("not", true));
        assert_eq!(not.children[0].text, "{BT}");
        assert!(!not.children[0].matched);

        let unmarked = explain(&expr, RuleOptions::default(), None);
        assert!(!unmarked.matched && unmarked.hits().is_empty());
    }
}
