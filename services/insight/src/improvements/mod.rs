//! The improvement loop: an item names the contact drivers it fixes and
//! moves PROPOSED → IN_PROGRESS → FIXED → VERIFIED (or is DROPPED while
//! open). When it becomes FIXED, the customers who contacted about its
//! drivers are told, each once per driver whatever item fixed it
//! (`FixAnnounced`, in the transaction of the move); what the fix changed
//! is measured in [`impact`].

pub mod impact;
pub mod store;

use chrono::{DateTime, NaiveDate, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{AnnouncedCustomer, Event, FixAnnounced, FixedDriver, event};
use earshot_proto::insight::v1 as pb;
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{Keyed, Page, ServiceError};
use sqlx::PgPool;
use uuid::Uuid;

use crate::NAME;
use crate::range::{Days, to_day};
use impact::{Comparator, Story, Weeks, Windows, relative_change};

pub use store::fixed_between;

/// Days up to and including the fix date whose contacts make a customer
/// one of the item's: told when it is fixed, listed, counted as affected.
pub const NOTICE_DAYS: u64 = 90;
/// Customers named in one `FixAnnounced`, so that a large driver's
/// announcement is several events of bounded size, not one huge one.
pub const CUSTOMERS_PER_EVENT: usize = 500;
/// Drivers one item may address.
pub const MAX_DRIVERS: usize = 20;

/// Where an item is (earshot.insight.v1.ImprovementStatus, as stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum Status {
    Proposed = 1,
    InProgress = 2,
    Fixed = 3,
    Verified = 4,
    Dropped = 5,
}

impl Status {
    /// A status a request names; `None` for UNSPECIFIED and unknown values.
    pub fn from_proto(raw: i32) -> Option<Self> {
        match raw {
            1 => Some(Self::Proposed),
            2 => Some(Self::InProgress),
            3 => Some(Self::Fixed),
            4 => Some(Self::Verified),
            5 => Some(Self::Dropped),
            _ => None,
        }
    }

    pub fn to_proto(self) -> i32 {
        self as i32
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Proposed => "PROPOSED",
            Self::InProgress => "IN_PROGRESS",
            Self::Fixed => "FIXED",
            Self::Verified => "VERIFIED",
            Self::Dropped => "DROPPED",
        }
    }

    /// The fix is live: the item has a fix date and an impact.
    pub fn is_fixed(self) -> bool {
        matches!(self, Self::Fixed | Self::Verified)
    }

    /// The moves an item may make. FIXED may go back to IN_PROGRESS when
    /// the fix did not hold; VERIFIED and DROPPED are final.
    pub fn may_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Proposed, InProgress)
                | (InProgress, Fixed)
                | (Fixed, Verified)
                | (Fixed, InProgress)
                | (Proposed | InProgress | Fixed, Dropped)
        )
    }
}

/// A driver an item addresses: a topic and intent, on one listening rule
/// or, with `rule_id` empty, on every rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriverKey {
    pub topic: String,
    pub intent: i16,
    pub rule_id: String,
}

impl DriverKey {
    /// The driver on every rule.
    pub fn any_rule(topic: &str, intent: i16) -> Self {
        Self {
            topic: topic.to_owned(),
            intent,
            rule_id: String::new(),
        }
    }
}

/// A new item, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewImprovement {
    pub tenant_id: String,
    pub title: String,
    pub owner: String,
    pub team: String,
    pub due_on: Option<NaiveDate>,
    pub drivers: Vec<DriverKey>,
    pub note: String,
    pub request_id: String,
}

/// What an update asks for, checked; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub status: Option<Status>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub note: Option<String>,
    /// Only with `status` FIXED (the request check sees to it).
    pub fixed_on: Option<NaiveDate>,
}

/// An item with its drivers and how many customers were told.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Improvement {
    pub tenant_id: String,
    pub id: Uuid,
    pub title: String,
    pub owner: String,
    pub team: String,
    pub status: Status,
    pub due_on: Option<NaiveDate>,
    /// Set exactly while the item is FIXED or VERIFIED.
    pub fixed_on: Option<NaiveDate>,
    pub note: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub drivers: Vec<DriverKey>,
    #[sqlx(skip)]
    pub customers_told: i64,
}

