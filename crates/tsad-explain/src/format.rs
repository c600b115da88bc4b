//! Numbers, times, durations and percentages as people read them, shared by the deterministic
//! explanation, the offline chat and the prompt.

use chrono::{DateTime, Timelike};
use tsad_core::TimeAxis;

/// A number with about four significant digits and thousands kept whole: `21674`, `6148.6`,
/// `0.0977`, `-3.2`. Non-finite values read `n/a`.
pub fn num(x: f64) -> String {
    significant(x, 4)
}

/// A ratio, score or statistic with about three significant digits: `21.6`, `6.15`, `0.44`,
/// `1234`.
pub fn short(x: f64) -> String {
    significant(x, 3)
}

/// `x` with about `digits` significant digits (never dropping digits left of the point),
/// trailing zeros trimmed; scientific notation below 1e-4 and from 1e9.
fn significant(x: f64, digits: i32) -> String {
    if !x.is_finite() {
        return "n/a".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..9).contains(&magnitude) {
        let mantissa = (digits - 1) as usize;
        return format!("{x:.mantissa$e}");
    }
    let decimals = (digits - 1 - magnitude).clamp(0, 6) as usize;
    trim_zeros(format!("{x:.decimals$}"))
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        t.to_owned()
    } else {
        s
    }
}

/// A signed number: `+3.2`, `-0.5`.
pub fn signed(x: f64) -> String {
    if x.is_finite() && x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

/// A timestamp: `2014-11-02 08:30 UTC` (seconds shown only when not zero) on a time axis,
/// `point 1234` on an index axis.
pub fn time(t: i64, axis: TimeAxis) -> String {
    match axis {
        TimeAxis::Index => format!("point {t}"),
        TimeAxis::EpochMillis => match DateTime::from_timestamp_millis(t) {
            Some(d) if d.second() == 0 && d.nanosecond() == 0 => {
                d.format("%Y-%m-%d %H:%M UTC").to_string()
            }
            Some(d) if d.nanosecond() == 0 => d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            Some(d) => d.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
            None => t.to_string(),
        },
    }
}

/// A duration in milliseconds: `45 s`, `1 h 30 min`, `2 days 3 h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if d > 0 {
        if h > 0 {
            format!("{} {h} h", plural(d, "day", "days"))
        } else {
            plural(d, "day", "days")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h} h {m} min")
        } else {
            format!("{h} h")
        }
    } else if m > 0 {
        if sec > 0 {
            format!("{m} min {sec} s")
        } else {
            format!("{m} min")
        }
    } else {
        format!("{sec} s")
    }
}

/// A percentage of `part` in (0, 1]: `0.012%`, `1.5%`, `42%`.
pub fn percent(part: f64) -> String {
    let p = part * 100.0;
    if !p.is_finite() {
        return "n/a".to_owned();
    }
    let s = if p == 0.0 {
        // log10(0) is -inf: its floor saturates to i32::MIN and `1 - magnitude` overflows.
        "0".to_owned()
    } else if p >= 10.0 {
        format!("{p:.0}")
    } else if p >= 1.0 {
        format!("{p:.1}")
    } else {
        // Two significant digits for small shares: 0.012%, 0.5%.
        let magnitude = p.abs().log10().floor() as i32;
        let decimals = (1 - magnitude).clamp(1, 6) as usize;
        format!("{p:.decimals$}")
    };
    format!("{}%", trim_zeros(s))
}

/// `n` things with the right plural: `1 point`, `3 points`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_well() {
        let cases: &[(&str, String, &str)] = &[
            ("integer-ish", num(21674.3), "21674"),
            ("decimals", num(6.14859), "6.149"),
            ("small", num(0.097_71), "0.09771"),
            ("negative", num(-3.2), "-3.2"),
            ("nan", num(f64::NAN), "n/a"),
            ("signed", signed(2.5), "+2.5"),
            ("short", short(21.6249), "21.6"),
            ("short small", short(0.02797), "0.028"),
            ("short big", short(1234.5), "1234"),
            ("zero", num(0.0), "0"),
            ("huge", num(1.23456e10), "1.235e10"),
            ("tiny", num(1.5e-5), "1.500e-5"),
            ("short huge", short(1.23456e10), "1.23e10"),
            (
                "minute",
                time(0, TimeAxis::EpochMillis),
                "1970-01-01 00:00 UTC",
            ),
            (
                "seconds",
                time(1_500, TimeAxis::EpochMillis),
                "1970-01-01 00:00:01.500 UTC",
            ),
            ("index", time(42, TimeAxis::Index), "point 42"),
            ("hours", duration(5_400_000), "1 h 30 min"),
            (
                "days",
                duration(2 * 86_400_000 + 3 * 3_600_000),
                "2 days 3 h",
            ),
            ("zero share", percent(0.0), "0%"),
            ("tiny share", percent(0.000_12), "0.012%"),
            ("share", percent(0.42), "42%"),
            ("one and a half", percent(0.015), "1.5%"),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }
}
