//! [`Timestamp`]: milliseconds since the Unix epoch, shown and parsed as RFC 3339 in UTC.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, to the millisecond, as the audit log and grants store it.
///
/// Displays as RFC 3339 in UTC (`2025-06-01T12:00:00.000Z`); parses from RFC 3339 with any
/// offset, from a date alone (`2025-06-01`, midnight UTC) or from whole seconds since the
/// epoch. Parsing and calendar arithmetic are the `jiff` crate's: impossible dates
/// (`2025-02-31`) and times (`24:00`) are refused, never rolled over.
///
/// # Example
///
/// ```
/// use switchboard_host::Timestamp;
///
/// let t: Timestamp = "2025-06-01T12:30:00Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2025-06-01T12:30:00.000Z");
/// assert_eq!("2025-06-01".parse::<Timestamp>().unwrap().as_millis(), 1_748_736_000_000);
/// assert!("yesterday".parse::<Timestamp>().is_err());
/// assert!("2025-02-31".parse::<Timestamp>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs())
        }
    }

    /// This time moved by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// This time moved back by `d` (saturating).
    pub fn minus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Millisecond counts beyond jiff's calendar (years ±9999) show as its bounds: they
        // only arise from saturating arithmetic (`plus(Duration::MAX)`), meaning "never".
        let t = jiff::Timestamp::from_millisecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        write!(f, "{t:.3}")
    }
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time: write RFC 3339 (`2025-06-01T12:00:00Z`), a date, or Unix seconds")]
pub struct TimestampError(String);

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s.trim()).ok_or_else(|| TimestampError(s.to_owned()))
    }
}

fn parse(s: &str) -> Option<Timestamp> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().ok()?;
        return Some(Timestamp(secs.checked_mul(1000)?));
    }
    // jiff checks the calendar: day of month, hours, minutes, offsets. It reads a leap second
    // (`:60`) as `:59` of the same minute, since it counts no leap seconds.
    let t = if s.len() == 10 {
        let date: jiff::civil::Date = s.parse().ok()?;
        jiff::tz::Offset::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok()?
    } else {
        s.parse::<jiff::Timestamp>().ok()?
    };
    Some(Timestamp(t.as_millisecond()))
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for ms in [0, 1, 999, 1_748_736_000_000, 951_782_400_123, -86_400_000] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t), "{t}");
        }
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            "2000-02-29T00:00:00.123Z".parse::<Timestamp>().map(|t| t.0),
            Ok(951_782_400_123)
        );
    }

    #[test]
    fn offsets_and_seconds() {
        assert_eq!(
            "2025-06-01T14:30:00+02:00".parse::<Timestamp>(),
            "2025-06-01T12:30:00Z".parse::<Timestamp>()
        );
        assert_eq!(
            "1700000000".parse::<Timestamp>().map(|t| t.0),
            Ok(1_700_000_000_000)
        );
        assert!("2025-13-01".parse::<Timestamp>().is_err());
        assert!("2025-06-01T25:00:00Z".parse::<Timestamp>().is_err());
    }

    #[test]
    fn impossible_dates_are_refused_not_rolled_over() {
        for bad in [
            "2025-02-31",
            "2025-04-31",
            "2023-02-29",
            "2025-02-30T00:00:00Z",
            "2025-06-01T24:00:00Z",
            "2025-06-01T12:60:00Z",
            "2025-06-01T12:00:00.Z",
            "2025-6-1",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad} was accepted");
        }
        assert!("2024-02-29".parse::<Timestamp>().is_ok());
        // A leap second stays in its minute: it never becomes the next day.
        let leap = "2016-12-31T23:59:60Z".parse::<Timestamp>().unwrap();
        assert_eq!(leap.to_string(), "2016-12-31T23:59:59.000Z");
    }

    #[test]
    fn times_beyond_the_calendar_display_without_panicking() {
        assert!(Timestamp::from_millis(i64::MAX)
            .to_string()
            .starts_with("9999-12-"));
        assert!(Timestamp::from_millis(i64::MIN)
            .to_string()
            .starts_with("-009999-01-"));
    }

    #[test]
    fn system_time_round_trip() {
        let t = Timestamp::from_millis(1_748_736_000_123);
        assert_eq!(Timestamp::from(t.to_system_time()), t);
    }
}
