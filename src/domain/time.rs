//! Instants as whole unix seconds (UTC): the one way times are stored on
//! both backends.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    pub const fn unix(self) -> i64 {
        self.0
    }

    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    pub const fn plus_days(self, days: i64) -> Self {
        self.plus_secs(days.saturating_mul(86_400))
    }

    /// The civil date and time in UTC, e.g. `2026-11-28 14:05 UTC`.
    pub fn to_utc_string(self) -> String {
        let days = self.0.div_euclid(86_400);
        let rem = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
            rem / 3600,
            (rem % 3600) / 60
        )
    }

    /// The current time from the system clock (services take a `Clock`;
    /// this is for code outside them, such as an embedding application).
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self(secs)
    }

    /// Reads an HTTP date in the IMF-fixdate form that
    /// [`Timestamp::to_http_date`] writes; `None` for anything else.
    pub fn from_http_date(text: &str) -> Option<Self> {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (_weekday, rest) = text.split_once(", ")?;
        let mut parts = rest.split(' ');
        let day: u32 = parts.next()?.parse().ok()?;
        let month_name = parts.next()?;
        let month = MONTHS.iter().position(|m| *m == month_name)?;
        let year: i64 = parts.next()?.parse().ok()?;
        let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
        let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
        if parts.next()? != "GMT" || parts.next().is_some() || !(1..=31).contains(&day) {
            return None;
        }
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&se) {
            return None;
        }
        let month = u32::try_from(month).ok()? + 1;
        let days = days_from_civil(year, month, day);
        Some(Self(days * 86_400 + h * 3600 + mi * 60 + se))
    }

    /// The HTTP date (RFC 9110 IMF-fixdate), e.g.
    /// `Sun, 29 Nov 2026 00:00:00 GMT`.
    pub fn to_http_date(self) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let days = self.0.div_euclid(86_400);
        let rem = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
        let month = MONTHS[usize::try_from(m.saturating_sub(1)).unwrap_or(0).min(11)];
        format!(
            "{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }

    /// RFC 3339 in UTC, e.g. `2026-11-29T00:52:59Z`.
    pub fn to_rfc3339(self) -> String {
        let rem = self.0.rem_euclid(86_400);
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            self.to_date_string(),
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }

    /// The civil date in UTC, e.g. `2026-11-28`.
    pub fn to_date_string(self) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(86_400));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// The last second (23:59:59 UTC) of a date written `YYYY-MM-DD`, as a
    /// person means "until that day"; `None` for anything else.
    pub fn end_of_date(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        let days = days_from_civil(y, m, d);
        // A day past the month's end reads back as another date.
        (civil_from_days(days) == (y, m, d)).then_some(Self(days * 86_400 + 86_399))
    }

    /// A date or an instant as a file of records writes it: `YYYY-MM-DD`
    /// (its first second, or with `end_of_day` its last), or RFC 3339
    /// `YYYY-MM-DDTHH:MM:SS` with optional fraction and `Z` or `±HH:MM`.
    pub fn parse_date_or_time(text: &str, end_of_day: bool) -> Option<Self> {
        let text = text.trim();
        let Some((date, time)) = text.split_once(['T', 't', ' ']) else {
            let last = Self::end_of_date(text)?;
            return Some(if end_of_day {
                last
            } else {
                last.plus_secs(-86_399)
            });
        };
        let day = Self::end_of_date(date)?.plus_secs(-86_399);
        let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
            Some(at) => time.split_at(at),
            None => return None,
        };
        let clock = clock.split_once('.').map_or(clock, |(whole, fraction)| {
            if fraction.chars().all(|c| c.is_ascii_digit()) {
                whole
            } else {
                "x"
            }
        });
        let secs = hh_mm_ss(clock, true)?;
        let offset_secs = match offset {
            "Z" | "z" => 0,
            _ => {
                let sign = if offset.starts_with('-') { -1 } else { 1 };
                sign * hh_mm_ss(&offset[1..], false)?
            }
        };
        Some(day.plus_secs(secs - offset_secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_utc_string())
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
/// Seconds of `HH:MM:SS` (or `HH:MM` without `with_seconds`).
fn hh_mm_ss(text: &str, with_seconds: bool) -> Option<i64> {
    let parts: Vec<&str> = text.split(':').collect();
    let expected = if with_seconds { 3 } else { 2 };
    if parts.len() != expected
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut values = [0i64; 3];
    for (value, part) in values.iter_mut().zip(&parts) {
        *value = part.parse().ok()?;
    }
    let [h, m, s] = values;
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d is 1..=31 and m is 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// (year, month, day) to days since 1970-01-01; the inverse of
/// [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_rfc3339_instants_are_read() {
        let day = Timestamp::end_of_date("2026-03-01").unwrap().unix() - 86_399;
        let read = |t: &str| Timestamp::parse_date_or_time(t, false).map(Timestamp::unix);
        assert_eq!(read("2026-03-01"), Some(day));
        assert_eq!(
            Timestamp::parse_date_or_time("2026-03-01", true).map(Timestamp::unix),
            Some(day + 86_399)
        );
        assert_eq!(read("2026-03-01T10:20:30Z"), Some(day + 37_230));
        assert_eq!(read("2026-03-01T10:20:30.250Z"), Some(day + 37_230));
        assert_eq!(
            read("2026-03-01 10:20:30+02:00"),
            Some(day + 37_230 - 7_200)
        );
        assert_eq!(
            read("2026-03-01T10:20:30-01:30"),
            Some(day + 37_230 + 5_400)
        );
        for bad in [
            "",
            "2026-3-1",
            "2026-02-30",
            "2026-03-01T10:20Z",
            "2026-03-01T10:20:30",
            "2026-03-01T25:00:00Z",
            "2026-03-01T10:20:30+2",
            "2026-03-01T1a:20:30Z",
            "2026-03-01T10:20:30.x5Z",
            "tomorrow",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_date_reads_as_its_last_second_and_only_real_dates_read() {
        for date in ["2026-11-29", "2000-02-29", "1970-01-01", "2027-12-31"] {
            let at = Timestamp::end_of_date(date).unwrap();
            assert_eq!(at.to_date_string(), date);
            assert!(at.plus_secs(1).to_date_string().as_str() > date);
        }
        assert_eq!(Timestamp::end_of_date("1970-01-01").unwrap().unix(), 86_399);
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "x",
            "",
        ] {
            assert_eq!(Timestamp::end_of_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix(0).to_utc_string(),
            "1970-01-01 00:00 UTC"
        );
        assert_eq!(
            Timestamp::from_unix(1_795_910_400).to_date_string(),
            "2026-11-29"
        );
        assert_eq!(
            Timestamp::from_unix(951_782_400).to_date_string(),
            "2000-02-29"
        );
        assert_eq!(Timestamp::from_unix(-86_400).to_date_string(), "1969-12-31");
        assert_eq!(
            Timestamp::from_unix(784_111_777).to_rfc3339(),
            "1994-11-06T08:49:37Z"
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            Timestamp::from_unix(0).to_http_date(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            Timestamp::from_unix(784_111_777).to_http_date(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        for t in [0, 784_111_777, 951_782_400, 1_795_910_400, 4_102_444_799] {
            let ts = Timestamp::from_unix(t);
            assert_eq!(Timestamp::from_http_date(&ts.to_http_date()), Some(ts));
        }
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(Timestamp::from_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::from_unix(10).plus_days(1).unix(), 86_410);
        assert_eq!(Timestamp::from_unix(i64::MAX).plus_secs(5).unix(), i64::MAX);
    }
}