/// Lists page newest created first.
impl Keyed for Improvement {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// An item's fields after an update, decided before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub status: Status,
    pub owner: String,
    pub team: String,
    pub due_on: Option<NaiveDate>,
    pub note: String,
    pub fixed_on: Option<NaiveDate>,
    /// The item becomes FIXED: its customers are told.
    pub announce: bool,
}

/// What `change` does to `item`. A status equal to the current one is no
/// move (a client may send back the status it read); any other must be a
/// move [`Status::may_become`] allows.
pub fn plan(item: &Improvement, change: &Change, today: NaiveDate) -> Result<Plan, ServiceError> {
    let status = change.status.unwrap_or(item.status);
    if status != item.status && !item.status.may_become(status) {
        return Err(ServiceError::FailedPrecondition(format!(
            "an item {} cannot become {} (items go PROPOSED → IN_PROGRESS → FIXED → VERIFIED, \
             FIXED back to IN_PROGRESS, or DROPPED while open)",
            item.status.label(),
            status.label()
        )));
    }
    let becomes_fixed = status == Status::Fixed && item.status != Status::Fixed;
    if change.fixed_on.is_some() && !becomes_fixed {
        return Err(ServiceError::FailedPrecondition(format!(
            "the item is already FIXED (on {}); fixed_on is set by the move to FIXED",
            item.fixed_on.map_or_else(String::new, |d| d.to_string())
        )));
    }
    let fixed_on = if becomes_fixed {
        Some(change.fixed_on.unwrap_or(today))
    } else if status.is_fixed() {
        item.fixed_on
    } else {
        // Back in progress or dropped: the fix is not live, so neither is its date.
        None
    };
    Ok(Plan {
        status,
        owner: change.owner.clone().unwrap_or_else(|| item.owner.clone()),
        team: change.team.clone().unwrap_or_else(|| item.team.clone()),
        due_on: change.due_on.or(item.due_on),
        note: change.note.clone().unwrap_or_else(|| item.note.clone()),
        fixed_on,
        announce: becomes_fixed,
    })
}

/// The days whose contacts make a customer one of the item's: the
/// [`NOTICE_DAYS`] up to and including `end` (the fix date, or today for an
/// item not fixed yet).
pub fn notice_window(end: NaiveDate) -> Days {
    Days {
        from: end - chrono::Days::new(NOTICE_DAYS - 1),
        to: end,
    }
}

/// A customer to tell, as the announcement query found them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Told {
    pub author: String,
    pub handle: String,
    pub mention_id: Uuid,
    pub customer_id: Option<Uuid>,
}

/// The `FixAnnounced` events telling `told` that `item` is fixed, at most
/// [`CUSTOMERS_PER_EVENT`] customers each; none when nobody is newly told.
pub fn announcements(item: &Improvement, fixed_on: NaiveDate, told: &[Told]) -> Vec<Event> {
    let mut drivers: Vec<(&str, i16)> = item
        .drivers
        .iter()
        .map(|d| (d.topic.as_str(), d.intent))
        .collect();
    drivers.sort_unstable();
    drivers.dedup();
    let drivers: Vec<FixedDriver> = drivers
        .into_iter()
        .map(|(topic, intent)| FixedDriver {
            topic: topic.to_owned(),
            intent: i32::from(intent),
        })
        .collect();
    let fix_day = Days {
        from: fixed_on,
        to: fixed_on,
    };
    told.chunks(CUSTOMERS_PER_EVENT)
        .map(|chunk| {
            new_event(
                NAME,
                &item.tenant_id,
                item.id.to_string(),
                event::Payload::FixAnnounced(FixAnnounced {
                    improvement_id: item.id.to_string(),
                    title: item.title.clone(),
                    team: item.team.clone(),
                    fixed_at: Some(timestamp(fix_day.start())),
                    drivers: drivers.clone(),
                    customers: chunk
                        .iter()
                        .map(|t| AnnouncedCustomer {
                            author: t.author.clone(),
                            handle: t.handle.clone(),
                            customer_id: t.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                            mention_id: t.mention_id.to_string(),
                        })
                        .collect(),
                }),
            )
        })
        .collect()
}

