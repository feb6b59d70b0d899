//! Deserialization helpers shared by the schema: durations with units, socket
//! addresses, string lists, and enums spelled as strings.
//!
//! Each helper reads a string (the `config` crate turns numbers and booleans
//! into strings on request, which is what makes environment overrides work)
//! and fails with a message that says what is allowed.

use std::net::SocketAddr;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Defines a fieldless enum written in configuration as one of a fixed set of
/// strings, with `NAMES`, `as_str`, `FromStr`, `Display` and `Deserialize`.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every accepted spelling, in documentation order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling used in configuration files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err($crate::de::unknown_value(s, Self::NAMES)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_enum;

/// `unknown value "x" (expected one of a, b, c)`.
pub(crate) fn unknown_value(value: &str, allowed: &[&str]) -> String {
    format!(
        "unknown value {value:?} (expected one of {})",
        allowed.join(", ")
    )
}

/// Parses `"500ms"`, `"3s"`, `"1h"`, `"1h 30m"`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|_| {
        format!("{s:?} is not a duration (expected a number with a unit, like \"500ms\", \"3s\", \"1h\")")
    })
}

/// `#[serde(deserialize_with)]` for a [`Duration`].
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(de::Error::custom)
}

/// `#[serde(deserialize_with)]` for an `Option<Duration>` (use with `default`).
pub(crate) fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Parses a listening address: an IP and a port.
pub(crate) fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("{s:?} is not a socket address (expected ip:port, like \"0.0.0.0:8080\" or \"[::1]:8080\")")
    })
}

/// `#[serde(deserialize_with)]` for a listening [`SocketAddr`].
pub(crate) fn bind<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_bind(&s).map_err(de::Error::custom)
}

/// `#[serde(deserialize_with)]` for a list of strings, also accepted as one
/// comma-separated string (handy in environment variables).
pub(crate) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringList)
}

struct StringList;

impl<'de> Visitor<'de> for StringList {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            out.push(s);
        }
        Ok(out)
    }
}

/// Whether `name` is a valid HTTP field name (an RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_tchar)
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `name` is a syntactically valid DNS host name (letters, digits,
/// `-` and `_`, in dot-separated labels of 1 to 63 characters).
pub(crate) fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
