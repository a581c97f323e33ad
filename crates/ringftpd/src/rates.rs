//! Bandwidth cap settings: `[limits.anonymous]` and `[limits.users]` each take
//! `session_rate`, `ip_rate` and `total_rate`, as one byte rate for both directions
//! (`"4MiB"`) or one per direction (`{ download = "4MiB", upload = "1MiB" }`).

use std::fmt;

use ringftp_dataplane::rate_limit::{ClassCaps, FlowCaps, RateCaps};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Smallest cap accepted: below this a single splice chunk would take seconds.
pub const MIN_RATE: u64 = 1024;

/// Bytes per second; 0 = no cap. Read from a number of bytes or a size with a unit
/// (`4MiB` = 4 x 2^20, `4MB` = 4 x 10^6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ByteRate(pub u64);

impl std::str::FromStr for ByteRate {
    type Err = String;

    fn from_str(s: &str) -> Result<ByteRate, String> {
        s.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| ByteRate(b.as_u64()))
            .map_err(|e| format!("`{s}` is not a size such as 4MiB: {e}"))
    }
}

impl<'de> Deserialize<'de> for ByteRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteRate, D::Error> {
        d.deserialize_any(RateVisitor).and_then(|r| match r {
            RateSetting::Both(r) => Ok(r),
            RateSetting::Split(_) => Err(de::Error::custom("expected a size such as \"4MiB\"")),
        })
    }
}

/// One cap's setting: the same rate both ways, or one rate per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RateSetting {
    Both(ByteRate),
    Split(DirectionRates),
}

impl Default for RateSetting {
    fn default() -> Self {
        RateSetting::Both(ByteRate(0))
    }
}

impl RateSetting {
    fn download(&self) -> u64 {
        match self {
            RateSetting::Both(r) => r.0,
            RateSetting::Split(d) => d.download.0,
        }
    }

    fn upload(&self) -> u64 {
        match self {
            RateSetting::Both(r) => r.0,
            RateSetting::Split(d) => d.upload.0,
        }
    }
}

/// Separate download and upload rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectionRates {
    pub download: ByteRate,
    pub upload: ByteRate,
}

struct RateVisitor;