/// Creates an item, or returns the one created first with the same request id.
pub async fn create(pool: &PgPool, new: &NewImprovement) -> Result<Improvement, ServiceError> {
    let mut tx = pool.begin().await?;
    let id = store::insert(&mut tx, new).await?;
    tx.commit().await?;
    store::get(pool, &new.tenant_id, id).await
}

/// Applies `change` to the item at `version`; moving it to FIXED tells its
/// customers in the same transaction.
pub async fn update(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    id: Uuid,
    version: i64,
    change: &Change,
    today: NaiveDate,
) -> Result<Improvement, ServiceError> {
    let mut tx = pool.begin().await?;
    let item = store::lock(&mut tx, tenant_id, id).await?;
    if item.version != version {
        return Err(ServiceError::Aborted(format!(
            "improvement {id} is at version {}, not {version}: read it again",
            item.version
        )));
    }
    let plan = plan(&item, change, today)?;
    store::write(&mut tx, &item, &plan).await?;
    let mut announced = false;
    if let (true, Some(fixed_on)) = (plan.announce, plan.fixed_on) {
        let told = store::tell(&mut tx, &item, notice_window(fixed_on)).await?;
        let events = announcements(&item, fixed_on, &told);
        announced = !events.is_empty();
        if announced {
            outbox.enqueue(&mut tx, events).await?;
        }
    }
    tx.commit().await?;
    if announced {
        outbox.wake();
    }
    store::get(pool, tenant_id, id).await
}

/// A customer who contacted about an item's drivers.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AffectedCustomer {
    pub author: String,
    pub handle: String,
    pub customer_id: Option<Uuid>,
    pub last_mention_id: Uuid,
    pub last_contact_at: DateTime<Utc>,
    /// Told a fix of one of the drivers (by this item or another).
    pub told: bool,
}

/// Listed latest contact first.
impl Keyed for AffectedCustomer {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.last_contact_at,
            id: self.last_mention_id,
        }
    }
}

/// The customers who contacted about the item's drivers in the notice
/// window of its fix (or of today, before it is fixed), a page of them.
pub async fn affected_customers(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
    page: &Page,
    today: NaiveDate,
) -> Result<Vec<AffectedCustomer>, ServiceError> {
    let item = store::get(pool, tenant_id, id).await?;
    let window = notice_window(item.fixed_on.unwrap_or(today));
    Ok(store::affected(pool, tenant_id, &item.drivers, window, page).await?)
}

