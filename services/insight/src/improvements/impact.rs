//! What a fix changed, from daily contact counts: the windows compared, the
//! change against a control with its interval, and the backstory. Pure
//! functions over counts, so each is checked against numbers worked out by
//! hand; the counts come from `driver_rollups` (see the store).

use chrono::NaiveDate;

use super::DriverKey;
use crate::facts::intent_word;
use crate::range::Days;
use crate::stats::{Table, crude_odds_ratio};

/// Weeks on each side of the fix when the request says 0, and at most.
pub const DEFAULT_WEEKS: u32 = 4;
pub const MAX_WEEKS: u32 = 26;

/// Weeks compared on each side of a fix, 1 to [`MAX_WEEKS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weeks(u32);

impl Weeks {
    pub const DEFAULT: Weeks = Weeks(DEFAULT_WEEKS);

    /// `None` beyond [`MAX_WEEKS`]; 0 is the default.
    pub fn new(weeks: u32) -> Option<Self> {
        match weeks {
            0 => Some(Self::DEFAULT),
            n if n <= MAX_WEEKS => Some(Self(n)),
            _ => None,
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    fn days(self) -> u64 {
        u64::from(self.0) * 7
    }
}

/// The days compared: the whole weeks before the fix date, and the fix
/// date onwards for as many days, cut at yesterday (today is not over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub before: Days,
    /// `None` when the fix is today or later: nothing to count yet.
    pub after: Option<Days>,
    /// The after window was cut short.
    pub partial: bool,
}

impl Windows {
    pub fn new(fixed_on: NaiveDate, weeks: Weeks, today: NaiveDate) -> Self {
        let span = chrono::Days::new(weeks.days());
        let before = Days {
            from: fixed_on - span,
            to: fixed_on - chrono::Days::new(1),
        };
        let full_to = fixed_on + span - chrono::Days::new(1);
        let yesterday = today - chrono::Days::new(1);
        let to = full_to.min(yesterday);
        Self {
            before,
            after: (to >= fixed_on).then_some(Days { from: fixed_on, to }),
            partial: full_to > yesterday,
        }
    }

    /// Days counted after the fix.
    pub fn after_days(&self) -> i64 {
        self.after.map_or(0, |a| a.len())
    }
}

/// Contacts in the window before the fix and in the window after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BeforeAfter {
    pub before: u64,
    pub after: u64,
}

/// A relative change with its 95% interval: -0.6 is 60% fewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub change: f64,
    pub low: f64,
    pub high: f64,
}

impl Effect {
    /// The interval excludes no change.
    pub fn significant(&self) -> bool {
        self.high < 0.0 || self.low > 0.0
    }
}

/// The change of the treated drivers against a comparator, as a
/// comparative interrupted time series: each side's level after the fix is
/// set against its own level before, and the treated side's step against
/// the comparator's,
///
/// ```text
///        t_after / t_before
/// RR = ----------------------      change = RR − 1
///        c_after / c_before
/// ```
///
/// a ratio of rate ratios. Both sides are counted over the same days, so
/// the exposure (days in each window, also a short after window) cancels,
/// and whatever moved every driver alike (a season, a campaign, more
/// listening) moves the comparator too and drops out. Each count is taken
/// as Poisson, so ln RR has variance 1/t_a + 1/t_b + 1/c_a + 1/c_b and the
/// interval is exp(ln RR ± 1.96·√that) − 1.
///
/// RR is the cross-product ratio of the 2×2 table (t_a, t_b; c_a, c_b) and
/// that variance is Woolf's, so it is computed as that table's odds ratio
/// (`stats::crude_odds_ratio`): with an empty cell, half a contact is added
/// to every cell (Haldane), so a driver that vanished still gets a finite,
/// honest estimate and interval.
///
/// `None` when either side had no contacts before the fix: there is no
/// level to compare against.
pub fn relative_change(treated: BeforeAfter, comparator: BeforeAfter) -> Option<Effect> {
    if treated.before == 0 || comparator.before == 0 {
        return None;
    }
    let table = Table {
        a: treated.after as f64,
        b: treated.before as f64,
        c: comparator.after as f64,
        d: comparator.before as f64,
    };
    crude_odds_ratio(table).map(|rr| Effect {
        change: rr.point - 1.0,
        low: rr.low - 1.0,
        high: rr.high - 1.0,
    })
}

