//! Human units on the command line: byte sizes (`4KiB`, `64MiB`) and durations (`30s`).

use std::time::Duration;

/// A value that could not be read as a size, duration or ratio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("empty value")]
    Empty,
    #[error("`{0}` is not a number followed by a known unit")]
    Malformed(String),
    #[error("unknown unit `{unit}` in `{input}`")]
    UnknownUnit { input: String, unit: String },
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Splits `12.5MiB` into (`12.5`, `MiB`).
fn split_number(input: &str) -> Result<(&str, &str), UnitError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if end == 0 {
        return Err(UnitError::Malformed(input.to_string()));
    }
    Ok((&s[..end], s[end..].trim()))
}

/// Parses a byte count: plain bytes, binary (`K`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB`)
/// or decimal (`KB`, `MB`, `GB`, `TB`) multiples; case-insensitive; fractions allowed.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let (number, unit) = split_number(input)?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(UnitError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(mult)
            .ok_or_else(|| UnitError::Overflow(input.to_string()));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::Malformed(input.to_string()))?;
    let bytes = (value * mult as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(UnitError::Overflow(input.to_string()));
    }
    Ok(bytes as u64)
}

/// Parses a rate in bytes per second: a size, optionally followed by `/s`
/// (`200KiB`, `200KiB/s`, `1.5MB/s`).
pub fn parse_rate(input: &str) -> Result<u64, UnitError> {
    let t = input.trim();
    parse_size(t.strip_suffix("/s").unwrap_or(t))
}

/// Parses a duration: `500ms`, `30s`, `2m`, `1h`, `1.5s`; a bare number means seconds.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let (number, unit) = split_number(input)?;
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::Malformed(input.to_string()))?;
    let secs = match unit.to_ascii_lowercase().as_str() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "" | "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(UnitError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| UnitError::Overflow(input.to_string()))
}

/// Formats a byte count with a binary unit, e.g. `64.0 MiB`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a latency given in microseconds, choosing µs, ms or s.
pub fn format_micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1gb"), Ok(1_000_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size(" 10 B "), Ok(10));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("200KiB"), Ok(200 * 1024));
        assert_eq!(parse_rate("256KiB/s"), Ok(256 * 1024));
        assert_eq!(parse_rate("1.5MB/s"), Ok(1_500_000));
        assert!(matches!(parse_rate("fast/s"), Err(UnitError::Malformed(_))));
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(parse_size(""), Err(UnitError::Empty));
        assert!(matches!(parse_size("KiB"), Err(UnitError::Malformed(_))));
        assert!(matches!(
            parse_size("4 parsecs"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_size("99999999999TiB"),
            Err(UnitError::Overflow(_))
        ));
        assert!(matches!(parse_size("1.2.3M"), Err(UnitError::Malformed(_))));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(64.0 * 1024.0 * 1024.0), "64.0 MiB");
        assert_eq!(format_micros(850), "850µs");
        assert_eq!(format_micros(1_234), "1.23ms");
        assert_eq!(format_micros(2_500_000), "2.50s");
    }
}