/// What the fixed item `id` changed over `weeks` on each side of its fix,
/// against `control` or, when `None`, the driver no item addresses whose
/// volume before the fix was closest to the item's. The lessons digest
/// reads fixes through this too.
pub async fn impact_of(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
    weeks: Weeks,
    control: Option<DriverKey>,
) -> Result<pb::Impact, ServiceError> {
    let today = Utc::now().date_naive();
    let item = store::get(pool, tenant_id, id).await?;
    let Some(fixed_on) = item.fixed_on.filter(|_| item.status.is_fixed()) else {
        return Err(ServiceError::FailedPrecondition(format!(
            "improvement {id} is {}: its impact is measured once it is FIXED or VERIFIED",
            item.status.label()
        )));
    };
    let windows = Windows::new(fixed_on, weeks, today);
    let treated = store::contacts(pool, tenant_id, Some(&item.drivers), &windows).await?;
    let all = store::contacts(pool, tenant_id, None, &windows).await?;
    let control = match control {
        Some(asked) => Some(asked),
        None => store::closest_control(pool, tenant_id, windows.before, treated.before).await?,
    };
    let mut used = None;
    if let Some(key) = control {
        let counts =
            store::contacts(pool, tenant_id, Some(std::slice::from_ref(&key)), &windows).await?;
        if counts.before > 0 {
            used = Some((key, counts));
        }
    }
    let (comparator, versus) = match &used {
        Some((_, counts)) => (Comparator::Control, *counts),
        None => (Comparator::AllContacts, all),
    };
    let silent_after = all.after == 0;
    let effect = if windows.after.is_none() || silent_after {
        None
    } else {
        relative_change(treated, versus)
    };
    let affected =
        store::affected_count(pool, tenant_id, &item.drivers, notice_window(fixed_on)).await?;
    let backstory = impact::backstory(&Story {
        drivers: &item.drivers,
        owner: &item.owner,
        team: &item.team,
        fixed_on,
        weeks,
        windows,
        treated,
        silent_after,
        effect,
        comparator,
    });
    Ok(pb::Impact {
        improvement_id: id.to_string(),
        fixed_on: Some(to_day(fixed_on)),
        weeks: weeks.get(),
        contacts_before: treated.before,
        contacts_after: treated.after,
        all_before: all.before,
        all_after: all.after,
        control: used
            .as_ref()
            .map(|(k, _)| crate::drivers::key(&k.topic, k.intent, &k.rule_id)),
        control_before: used.as_ref().map_or(0, |(_, c)| c.before),
        control_after: used.as_ref().map_or(0, |(_, c)| c.after),
        share_change: impact::share_change(treated, all),
        relative_change: effect.map_or(0.0, |e| e.change),
        relative_change_low: effect.map_or(0.0, |e| e.low),
        relative_change_high: effect.map_or(0.0, |e| e.high),
        significant: effect.is_some_and(|e| e.significant()),
        affected_customers: u64::try_from(affected).unwrap_or(0),
        backstory,
        partial: windows.partial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("day")
    }

    fn item(status: Status, fixed_on: Option<NaiveDate>) -> Improvement {
        Improvement {
            tenant_id: "t".into(),
            id: Uuid::now_v7(),
            title: "Courier delays".into(),
            owner: "Ana".into(),
            team: "logistics".into(),
            status,
            due_on: None,
            fixed_on,
            note: String::new(),
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            drivers: vec![
                DriverKey::any_rule("delivery", 2),
                DriverKey {
                    topic: "delivery".into(),
                    intent: 2,
                    rule_id: "r1".into(),
                },
                DriverKey::any_rule("tracking", 3),
            ],
            customers_told: 0,
        }
    }

    fn to(status: Status) -> Change {
        Change {
            status: Some(status),
            ..Change::default()
        }
    }

    #[test]
    fn items_move_forward_back_from_fixed_or_drop_while_open() {
        use Status::*;
        let all = [Proposed, InProgress, Fixed, Verified, Dropped];
        let allowed = [
            (Proposed, InProgress),
            (InProgress, Fixed),
            (Fixed, Verified),
            (Fixed, InProgress),
            (Proposed, Dropped),
            (InProgress, Dropped),
            (Fixed, Dropped),
        ];
        for from in all {
            for next in all {
                assert_eq!(
                    from.may_become(next),
                    allowed.contains(&(from, next)),
                    "{from:?} → {next:?}"
                );
            }
        }
        for s in all {
            assert_eq!(Status::from_proto(s.to_proto()), Some(s));
        }
        assert_eq!(Status::from_proto(0), None);
        assert_eq!(Status::from_proto(6), None);
    }

    #[test]
    fn an_illegal_move_names_both_states() {
        let today = d(2026, 3, 10);
        let err = plan(&item(Status::Proposed, None), &to(Status::Fixed), today)
            .expect_err("skips a step");
        let ServiceError::FailedPrecondition(message) = err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("PROPOSED cannot become FIXED"),
            "{message}"
        );
        let err = plan(
            &item(Status::Verified, Some(today)),
            &to(Status::InProgress),
            today,
        )
        .expect_err("final");
        assert!(
            err.to_string()
                .contains("VERIFIED cannot become IN_PROGRESS"),
            "{err}"
        );
        assert!(plan(&item(Status::Dropped, None), &to(Status::Proposed), today).is_err());
    }

    #[test]
    fn the_fix_date_lives_exactly_while_the_fix_does() {
        let today = d(2026, 3, 10);
        let fixed = plan(&item(Status::InProgress, None), &to(Status::Fixed), today).expect("ok");
        assert_eq!((fixed.fixed_on, fixed.announce), (Some(today), true));
        let given = Change {
            fixed_on: Some(d(2026, 3, 3)),
            ..to(Status::Fixed)
        };
        let fixed = plan(&item(Status::InProgress, None), &given, today).expect("ok");
        assert_eq!(fixed.fixed_on, Some(d(2026, 3, 3)));
        let verified = plan(
            &item(Status::Fixed, Some(d(2026, 3, 3))),
            &to(Status::Verified),
            today,
        )
        .expect("ok");
        assert_eq!(
            (verified.fixed_on, verified.announce),
            (Some(d(2026, 3, 3)), false)
        );
        let reopened = plan(
            &item(Status::Fixed, Some(d(2026, 3, 3))),
            &to(Status::InProgress),
            today,
        )
        .expect("ok");
        assert_eq!(reopened.fixed_on, None);
        // The same status again is no move and tells nobody twice.
        let again = plan(
            &item(Status::Fixed, Some(d(2026, 3, 3))),
            &to(Status::Fixed),
            today,
        )
        .expect("ok");
        assert_eq!(
            (again.fixed_on, again.announce),
            (Some(d(2026, 3, 3)), false)
        );
        assert!(plan(&item(Status::Fixed, Some(d(2026, 3, 3))), &given, today).is_err());
    }

    #[test]
    fn fields_not_named_stay_as_they_were() {
        let change = Change {
            owner: Some("Bo".into()),
            due_on: Some(d(2026, 4, 1)),
            ..Change::default()
        };
        let p = plan(&item(Status::Proposed, None), &change, d(2026, 3, 10)).expect("ok");
        assert_eq!(p.status, Status::Proposed);
        assert_eq!((p.owner.as_str(), p.team.as_str()), ("Bo", "logistics"));
        assert_eq!(p.due_on, Some(d(2026, 4, 1)));
        assert!(!p.announce);
    }

    #[test]
    fn announcements_name_each_driver_once_and_500_customers_an_event() {
        let item = item(Status::Fixed, Some(d(2026, 3, 3)));
        let told: Vec<Told> = (0..1_001)
            .map(|i| Told {
                author: format!("x:{i}"),
                handle: format!("h{i}"),
                mention_id: Uuid::now_v7(),
                customer_id: (i % 2 == 0).then(Uuid::now_v7),
            })
            .collect();
        let events = announcements(&item, d(2026, 3, 3), &told);
        let sizes: Vec<usize> = events
            .iter()
            .map(|e| match &e.payload {
                Some(event::Payload::FixAnnounced(f)) => {
                    assert_eq!(f.drivers.len(), 2, "delivery on two rules is one driver");
                    assert_eq!(f.improvement_id, item.id.to_string());
                    assert_eq!(
                        f.fixed_at.map(|t| t.seconds),
                        Some(
                            d(2026, 3, 3)
                                .and_time(chrono::NaiveTime::MIN)
                                .and_utc()
                                .timestamp()
                        )
                    );
                    f.customers.len()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![500, 500, 1]);
        assert!(
            events
                .iter()
                .all(|e| e.producer == "insight" && e.tenant_id == "t")
        );
        assert!(announcements(&item, d(2026, 3, 3), &[]).is_empty());
    }

    #[test]
    fn the_notice_window_is_the_90_days_up_to_the_fix() {
        let w = notice_window(d(2026, 3, 31));
        assert_eq!((w.from, w.to, w.len()), (d(2026, 1, 1), d(2026, 3, 31), 90));
    }
}