/// The treated drivers' share of all contacts after over before, minus 1;
/// 0 when either share is undefined.
pub fn share_change(treated: BeforeAfter, all: BeforeAfter) -> f64 {
    if treated.before == 0 || all.before == 0 || all.after == 0 {
        return 0.0;
    }
    let share = |t: u64, a: u64| t as f64 / a as f64;
    share(treated.after, all.after) / share(treated.before, all.before) - 1.0
}

/// What the treated drivers were compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// A driver no item addresses, of similar volume (or the one asked for).
    Control,
    /// All contacts: no control driver had contacts before the fix, so the
    /// change is that of the drivers' share. The interval counts all
    /// contacts as independent of the drivers' (they include them), which
    /// makes it somewhat wider than it need be: cautious, not optimistic.
    AllContacts,
}

/// The figures a backstory is told from.
#[derive(Debug, Clone, PartialEq)]
pub struct Story<'a> {
    pub drivers: &'a [DriverKey],
    pub owner: &'a str,
    pub team: &'a str,
    pub fixed_on: NaiveDate,
    pub weeks: Weeks,
    pub windows: Windows,
    pub treated: BeforeAfter,
    /// Nothing was heard at all since the fix.
    pub silent_after: bool,
    pub effect: Option<Effect>,
    pub comparator: Comparator,
}

