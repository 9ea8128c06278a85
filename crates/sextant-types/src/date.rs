//! UTC dates from the wire's timestamps (milliseconds since 1970-01-01T00:00:00Z), without a
//! calendar dependency: the proleptic Gregorian calendar, as MLflow and every database use.
//!
//! [`UtcDateTime::from_millis`] is the one conversion (Howard Hinnant's `civil_from_days`,
//! exact for every `i64`); its formats are the ones Sextant prints: RFC 3339 with milliseconds
//! for tags and JSON, `YYYY-MM-DD HH:MM:SS` for tables.

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const EPOCH_SHIFT: i64 = 719_468;

/// Days in a 400-year era.
const DAYS_PER_ERA: i64 = 146_097;

/// A date and time of day in UTC, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    /// The year; 0 is 1 BC, negative years count further back (astronomical numbering).
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59 (timestamps have no leap seconds).
    pub second: u8,
    /// 0 to 999.
    pub millis: u16,
}

impl UtcDateTime {
    /// The UTC date and time `ms` milliseconds after 1970-01-01T00:00:00Z (before it when
    /// negative). Exact for every `i64`.
    pub fn from_millis(ms: i64) -> Self {
        let days = ms.div_euclid(MILLIS_PER_DAY);
        let in_day = ms.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // `in_day` is below 86,400,000, so every part fits its type.
        let part = |v: i64| u8::try_from(v).expect("a time-of-day part is below 256");
        Self {
            year,
            month,
            day,
            hour: part(in_day / 3_600_000),
            minute: part(in_day / 60_000 % 60),
            second: part(in_day / 1000 % 60),
            millis: u16::try_from(in_day % 1000).expect("milliseconds are below 1000"),
        }
    }

    /// Milliseconds since the epoch; `None` if a field is out of its range or the instant does
    /// not fit an `i64`.
    pub fn to_millis(&self) -> Option<i64> {
        if self.hour > 23 || self.minute > 59 || self.second > 59 || self.millis > 999 {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day)?;
        let in_day = i64::from(self.hour) * 3_600_000
            + i64::from(self.minute) * 60_000
            + i64::from(self.second) * 1000
            + i64::from(self.millis);
        // In i128: the day's start can lie before i64::MIN when the instant does not.
        let total = i128::from(days) * i128::from(MILLIS_PER_DAY) + i128::from(in_day);
        i64::try_from(total).ok()
    }

    /// RFC 3339 in UTC with milliseconds: `2024-02-29T23:59:59.123Z`.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}Z",
            self.date(),
            self.hour,
            self.minute,
            self.second,
            self.millis
        )
    }

    /// Date and time to the second, for tables: `2024-02-29 23:59:59` (UTC).
    pub fn seconds(&self) -> String {
        format!(
            "{} {:02}:{:02}:{:02}",
            self.date(),
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `YYYY-MM-DD`; years outside 0..=9999 keep their sign and all their digits.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The date `days` days after 1970-01-01 (before it when negative): `(year, month, day)`.
/// Every `i64` day count whose year fits an `i32` (all the days of `i64` milliseconds).
///
/// # Panics
/// When the year does not fit an `i32` (more than two billion years away from 1970).
pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
    // Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms": count from 0000-03-01 so
    // that the leap day ends each year, in 400-year eras.
    let z = i128::from(days) + i128::from(EPOCH_SHIFT);
    let era = z.div_euclid(i128::from(DAYS_PER_ERA));
    let doe = z - era * i128::from(DAYS_PER_ERA); // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (
        i32::try_from(year).expect("the year of the day count fits an i32"),
        u8::try_from(month).expect("a month is 1..=12"),
        u8::try_from(day).expect("a day is 1..=31"),
    )
}

/// Days from 1970-01-01 to the date (negative before it); `None` when `month` is not 1..=12
/// or `day` is not a day of that month.
pub fn days_from_civil(year: i32, month: u8, day: u8) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (m, d) = (i64::from(month), i64::from(day));
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = if m > 2 { m - 3 } else { m + 9 }; // month from March
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * DAYS_PER_ERA + doe - EPOCH_SHIFT)
}

