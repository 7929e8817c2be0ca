//! Threading: which case a customer's message belongs to. A message joins the
//! open case of its thread, or the open case of the same customer on one of
//! its topics (any of the case's topics); otherwise a cry for help opens a new case and anything else is left
//! alone. Pure functions over what the database said, so a whole batch is
//! planned in memory and written with a fixed number of statements.

use std::collections::HashMap;

use uuid::Uuid;

use crate::vocabulary::Status;

/// How long a resolved case stays reopenable by a new message from the customer.
pub const REOPEN_WINDOW_DAYS: i32 = 7;

/// A message from a customer, already matched to its customer.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub tenant_id: &'a str,
    pub thread_key: &'a str,
    /// None for an author nobody can recognise: such a message threads by
    /// its thread only.
    pub customer_id: Option<Uuid>,
    /// The topics it is about, the main one first.
    pub topics: Vec<&'a str>,
    pub actionable: bool,
}

/// An open case the database found for a message (same thread first, then same
/// customer on one of its topics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    pub case_id: Uuid,
    pub status: Status,
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Join a case that already exists.
    Join(Existing),
    /// Join the case the message at this index of the batch opens.
    JoinNew(usize),
    /// Open a new case.
    Open,
    /// Not a cry for help and no case to join.
    Ignore,
}

/// Plans a batch: `existing[i]` is the open case the database found for
/// `incoming[i]`. Messages of one batch that share a thread (or a customer and
/// a topic) end up in one case.
pub fn plan(incoming: &[Incoming<'_>], existing: &[Option<Existing>]) -> Vec<Plan> {
    #[derive(Clone, Copy)]
    enum Target {
        Existing(Existing),
        New(usize),
    }
    let mut by_thread: HashMap<(&str, &str), Target> = HashMap::new();
    let mut by_topic: HashMap<(&str, Option<Uuid>, &str), Target> = HashMap::new();
    let mut plans = Vec::with_capacity(incoming.len());
    for (i, m) in incoming.iter().enumerate() {
        let thread = (!m.thread_key.is_empty()).then_some((m.tenant_id, m.thread_key));
        // Anonymous authors thread by their thread only.
        let topics: Vec<(&str, Option<Uuid>, &str)> = match m.customer_id {
            Some(_) => m
                .topics
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| (m.tenant_id, m.customer_id, *t))
                .collect(),
            None => Vec::new(),
        };
        let found = existing
            .get(i)
            .copied()
            .flatten()
            .map(Target::Existing)
            .or_else(|| thread.and_then(|k| by_thread.get(&k).copied()))
            .or_else(|| topics.iter().find_map(|k| by_topic.get(k).copied()));
        let (plan, target) = match found {
            Some(Target::Existing(e)) => (Plan::Join(e), Some(Target::Existing(e))),
            Some(Target::New(j)) => (Plan::JoinNew(j), Some(Target::New(j))),
            None if m.actionable => (Plan::Open, Some(Target::New(i))),
            None => (Plan::Ignore, None),
        };
        if let Some(target) = target {
            if let Some(k) = thread {
                by_thread.entry(k).or_insert(target);
            }
            for k in topics {
                by_topic.entry(k).or_insert(target);
            }
        }
        plans.push(plan);
    }
    plans
}

/// The status a case moves to when the customer writes again: a resolved
/// case reopens, one waiting on the customer is open again.
pub fn status_after_inbound(status: Status) -> Option<Status> {
    match status {
        Status::Resolved | Status::PendingCustomer => Some(Status::Open),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(thread: &'a str, customer: Uuid, topic: &'a str, actionable: bool) -> Incoming<'a> {
        Incoming {
            tenant_id: "acme",
            thread_key: thread,
            customer_id: Some(customer),
            topics: if topic.is_empty() {
                Vec::new()
            } else {
                topic.split(',').collect()
            },
            actionable,
        }
    }

    #[test]
    fn an_existing_case_wins_then_the_batch_threads_itself() {
        let (jane, tom) = (Uuid::now_v7(), Uuid::now_v7());
        let case = Existing {
            case_id: Uuid::now_v7(),
            status: Status::Open,
        };
        let batch = [
            msg("t1", jane, "", true),         // joins the existing case
            msg("t2", jane, "card", true),     // opens
            msg("t2", tom, "", false),         // same thread as 1: joins it
            msg("t3", jane, "card", true),     // same customer and topic as 1: joins it
            msg("t4", tom, "card", false),     // other customer, not a cry for help
            msg("", tom, "", true),            // no thread, no topic: opens
            msg("t5", tom, "delivery", false), // nothing to join
        ];
        let existing = [Some(case), None, None, None, None, None, None];
        assert_eq!(
            plan(&batch, &existing),
            vec![
                Plan::Join(case),
                Plan::Open,
                Plan::JoinNew(1),
                Plan::JoinNew(1),
                Plan::Ignore,
                Plan::Open,
                Plan::Ignore,
            ]
        );
    }

    #[test]
    fn anonymous_authors_thread_by_thread_only() {
        let mut first = msg("t1", Uuid::nil(), "card", true);
        first.customer_id = None;
        let mut second = msg("t2", Uuid::nil(), "card", true);
        second.customer_id = None;
        let mut reply = msg("t1", Uuid::nil(), "", false);
        reply.customer_id = None;
        assert_eq!(
            plan(&[first, second, reply], &[None, None, None]),
            vec![Plan::Open, Plan::Open, Plan::JoinNew(0)]
        );
    }

    #[test]
    fn a_message_on_any_of_a_new_cases_topics_joins_it() {
        let jane = Uuid::now_v7();
        let batch = [
            msg("t1", jane, "billing,card", true),
            msg("t2", jane, "card", true),
            msg("t3", jane, "delivery,billing", true),
            msg("t4", jane, "delivery", true),
        ];
        assert_eq!(
            plan(&batch, &[None, None, None, None]),
            vec![
                Plan::Open,
                Plan::JoinNew(0),
                Plan::JoinNew(0),
                Plan::JoinNew(0)
            ]
        );
    }

    #[test]
    fn tenants_never_share_a_thread() {
        let jane = Uuid::now_v7();
        let mut other = msg("t1", jane, "card", true);
        other.tenant_id = "globex";
        let batch = [msg("t1", jane, "card", true), other];
        assert_eq!(plan(&batch, &[None, None]), vec![Plan::Open, Plan::Open]);
    }

    #[test]
    fn an_inbound_message_reopens_or_wakes_a_case() {
        use Status::*;
        assert_eq!(status_after_inbound(Resolved), Some(Open));
        assert_eq!(status_after_inbound(PendingCustomer), Some(Open));
        for unchanged in [New, Open, PendingInternal] {
            assert_eq!(status_after_inbound(unchanged), None);
        }
    }
}
