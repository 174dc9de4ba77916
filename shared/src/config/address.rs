//! The one rule for every address a Flotilla binary takes: the proxy's listeners, admin
//! listener and backends (file and quick-mode flags), the app's `--listen`, the stack's
//! `--bind`.
//!
//! An address is an IP address and a port: `127.0.0.1:3001`, `0.0.0.0:8080`, `[::1]:3001`.
//! The one name taken is `localhost` (in any case), and it means **127.0.0.1**, the IPv4
//! loopback address, never `::1`. Every default in Flotilla listens on 127.0.0.1, so that
//! is where a `localhost` backend is reached; asking the resolver instead would give `::1`
//! first on many systems, and the proxy would send to an address nothing listens on (and a
//! listener would bind a different socket from one machine to the next). Other names are
//! refused with a hint rather than resolved, so an address means the same at start-up and
//! an hour later; the proxy's `dns` upstreams are the place for names that change.
//!
//! [`parse_socket_addr`] and [`parse_ip`] are `clap` value parsers as they are;
//! [`deserialize_socket_addr`] is the same rule for `#[serde(deserialize_with)]`, so a bad
//! entry fails when the config loads, named by its key.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::de::{self, Deserializer, Visitor};

/// The one host name accepted in an address.
pub const LOCALHOST: &str = "localhost";

/// What `localhost` stands for.
pub const LOCALHOST_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Why a string is not an address; the message quotes the string and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an `ip:port` socket address{}", self.problem)]
pub struct AddressError {
    text: String,
    problem: Problem,
}

/// What is wrong with the text, for the hint after the message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// A bare port, `8081`.
    NoHost(u16),
    /// A bare IP address, `127.0.0.1`; an IPv6 address with a port but no brackets lands
    /// here too (`::1:3001` is itself a valid address).
    NoPort,
    /// `name:port` with a name other than `localhost`.
    HostName,
    /// Anything else.
    Malformed,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHost(port) => write!(
                f,
                ": it has no host; write `127.0.0.1:{port}` (loopback) or `0.0.0.0:{port}` \
                 (every interface)"
            ),
            Self::NoPort => f.write_str(
                ": it has no port; write `IP:PORT` (an IPv6 address in brackets: `[::1]:3001`)",
            ),
            Self::HostName => f.write_str(
                ": host names are not resolved, only `localhost` (as 127.0.0.1); \
                 give an IP address such as `127.0.0.1:3001`",
            ),
            Self::Malformed => Ok(()),
        }
    }
}

impl AddressError {
    fn new(text: &str, problem: Problem) -> Self {
        Self {
            text: text.to_owned(),
            problem,
        }
    }

    /// Whether the text named a host other than `localhost`, where a caller that has a
    /// place for names (the proxy's `dns` upstreams) can say so.
    pub fn is_host_name(&self) -> bool {
        self.problem == Problem::HostName
    }
}

/// Parses `IP:PORT`, or `localhost:PORT` as `127.0.0.1:PORT`.
///
/// # Errors
///
/// Anything else, with a hint: a bare port, a bare IP, a host name.
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, AddressError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some((host, port)) = text.rsplit_once(':') {
        if let Ok(port) = port.parse::<u16>() {
            if host.eq_ignore_ascii_case(LOCALHOST) {
                return Ok(SocketAddr::new(LOCALHOST_IP, port));
            }
            if is_host_name(host) {
                return Err(AddressError::new(text, Problem::HostName));
            }
        }
    }
    let problem = if let Ok(port) = text.parse::<u16>() {
        Problem::NoHost(port)
    } else if unbracketed(text).parse::<IpAddr>().is_ok() || text.eq_ignore_ascii_case(LOCALHOST) {
        Problem::NoPort
    } else {
        Problem::Malformed
    };
    Err(AddressError::new(text, problem))
}

/// Parses an IP address, or `localhost` as 127.0.0.1: the stack's `--bind`.
///
/// # Errors
///
/// Anything else; a host name with the hint that names are not resolved.
pub fn parse_ip(text: &str) -> Result<IpAddr, IpError> {
    if text.eq_ignore_ascii_case(LOCALHOST) {
        return Ok(LOCALHOST_IP);
    }
    text.parse().map_err(|_| IpError {
        text: text.to_owned(),
        name: is_host_name(text),
    })
}

/// Why a string is not an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an IP address{}",
    if *name { "; host names are not resolved, only `localhost` (as 127.0.0.1)" } else { "" }
)]
pub struct IpError {
    text: String,
    name: bool,
}

/// `[::1]` as `::1`; anything else as it is.
fn unbracketed(text: &str) -> &str {
    text.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(text)
}

/// A DNS-style name: letters, digits, `-` and `.`, not all digits and dots (that is a
/// mistyped IPv4 address, such as `127.0.0.300`, not a name).
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// [`parse_socket_addr`] for `#[serde(deserialize_with = "...")]` on a `SocketAddr` field.
/// It asks for any value, not a string, so a port written as a number (`addr = 8081`)
/// gets the same hint as `"8081"`.
///
/// # Errors
///
/// A value that is not a string, or a string the rule refuses.
pub fn deserialize_socket_addr<'de, D>(deserializer: D) -> Result<SocketAddr, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(SocketAddrVisitor { names: None })
}

/// As [`deserialize_socket_addr`], with `names` (such as "use `dns` for names") appended
/// to the message when the value named a host.
///
/// # Errors
///
/// As [`deserialize_socket_addr`].
pub fn deserialize_socket_addr_or<'de, D>(
    deserializer: D,
    names: &'static str,
) -> Result<SocketAddr, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(SocketAddrVisitor { names: Some(names) })
}

struct SocketAddrVisitor {
    names: Option<&'static str>,
}

impl Visitor<'_> for SocketAddrVisitor {
    type Value = SocketAddr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an `ip:port` socket address such as \"127.0.0.1:3001\"")
    }

    /// A bare port written as a number (`addr = 8081`, or `…__ADDR=8081` in the
    /// environment) gets the same hint as the string `"8081"`.
    fn visit_u64<E: de::Error>(self, port: u64) -> Result<SocketAddr, E> {
        self.visit_str(&port.to_string())
    }

    fn visit_i64<E: de::Error>(self, port: i64) -> Result<SocketAddr, E> {
        self.visit_str(&port.to_string())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SocketAddr, E> {
        parse_socket_addr(text).map_err(|error| match self.names {
            Some(names) if error.is_host_name() => E::custom(format_args!("{error}; {names}")),
            _ => E::custom(error),
        })
    }
}

#[cfg(test)]
mod tests;
