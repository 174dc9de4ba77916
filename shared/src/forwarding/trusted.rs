//! Which peers may speak for a client: a list of CIDR blocks, read from config as strings
//! (`"10.0.0.0/8"`, `"::1/128"`, or a bare address meaning that one host).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// One block of addresses: a network address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

/// Why a string is not a [`Cidr`]; the message quotes the string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}` is not a CIDR block or an IP address: {reason}")]
pub struct CidrError {
    entry: String,
    reason: String,
}

impl CidrError {
    fn new(entry: &str, reason: impl Into<String>) -> Self {
        Self {
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }
}

impl Cidr {
    /// The block of `prefix_len` leading bits of `network`.
    ///
    /// # Errors
    ///
    /// A prefix longer than the address, or an address with bits set past the prefix
    /// (`10.1.2.3/8` is almost always a typo for `10.0.0.0/8` or `10.1.2.3/32`).
    pub fn new(network: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let text = format!("{network}/{prefix_len}");
        let max = max_prefix(network);
        if prefix_len > max {
            return Err(CidrError::new(
                &text,
                format!("the prefix length is over {max}"),
            ));
        }
        let masked = mask(network, prefix_len);
        if masked != network {
            return Err(CidrError::new(
                &text,
                format!("bits are set past the prefix; did you mean `{masked}/{prefix_len}`?"),
            ));
        }
        // `::ffff:10.0.0.0/104` is how some write an IPv4 block; peers are matched in
        // their canonical form, so the block is kept in that form too.
        if let IpAddr::V6(v6) = network {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix_len >= 96) {
                return Ok(Self {
                    network: IpAddr::V4(v4),
                    prefix_len: prefix_len - 96,
                });
            }
        }
        Ok(Self {
            network,
            prefix_len,
        })
    }

    /// Whether `ip` is inside the block. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
    /// as a dual-stack socket reports an IPv4 peer) matches as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let same_family = ip.is_ipv4() == self.network.is_ipv4();
        same_family && mask(ip, self.prefix_len) == self.network
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let entry = text.trim();
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| CidrError::new(entry, format!("`{address}` is not an IP address")))?;
        let prefix_len = match prefix {
            None => max_prefix(network),
            Some(prefix) => prefix
                .parse::<u8>()
                .map_err(|_| CidrError::new(entry, format!("`{prefix}` is not a prefix length")))?,
        };
        Self::new(network, prefix_len).map_err(|error| CidrError::new(entry, error.reason))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn mask(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

/// The peers whose forwarding headers are believed: the proxies in front of this process.
///
/// In config it is a list of strings (`["10.0.0.0/8", "::1"]`), or one comma-separated
/// string, which is what an environment variable can carry. An entry that does not parse
/// fails the load with the entry quoted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Nobody: every peer is the client. The proxy's default, since it faces the internet.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Loopback and private networks (127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12,
    /// 192.168.0.0/16, fc00::/7): where a balancer next to the app runs (same host,
    /// Compose or cluster network). The app's default.
    pub fn local_and_private() -> Self {
        const BLOCKS: [&str; 6] = [
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
        ];
        // Constant blocks that the unit tests parse; none can fail.
        Self(BLOCKS.iter().filter_map(|b| b.parse().ok()).collect())
    }

    /// The given blocks.
    pub fn new(blocks: Vec<Cidr>) -> Self {
        Self(blocks)
    }

    /// Parses each of `entries`.
    ///
    /// # Errors
    ///
    /// The first entry that is not a CIDR block or an address, quoted.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, CidrError> {
        entries
            .into_iter()
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Cidr::from_str)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` is in any of the blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The blocks, in the order configured.
    pub fn blocks(&self) -> &[Cidr] {
        &self.0
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, block) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{block}")?;
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = TrustedProxies;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of CIDR blocks or IP addresses, like [\"10.0.0.0/8\", \"::1\"]")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<TrustedProxies, E> {
        TrustedProxies::parse(text.split(',')).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TrustedProxies, A::Error> {
        let mut blocks = Vec::new();
        while let Some(entry) = seq.next_element::<String>()? {
            blocks.push(entry.parse().map_err(de::Error::custom)?);
        }
        Ok(TrustedProxies(blocks))
    }
}
