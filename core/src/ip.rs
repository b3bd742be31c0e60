//! What the analytics tables may keep of a client IP address.
//!
//! Privacy by default: the raw and analytics tables store the address truncated to its
//! network (IPv4 /24, IPv6 /48, the granularity Matomo and Snowplow use), which still serves
//! coarse geography and abuse analysis but no longer names a household. The full address is
//! only ever kept by the rate limiter. Operators can choose `full` or `none` instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 prefix kept by anonymisation.
pub const IPV4_PREFIX: u32 = 24;
/// IPv6 prefix kept by anonymisation.
pub const IPV6_PREFIX: u32 = 48;

/// The choices of the `onevault_tracking.client_ip_storage` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpStorage {
    Anonymized,
    Full,
    None,
}

/// The default of `onevault_tracking.rate_limit_ipv6_prefix`: one IPv6 client is its /64, the
/// smallest network a provider assigns to a subscriber (RFC 6177), inside which it can pick a
/// new address for every request.
pub const RATE_LIMIT_IPV6_PREFIX: u32 = 64;

/// Zeroes the host part: IPv4 keeps /24, IPv6 keeps /48. IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`) are the IPv4 address they carry, and are stored as one, or the /48 would
/// keep them whole.
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(truncate_v4(v4)),
        IpAddr::V6(v6) => IpAddr::V6(truncate_v6(v6, IPV6_PREFIX)),
    }
}

fn truncate_v6(v6: Ipv6Addr, prefix: u32) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - prefix.min(128)).unwrap_or(0);
    Ipv6Addr::from(u128::from(v6) & mask)
}

/// Who the rate limiter counts a request against: an IPv4 address (also when it arrives
/// IPv4-mapped), or an IPv6 network of `ipv6_prefix` bits in `inet` notation
/// (`2001:db8:1:2::/64`), so a client cannot escape its limit by rotating addresses inside its
/// own network. A prefix of 128 counts every IPv6 address on its own.
pub fn rate_limit_client(ip: IpAddr, ipv6_prefix: u32) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) if ipv6_prefix >= 128 => v6.to_string(),
        IpAddr::V6(v6) => format!("{}/{ipv6_prefix}", truncate_v6(v6, ipv6_prefix)),
    }
}

fn truncate_v4(v4: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - IPV4_PREFIX)))
}

/// What to store for `ip` under `mode`.
pub fn stored_ip(mode: IpStorage, ip: IpAddr) -> Option<IpAddr> {
    match mode {
        IpStorage::Anonymized => Some(anonymize(ip)),
        IpStorage::Full => Some(ip),
        IpStorage::None => None,
    }
}

