//! Proxmox's calendar events (`proxmox-time`'s `CalendarEvent`, the `schedule` of jobs):
//! `[WEEKDAY] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]]` with lists (`mon,wed`), ranges
//! (`mon..fri`, `8..17`), repetitions (`*/15`, `30/10`, `8..17/2`), a lone time component
//! meaning minutes (`*/5`, `30/10`), and the names `minutely`, `hourly`, `daily`, `weekly`,
//! `monthly`, `yearly`/`annually`, `quarterly`, `semiannually`/`semi-annually`.
//!
//! Times are UTC: aclgate does not read a time zone database. A trailing `UTC` is accepted.
//! [`CalendarEvent::next_after`] is `compute_next_event`: the first matching second after
//! the given one.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A parsed calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The text it was parsed from (shown back as given).
    text: String,
    /// Bit i = weekday i (0 = Monday); all set when not given.
    weekdays: u8,
    years: Field,
    months: Field,
    days: Field,
    hours: Field,
    minutes: Field,
    seconds: Field,
}

/// Why a text is not a calendar event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unable to parse calendar event '{text}' - {why}")]
pub struct BadEvent {
    text: String,
    why: String,
}

/// One component: a list of items, each matching a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    items: Vec<Item>,
    /// The smallest value of the component (a `*` starts there).
    min: u32,
}

/// `*`, `N`, `N..M`, each optionally `/STEP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    start: Option<u32>,
    end: Option<u32>,
    step: Option<u32>,
}

// === impl CalendarEvent ===

impl CalendarEvent {
    /// The first time strictly after `after` (seconds since the epoch, UTC) that the event
    /// matches; `None` if there is none (a date in the past).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.checked_add(1)?;
        let first_day = start.div_euclid(DAY);
        let hours = self.hours.values(23);
        let minutes = self.minutes.values(59);
        let seconds = self.seconds.values(59);
        // Four hundred years hold every combination of weekday and date once.
        for day in first_day..first_day + 146_097 {
            let (y, m, d) = civil_from_days(day);
            let weekday = (day + 3).rem_euclid(7); // 1970-01-01 was a Thursday
            if self.weekdays & (1 << weekday) == 0
                || !self.years.matches(u32::try_from(y).ok()?)
                || !self.months.matches(m)
                || !self.days.matches(d)
            {
                continue;
            }
            let base = day * DAY;
            for &h in &hours {
                for &mi in &minutes {
                    for &s in &seconds {
                        let t = base + i64::from(h * 3600 + mi * 60 + s);
                        if t >= start {
                            return Some(t);
                        }
                    }
                }
            }
        }
        None
    }
}

impl fmt::Display for CalendarEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for CalendarEvent {
    type Err = BadEvent;

    fn from_str(text: &str) -> Result<CalendarEvent, BadEvent> {
        let bad = |why: &str| BadEvent {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let lower = text.trim().to_ascii_lowercase();
        let body = lower.strip_suffix("utc").map_or(lower.as_str(), str::trim);
        let expanded = match body {
            "minutely" => "*-*-* *:*:00",
            "hourly" => "*-*-* *:00:00",
            "daily" => "*-*-* 00:00:00",
            "weekly" => "mon *-*-* 00:00:00",
            "monthly" => "*-*-01 00:00:00",
            "yearly" | "annually" => "*-01-01 00:00:00",
            "quarterly" => "*-01,04,07,10-01 00:00:00",
            "semiannually" | "semi-annually" => "*-01,07-01 00:00:00",
            other => other,
        };
        let mut words = expanded.split_whitespace().peekable();
        let mut weekdays = 0x7f;
        if let Some(w) = words.peek()
            && w.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            weekdays = parse_weekdays(w).ok_or_else(|| bad("invalid weekday"))?;
            words.next();
        }
        let any = |min| Field {
            items: vec![Item::ALL],
            min,
        };
        let (mut years, mut months, mut days) = (any(1970), any(1), any(1));
        if let Some(w) = words.peek()
            && w.contains('-')
        {
            let parts: Vec<&str> = w.split('-').collect();
            let (y, m, d) = match parts[..] {
                [y, m, d] => (Some(y), m, d),
                [m, d] => (None, m, d),
                _ => return Err(bad("invalid date")),
            };
            if let Some(y) = y {
                years = Field::parse(y, 1970, 9999).ok_or_else(|| bad("invalid year"))?;
            }
            months = Field::parse(m, 1, 12).ok_or_else(|| bad("invalid month"))?;
            days = Field::parse(d, 1, 31).ok_or_else(|| bad("invalid day"))?;
            words.next();
        }
        let zero = || Field {
            items: vec![Item::at(0)],
            min: 0,
        };
        let (mut hours, mut minutes, mut seconds) = (zero(), zero(), zero());
        if let Some(w) = words.next() {
            let parts: Vec<&str> = w.split(':').collect();
            let (h, m, s) = match parts[..] {
                [m] => ("*", m, None),
                [h, m] => (h, m, None),
                [h, m, s] => (h, m, Some(s)),
                _ => return Err(bad("invalid time")),
            };
            hours = Field::parse(h, 0, 23).ok_or_else(|| bad("invalid hour"))?;
            minutes = Field::parse(m, 0, 59).ok_or_else(|| bad("invalid minute"))?;
            if let Some(s) = s {
                seconds = Field::parse(s, 0, 59).ok_or_else(|| bad("invalid second"))?;
            }
        }
        if words.next().is_some() {
            return Err(bad("unexpected text at the end"));
        }
        if expanded.is_empty() {
            return Err(bad("empty event"));
        }
        Ok(CalendarEvent {
            text: text.trim().to_owned(),
            weekdays,
            years,
            months,
            days,
            hours,
            minutes,
            seconds,
        })
    }
}