impl<'de> Visitor<'de> for RateVisitor {
    type Value = RateSetting;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a size such as \"4MiB\" (bytes per second), or { download = ..., upload = ... }",
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RateSetting, E> {
        Ok(RateSetting::Both(ByteRate(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RateSetting, E> {
        u64::try_from(v)
            .map(|v| RateSetting::Both(ByteRate(v)))
            .map_err(|_| E::custom("a rate cannot be negative"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RateSetting, E> {
        v.parse().map(RateSetting::Both).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RateSetting, A::Error> {
        DirectionRates::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(RateSetting::Split)
    }
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RateSetting, D::Error> {
        d.deserialize_any(RateVisitor)
    }
}

/// The caps of one user class (`[limits.anonymous]` or `[limits.users]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassRates {
    /// Per session.
    pub session_rate: RateSetting,
    /// Per client address (IPv6: per /64), all its sessions together.
    pub ip_rate: RateSetting,
    /// All sessions of this class together, on all workers.
    pub total_rate: RateSetting,
}

impl ClassRates {
    /// Set one cap for both directions (the command-line flags do this).
    pub fn set(&mut self, kind: RateKind, rate: ByteRate) {
        let slot = match kind {
            RateKind::Session => &mut self.session_rate,
            RateKind::Ip => &mut self.ip_rate,
            RateKind::Total => &mut self.total_rate,
        };
        *slot = RateSetting::Both(rate);
    }

    /// Validate and convert; `keys` name this class's keys in messages.
    fn caps(&self, keys: &ClassKeys) -> Result<ClassCaps, (&'static str, String)> {
        for (key, setting) in [
            (keys.session, &self.session_rate),
            (keys.ip, &self.ip_rate),
            (keys.total, &self.total_rate),
        ] {
            for rate in [setting.download(), setting.upload()] {
                if rate != 0 && rate < MIN_RATE {
                    return Err((
                        key,
                        format!("{rate} bytes/s is below the smallest cap, 1KiB (0 = off)"),
                    ));
                }
            }
        }
        let flow = |pick: fn(&RateSetting) -> u64| FlowCaps {
            session: pick(&self.session_rate),
            address: pick(&self.ip_rate),
            total: pick(&self.total_rate),
        };
        Ok(ClassCaps {
            download: flow(RateSetting::download),
            upload: flow(RateSetting::upload),
        })
    }
}

/// Which cap a command-line flag sets.
#[derive(Debug, Clone, Copy)]
pub enum RateKind {
    Session,
    Ip,
    Total,
}

struct ClassKeys {
    session: &'static str,
    ip: &'static str,
    total: &'static str,
}

const ANONYMOUS_KEYS: ClassKeys = ClassKeys {
    session: "limits.anonymous.session_rate",
    ip: "limits.anonymous.ip_rate",
    total: "limits.anonymous.total_rate",
};

const USERS_KEYS: ClassKeys = ClassKeys {
    session: "limits.users.session_rate",
    ip: "limits.users.ip_rate",
    total: "limits.users.total_rate",
};

/// Validate both classes' settings and build the data plane's caps; the error names
/// the key.
pub fn rate_caps(
    anonymous: &ClassRates,
    users: &ClassRates,
) -> Result<RateCaps, (&'static str, String)> {
    Ok(RateCaps {
        anonymous: anonymous.caps(&ANONYMOUS_KEYS)?,
        named: users.caps(&USERS_KEYS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        r: RateSetting,
    }

    fn parse(v: &str) -> Result<RateSetting, String> {
        toml::from_str::<T>(&format!("r = {v}"))
            .map(|t| t.r)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sizes_numbers_and_directions() {
        assert_eq!(parse("\"4MiB\""), Ok(RateSetting::Both(ByteRate(4 << 20))));
        assert_eq!(
            parse("\"4 MB\""),
            Ok(RateSetting::Both(ByteRate(4_000_000)))
        );
        assert_eq!(parse("65536"), Ok(RateSetting::Both(ByteRate(65536))));
        assert_eq!(parse("0"), Ok(RateSetting::Both(ByteRate(0))));
        let split = parse("{ download = \"1MiB\" }").unwrap();
        assert_eq!(split.download(), 1 << 20);
        assert_eq!(split.upload(), 0);
        assert!(parse("\"4 parsecs\"").unwrap_err().contains("4 parsecs"));
        assert!(parse("-5").unwrap_err().contains("negative"));
        assert!(parse("{ sideways = 1 }").unwrap_err().contains("sideways"));
        assert!(parse("true").is_err());
    }

    #[test]
    fn too_small_caps_are_refused_by_key() {
        let mut users = ClassRates::default();
        users.set(RateKind::Ip, ByteRate(100));
        let (key, reason) = rate_caps(&ClassRates::default(), &users).unwrap_err();
        assert_eq!(key, "limits.users.ip_rate");
        assert!(reason.contains("100"), "{reason}");
        let anonymous = ClassRates {
            total_rate: RateSetting::Split(DirectionRates {
                download: ByteRate(1 << 20),
                upload: ByteRate(1),
            }),
            ..ClassRates::default()
        };
        let (key, _) = rate_caps(&anonymous, &ClassRates::default()).unwrap_err();
        assert_eq!(key, "limits.anonymous.total_rate");
    }

    #[test]
    fn caps_map_to_class_and_direction() {
        let anonymous = ClassRates {
            session_rate: RateSetting::Both(ByteRate(4 << 20)),
            ip_rate: RateSetting::Split(DirectionRates {
                download: ByteRate(8 << 20),
                upload: ByteRate(0),
            }),
            ..ClassRates::default()
        };
        let caps = rate_caps(&anonymous, &ClassRates::default()).unwrap();
        assert_eq!(caps.anonymous.download.session, 4 << 20);
        assert_eq!(caps.anonymous.upload.session, 4 << 20);
        assert_eq!(caps.anonymous.download.address, 8 << 20);
        assert_eq!(caps.anonymous.upload.address, 0);
        assert_eq!(caps.named, ClassCaps::default());
    }

    #[test]
    fn check_config_output_reads_back() {
        let c = ClassRates {
            session_rate: RateSetting::Both(ByteRate(1 << 20)),
            ip_rate: RateSetting::Split(DirectionRates {
                download: ByteRate(2 << 20),
                upload: ByteRate(3 << 20),
            }),
            total_rate: RateSetting::default(),
        };
        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<ClassRates>(&text).unwrap(), c);
    }
}