/// "delivery delays (complaint)", each topic and intent once, the first
/// three by name.
fn drivers_phrase(drivers: &[DriverKey]) -> String {
    let mut names: Vec<String> = Vec::new();
    for d in drivers {
        let topic = if d.topic.is_empty() {
            "no topic"
        } else {
            d.topic.as_str()
        };
        let name = format!(
            "{topic} ({})",
            intent_word(d.intent).to_lowercase().replace('_', " ")
        );
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.len() {
        0 => "nothing".to_owned(),
        1 => names.remove(0),
        2 | 3 => {
            let last = names.pop().expect("two or more");
            format!("{} and {last}", names.join(", "))
        }
        n => format!("{} and {} more", names[..3].join(", "), n - 3),
    }
}

fn weeks_phrase(weeks: Weeks) -> String {
    match weeks.get() {
        1 => "week".to_owned(),
        n => format!("{n} weeks"),
    }
}

fn times(n: u64) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn percent(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// Two or three plain sentences a marketer can use: what customers told
/// us, who fixed it when, and what changed.
pub fn backstory(s: &Story<'_>) -> String {
    let day = s.fixed_on.format("%-d %B");
    let about = drivers_phrase(s.drivers);
    let before = weeks_phrase(s.weeks);
    let told = if s.treated.before == 0 {
        format!("Customers did not contact us about {about} in the {before} before {day}.")
    } else {
        format!(
            "Customers told us {} in the {before} before {day} about {about}.",
            times(s.treated.before)
        )
    };
    let team = capitalised(s.team.trim());
    let fixed = if s.owner.trim().is_empty() {
        format!("{team} fixed it on {day}.")
    } else {
        format!("{team} (owner {}) fixed it on {day}.", s.owner.trim())
    };
    let after_days = s.windows.after_days();
    let since = if !s.windows.partial {
        format!("In the {before} after")
    } else if after_days == 1 {
        "In the day since".to_owned()
    } else {
        format!("In the {after_days} days since")
    };
    let against = match s.comparator {
        Comparator::Control => "against a comparable driver".to_owned(),
        Comparator::AllContacts => {
            "as a share of all contacts (no comparable driver had contacts before the fix)"
                .to_owned()
        }
    };
    let outcome = match s.effect {
        _ if after_days == 0 => "It is too early to tell what changed.".to_owned(),
        _ if s.silent_after => {
            format!("{since}, nobody has contacted us at all, so there is nothing to compare yet.")
        }
        None => "With nothing to compare it to, we cannot say yet what changed.".to_owned(),
        Some(e) if !e.significant() => format!(
            "{since}, those contacts changed by {:+}% {against}, which chance alone could explain \
             (95% CI {:+}% to {:+}%).",
            percent(e.change),
            percent(e.low),
            percent(e.high)
        ),
        Some(e) if e.change < 0.0 => format!(
            "{since}, those contacts fell {}% (95% CI {}–{}%) {against}.",
            percent(-e.change),
            percent(-e.high),
            percent(-e.low)
        ),
        Some(e) => format!(
            "{since}, those contacts rose {}% (95% CI {}–{}%) {against}.",
            percent(e.change),
            percent(e.low),
            percent(e.high)
        ),
    };
    format!("{told} {fixed} {outcome}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("day")
    }

    fn counts(before: u64, after: u64) -> BeforeAfter {
        BeforeAfter { before, after }
    }

    #[test]
    fn a_known_drop_against_a_steady_control_is_found_with_its_interval() {
        // 100 a week before and 40 after, while the control stays at 80 a
        // week: 4 weeks each side.
        let treated = counts(400, 160);
        let control = counts(320, 320);
        let e = relative_change(treated, control).expect("an estimate");
        assert!((e.change + 0.6).abs() < 1e-9, "{e:?}");
        // By hand: se = √(1/160 + 1/400 + 1/320 + 1/320) = √0.015 = 0.12247.
        let se = 0.015f64.sqrt();
        assert!((e.low - (0.4f64.ln() - 1.96 * se).exp() + 1.0).abs() < 1e-9);
        assert!((e.high - (0.4f64.ln() + 1.96 * se).exp() + 1.0).abs() < 1e-9);
        assert!(e.low < -0.6 && -0.6 < e.high, "{e:?}");
        assert!(e.significant());
        assert!(
            (e.low + 0.685).abs() < 0.005 && (e.high + 0.492).abs() < 0.005,
            "{e:?}"
        );
    }

    #[test]
    fn a_drop_every_driver_shared_is_no_effect() {
        // Everything halved (a quiet month): the control halved too.
        let e = relative_change(counts(400, 200), counts(320, 160)).expect("an estimate");
        assert!(e.change.abs() < 1e-9);
        assert!(!e.significant());
        // Small counts: a drop of half cannot be told from chance.
        let e = relative_change(counts(6, 3), counts(5, 5)).expect("an estimate");
        assert!(e.change < 0.0 && !e.significant(), "{e:?}");
    }

    #[test]
    fn an_empty_cell_adds_a_half_to_each_and_no_level_before_is_no_estimate() {
        // The driver vanished: half a contact in every cell.
        let e = relative_change(counts(50, 0), counts(50, 50)).expect("an estimate");
        assert!((e.change - (0.5 / 50.5 - 1.0)).abs() < 1e-9, "{e:?}");
        assert!(e.high < 0.0 && e.low > -1.0, "{e:?}");
        assert_eq!(relative_change(counts(0, 10), counts(50, 50)), None);
        assert_eq!(relative_change(counts(10, 10), counts(0, 50)), None);
    }

    #[test]
    fn the_share_change_is_the_share_after_over_before() {
        // 10% of contacts before, 4% after.
        let change = share_change(counts(100, 40), counts(1_000, 1_000));
        assert!((change + 0.6).abs() < 1e-9);
        assert_eq!(share_change(counts(0, 40), counts(1_000, 1_000)), 0.0);
        assert_eq!(share_change(counts(10, 0), counts(1_000, 0)), 0.0);
    }

    #[test]
    fn windows_are_whole_weeks_each_side_cut_at_yesterday() {
        let fixed = d(2026, 3, 3);
        let w = Windows::new(fixed, Weeks::DEFAULT, d(2026, 6, 1));
        assert_eq!((w.before.from, w.before.to), (d(2026, 2, 3), d(2026, 3, 2)));
        let after = w.after.expect("after");
        assert_eq!(
            (after.from, after.to, w.partial),
            (fixed, d(2026, 3, 30), false)
        );
        // Day 28 after the fix is 30 March: complete on 31 March.
        assert!(!Windows::new(fixed, Weeks::DEFAULT, d(2026, 3, 31)).partial);
        let short = Windows::new(fixed, Weeks::DEFAULT, d(2026, 3, 13));
        assert_eq!((short.after_days(), short.partial), (10, true));
        let today = Windows::new(fixed, Weeks::DEFAULT, fixed);
        assert_eq!(
            (today.after, today.partial, today.after_days()),
            (None, true, 0)
        );
        assert_eq!(Weeks::new(0), Some(Weeks::DEFAULT));
        assert_eq!(Weeks::new(26).map(Weeks::get), Some(26));
        assert_eq!(Weeks::new(27), None);
    }

    fn story<'a>(drivers: &'a [DriverKey], effect: Option<Effect>, windows: Windows) -> Story<'a> {
        Story {
            drivers,
            owner: "Ana",
            team: "logistics",
            fixed_on: d(2026, 3, 3),
            weeks: Weeks::DEFAULT,
            windows,
            treated: counts(412, 150),
            silent_after: false,
            effect,
            comparator: Comparator::Control,
        }
    }

    #[test]
    fn the_backstory_tells_the_figures_in_plain_words() {
        let drivers = [
            DriverKey::any_rule("delivery delays", 2),
            DriverKey {
                topic: "delivery delays".into(),
                intent: 2,
                rule_id: "r1".into(),
            },
        ];
        let full = Windows::new(d(2026, 3, 3), Weeks::DEFAULT, d(2026, 6, 1));
        let fell = Effect {
            change: -0.63,
            low: -0.72,
            high: -0.51,
        };
        assert_eq!(
            backstory(&story(&drivers, Some(fell), full)),
            "Customers told us 412 times in the 4 weeks before 3 March about delivery delays \
             (complaint). Logistics (owner Ana) fixed it on 3 March. In the 4 weeks after, those \
             contacts fell 63% (95% CI 51–72%) against a comparable driver."
        );
        let rose = Effect {
            change: 0.2,
            low: 0.05,
            high: 0.4,
        };
        let text = backstory(&story(&drivers, Some(rose), full));
        assert!(
            text.ends_with("those contacts rose 20% (95% CI 5–40%) against a comparable driver."),
            "{text}"
        );
        let unclear = Effect {
            change: -0.1,
            low: -0.3,
            high: 0.15,
        };
        let short = Windows::new(d(2026, 3, 3), Weeks::DEFAULT, d(2026, 3, 13));
        let mut s = story(&drivers, Some(unclear), short);
        s.comparator = Comparator::AllContacts;
        let text = backstory(&s);
        assert!(
            text.ends_with(
                "In the 10 days since, those contacts changed by -10% as a share of all contacts \
                 (no comparable driver had contacts before the fix), which chance alone could \
                 explain (95% CI -30% to +15%)."
            ),
            "{text}"
        );
        assert_eq!(text.matches(". ").count() + 1, 3, "three sentences: {text}");
        let today = Windows::new(d(2026, 3, 3), Weeks::DEFAULT, d(2026, 3, 3));
        let text = backstory(&story(&drivers, None, today));
        assert!(
            text.ends_with("It is too early to tell what changed."),
            "{text}"
        );
    }

    #[test]
    fn many_drivers_are_named_three_and_counted() {
        let drivers: Vec<DriverKey> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|t| DriverKey::any_rule(t, 3))
            .collect();
        assert_eq!(drivers_phrase(&drivers[..1]), "a (question)");
        assert_eq!(
            drivers_phrase(&drivers[..3]),
            "a (question), b (question) and c (question)"
        );
        assert_eq!(
            drivers_phrase(&drivers),
            "a (question), b (question), c (question) and 2 more"
        );
        assert_eq!(
            drivers_phrase(&[DriverKey::any_rule("x", 1)]),
            "x (help request)"
        );
        assert_eq!(times(1), "once");
    }
}