/// Parses PostgreSQL's `inet` text form, which adds `/bits` when the netmask is not a host mask;
/// the address part is what identifies the client. An IPv4-mapped IPv6 address
/// (`::ffff:1.2.3.4`, as dual-stack sockets report IPv4 clients) is the IPv4 address it carries,
/// so every use (visitor hash, storage, rate limit) sees one client, not two.
pub fn parse_inet(text: &str) -> Option<IpAddr> {
    let address = text.split_once('/').map_or(text, |(a, _)| a);
    address.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_keeps_the_slash_24() {
        assert_eq!(anonymize(ip("192.168.1.100")), ip("192.168.1.0"));
        assert_eq!(anonymize(ip("255.255.255.255")), ip("255.255.255.0"));
    }

    #[test]
    fn ipv6_keeps_the_slash_48() {
        assert_eq!(
            anonymize(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348")),
            ip("2001:db8:85a3::")
        );
        assert_eq!(anonymize(ip("::1")), ip("::"));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_truncated_and_stored_as_ipv4() {
        assert_eq!(anonymize(ip("::ffff:203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(parse_inet("::ffff:203.0.113.77"), Some(ip("203.0.113.77")));
        assert_eq!(
            stored_ip(IpStorage::Full, parse_inet("::ffff:10.1.2.3").unwrap()),
            Some(ip("10.1.2.3"))
        );
    }

    #[test]
    fn the_rate_limiter_counts_ipv4_as_itself_and_ipv6_by_network() {
        let prefix = RATE_LIMIT_IPV6_PREFIX;
        assert_eq!(rate_limit_client(ip("1.2.3.4"), prefix), "1.2.3.4");
        assert_eq!(rate_limit_client(ip("::ffff:1.2.3.4"), prefix), "1.2.3.4");
        assert_eq!(
            rate_limit_client(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), prefix),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            rate_limit_client(ip("2001:db8:1:2::99"), prefix),
            rate_limit_client(ip("2001:db8:1:2:ffff::1"), prefix)
        );
        assert_ne!(
            rate_limit_client(ip("2001:db8:1:2::1"), prefix),
            rate_limit_client(ip("2001:db8:1:3::1"), prefix)
        );
        assert_eq!(rate_limit_client(ip("2001:db8::1"), 48), "2001:db8::/48");
        assert_eq!(rate_limit_client(ip("2001:db8::1"), 128), "2001:db8::1");
    }

    #[test]
    fn storage_modes() {
        let a = ip("10.1.2.3");
        assert_eq!(stored_ip(IpStorage::Anonymized, a), Some(ip("10.1.2.0")));
        assert_eq!(stored_ip(IpStorage::Full, a), Some(a));
        assert_eq!(stored_ip(IpStorage::None, a), None);
    }

    #[test]
    fn inet_text_with_netmask() {
        assert_eq!(parse_inet("10.0.0.7/8"), Some(ip("10.0.0.7")));
        assert_eq!(parse_inet("2001:db8::1/64"), Some(ip("2001:db8::1")));
        assert_eq!(parse_inet("not an ip"), None);
    }

    proptest! {
        #[test]
        fn anonymized_v4_shares_the_network_and_drops_the_host(raw in any::<u32>()) {
            let original = Ipv4Addr::from(raw);
            let IpAddr::V4(anon) = anonymize(IpAddr::V4(original)) else { unreachable!() };
            prop_assert_eq!(u32::from(anon) >> 8, raw >> 8);
            prop_assert_eq!(u32::from(anon) & 0xff, 0);
            prop_assert_eq!(anonymize(IpAddr::V4(anon)), IpAddr::V4(anon));
        }

        /// A client keeps one rate-limit identity whatever address of its network it uses, and
        /// an IPv4 client whatever form its address arrives in.
        #[test]
        fn rate_limit_identity_is_the_network(raw in any::<u128>(), host in any::<u64>(), v4 in any::<u32>(), prefix in 32u32..=128) {
            let a = Ipv6Addr::from(raw);
            prop_assume!(a.to_ipv4_mapped().is_none());
            let host_mask = u128::MAX.checked_shr(prefix).unwrap_or(0);
            let b = Ipv6Addr::from((raw & !host_mask) | (u128::from(host) & host_mask));
            prop_assume!(b.to_ipv4_mapped().is_none());
            prop_assert_eq!(rate_limit_client(IpAddr::V6(a), prefix), rate_limit_client(IpAddr::V6(b), prefix));
            let v4 = Ipv4Addr::from(v4);
            prop_assert_eq!(rate_limit_client(IpAddr::V6(v4.to_ipv6_mapped()), prefix), v4.to_string());
        }

        #[test]
        fn anonymized_v6_shares_the_slash_48_and_drops_the_rest(raw in any::<u128>()) {
            let original = Ipv6Addr::from(raw);
            prop_assume!(original.to_ipv4_mapped().is_none());
            let IpAddr::V6(anon) = anonymize(IpAddr::V6(original)) else { unreachable!() };
            prop_assert_eq!(u128::from(anon) >> 80, raw >> 80);
            prop_assert_eq!(u128::from(anon) << 48, 0);
        }
    }
}
