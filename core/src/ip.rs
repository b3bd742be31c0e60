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

/// Zeroes the host part: IPv4 keeps /24, IPv6 keeps /48. IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`) are treated as the IPv4 address they carry, or the /48 would keep it whole.
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(truncate_v4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V6(truncate_v4(v4).to_ipv6_mapped()),
            None => {
                let mask = u128::MAX << (128 - IPV6_PREFIX);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
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
/// the address part is what identifies the client.
pub fn parse_inet(text: &str) -> Option<IpAddr> {
    let address = text.split_once('/').map_or(text, |(a, _)| a);
    address.parse().ok()
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
    fn ipv4_mapped_ipv6_is_truncated_as_ipv4() {
        assert_eq!(
            anonymize(ip("::ffff:203.0.113.77")),
            ip("::ffff:203.0.113.0")
        );
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