// === impl Field ===

impl Field {
    /// Parse `a,b..c,*/d` with values in `min..=max`.
    fn parse(text: &str, min: u32, max: u32) -> Option<Field> {
        let items = text
            .split(',')
            .map(|part| Item::parse(part, min, max))
            .collect::<Option<Vec<Item>>>()?;
        Some(Field { items, min })
    }

    fn matches(&self, v: u32) -> bool {
        self.items.iter().any(|i| i.matches(v, self.min))
    }

    /// The matching values up to `max`, ascending.
    fn values(&self, max: u32) -> Vec<u32> {
        (self.min..=max).filter(|&v| self.matches(v)).collect()
    }
}

// === impl Item ===

impl Item {
    const ALL: Item = Item {
        start: None,
        end: None,
        step: None,
    };

    const fn at(v: u32) -> Item {
        Item {
            start: Some(v),
            end: None,
            step: None,
        }
    }

    fn parse(text: &str, min: u32, max: u32) -> Option<Item> {
        let (range, step) = match text.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().ok().filter(|&s| s > 0)?)),
            None => (text, None),
        };
        let num = |t: &str| t.parse::<u32>().ok().filter(|v| (min..=max).contains(v));
        let (start, end) = match range {
            "*" => (None, None),
            r => match r.split_once("..") {
                Some((a, b)) => (Some(num(a)?), Some(num(b)?)),
                None => (Some(num(r)?), None),
            },
        };
        if let (Some(a), Some(b)) = (start, end)
            && a > b
        {
            return None;
        }
        Some(Item { start, end, step })
    }

    fn matches(&self, v: u32, min: u32) -> bool {
        let start = self.start.unwrap_or(min);
        match (self.end, self.step) {
            (None, None) if self.start.is_some() => v == start,
            (end, step) => {
                v >= start
                    && end.is_none_or(|e| v <= e)
                    && step.is_none_or(|s| (v - start).is_multiple_of(s))
            }
        }
    }
}

/// `mon`, `mon..fri`, `sat,sun` (three-letter or full names) as a bit set.
fn parse_weekdays(text: &str) -> Option<u8> {
    let day = |t: &str| {
        NAMES
            .iter()
            .position(|n| t == &n[..3] || t == *n)
            .and_then(|i| u8::try_from(i).ok())
    };
    let mut bits = 0u8;
    for part in text.split(',') {
        match part.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if a > b {
                    return None;
                }
                for d in a..=b {
                    bits |= 1 << d;
                }
            }
            None => bits |= 1 << day(part)?,
        }
    }
    Some(bits)
}

/// (year, month, day) of a day number counted from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // Day and month are within 1..=31 and 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

const DAY: i64 = 86_400;

const NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02 05:32:08 UTC, a Wednesday.
    const NOW: i64 = 1_796_189_528;

    fn check(event: &str, after: i64, want: Option<i64>) {
        let parsed: CalendarEvent = event.parse().unwrap_or_else(|e| panic!("{event}: {e}"));
        assert_eq!(
            parsed.next_after(after),
            want,
            "next of {event:?} after {after}"
        );
    }

    #[test]
    fn next_events() {
        let midnight = NOW - NOW % DAY; // 2026-12-02 00:00
        check("daily", NOW, Some(midnight + DAY));
        check("*/15", NOW, Some(midnight + 5 * 3600 + 45 * 60));
        check("*", NOW, Some(midnight + 5 * 3600 + 33 * 60));
        check("mon..fri 02:00", NOW, Some(midnight + DAY + 2 * 3600));
        // Friday 2026-12-04 22:00 → Monday 2026-12-07 02:00.
        check(
            "mon..fri 02:00",
            midnight + 2 * DAY + 22 * 3600,
            Some(midnight + 5 * DAY + 2 * 3600),
        );
        check("sat,sun", NOW, Some(midnight + 3 * DAY));
        check("hourly", NOW, Some(midnight + 6 * 3600));
        check("weekly", NOW, Some(midnight + 5 * DAY));
        check("monthly", NOW, Some(midnight + 30 * DAY)); // 2027-01-01
        check("mon..wed 30/10", NOW, Some(midnight + 5 * 3600 + 40 * 60));
        check(
            "fri 12..13:5/20",
            NOW,
            Some(midnight + 2 * DAY + 12 * 3600 + 5 * 60),
        );
        check("12:05", NOW, Some(midnight + 12 * 3600 + 5 * 60));
        check(
            "*-12-25 06:00 UTC",
            NOW,
            Some(midnight + 23 * DAY + 6 * 3600),
        );
        check("2015-10-21", NOW, None);
        check("daily", midnight + DAY - 1, Some(midnight + DAY));
        check("daily", midnight + DAY, Some(midnight + 2 * DAY));
    }

    #[test]
    fn refusals() {
        for text in [
            "", "foo", "25:00", "*/0", "mon..", "fri..mon", "13-01", "1:2:3:4", "daily x", "12:60",
        ] {
            assert!(text.parse::<CalendarEvent>().is_err(), "{text:?} parsed");
        }
    }
}