/// Whether `year` has a 29 February.
pub fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days of `month` (1..=12) in `year`; 0 for a month out of range.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A reference that knows nothing of eras: walk whole years, then months, from 1970-01-01.
    fn walk(days: i64) -> (i32, u8, u8) {
        let year_len = |y: i32| if is_leap_year(y) { 366 } else { 365 };
        let (mut y, mut left) = (1970_i32, days);
        while left < 0 {
            y -= 1;
            left += year_len(y);
        }
        while left >= year_len(y) {
            left -= year_len(y);
            y += 1;
        }
        let mut m = 1_u8;
        while left >= i64::from(days_in_month(y, m)) {
            left -= i64::from(days_in_month(y, m));
            m += 1;
        }
        (y, m, u8::try_from(left + 1).expect("a day of the month"))
    }

    #[test]
    fn known_instants() {
        let f = UtcDateTime::from_millis;
        assert_eq!(f(0).rfc3339_millis(), "1970-01-01T00:00:00.000Z");
        assert_eq!(f(0).seconds(), "1970-01-01 00:00:00");
        assert_eq!(
            f(1_709_251_199_123).rfc3339_millis(),
            "2024-02-29T23:59:59.123Z"
        );
        assert_eq!(f(1_700_000_000_000).seconds(), "2023-11-14 22:13:20");
        assert_eq!(f(951_782_400_000).seconds(), "2000-02-29 00:00:00");
        // Before the epoch, and the ends of i64.
        assert_eq!(f(-1).rfc3339_millis(), "1969-12-31T23:59:59.999Z");
        assert_eq!(f(-86_400_000 * 365).date(), "1969-01-01");
        assert_eq!(
            f(i64::MAX).rfc3339_millis(),
            "292278994-08-17T07:12:55.807Z"
        );
        assert_eq!(
            f(i64::MIN).rfc3339_millis(),
            "-292275055-05-16T16:47:04.192Z"
        );
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }

    #[test]
    fn invalid_dates_have_no_day_count() {
        assert_eq!(days_from_civil(2023, 2, 29), None);
        assert_eq!(days_from_civil(1900, 2, 29), None);
        assert_eq!(days_from_civil(2000, 2, 29), Some(11_016));
        assert_eq!(days_from_civil(2024, 13, 1), None);
        assert_eq!(days_from_civil(2024, 4, 31), None);
        assert_eq!(days_from_civil(2024, 1, 0), None);
        let bad_time = UtcDateTime {
            hour: 24,
            ..UtcDateTime::from_millis(0)
        };
        assert_eq!(bad_time.to_millis(), None);
    }

    proptest! {
        #[test]
        fn days_match_a_year_by_year_walk(days in -2_000_000_i64..2_000_000) {
            prop_assert_eq!(civil_from_days(days), walk(days));
        }

        #[test]
        fn days_round_trip(days in -100_000_000_000_i64..100_000_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), Some(days));
        }

        #[test]
        fn the_next_day_is_the_next_date(days in -2_000_000_i64..2_000_000) {
            let (a, b) = (civil_from_days(days), civil_from_days(days + 1));
            let expected = if a.2 < days_in_month(a.0, a.1) {
                (a.0, a.1, a.2 + 1)
            } else if a.1 < 12 {
                (a.0, a.1 + 1, 1)
            } else {
                (a.0 + 1, 1, 1)
            };
            prop_assert_eq!(b, expected);
        }

        #[test]
        fn millis_round_trip_and_format(ms in any::<i64>()) {
            let t = UtcDateTime::from_millis(ms);
            prop_assert_eq!(t.to_millis(), Some(ms));
            let text = t.rfc3339_millis();
            prop_assert!(text.ends_with('Z'));
            prop_assert_eq!(&text[..text.len() - 14], t.date());
            prop_assert!(text.starts_with(&t.seconds().replacen(' ', "T", 1)), "{}", text);
        }
    }
}
