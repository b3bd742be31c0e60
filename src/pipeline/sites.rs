//! Which registered site a page host belongs to (`onevault_tracking_core::domain::site_of_host`
//! decides; this looks up the candidates): the visitor hash (raw), the session (staging) and
//! the vault site (vault) of an event all use the answer, so `www.`, the bare domain and a
//! site's allowed domains are one site, one visitor and one session.

use crate::postgres::error::OrInternal;
use crate::postgres::spi;
use onevault_tracking_core::domain::{self, site_business_key, RegisteredSite};
use pgrx::spi::SpiClient;
use std::collections::{HashMap, HashSet};

/// (tenant, page host).
pub type HostKey = (Vec<u8>, String);

/// The site domain of each (tenant, page host) that has one, looked up with one statement: the
/// registered sites of those tenants whose domain or allowed domains include one of the hosts.
pub fn resolve<'a>(
    client: &mut SpiClient<'_>,
    hosts: impl IntoIterator<Item = (&'a [u8], &'a str)>,
) -> HashMap<HostKey, String> {
    let hosts: HashSet<(&[u8], &str)> = hosts.into_iter().collect();
    let keys: Vec<String> = hosts
        .iter()
        .filter_map(|(_, host)| site_business_key(host))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return HashMap::new();
    }
    let tenants: Vec<Vec<u8>> = hosts
        .iter()
        .map(|(tenant, _)| tenant.to_vec())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut registered: HashMap<Vec<u8>, Vec<RegisteredSite>> = HashMap::new();
    for row in spi::execute(
        client,
        "SELECT s.tenant_hk, s.site_bk, coalesce(d.allowed_domains, ARRAY[s.site_bk])
           FROM business.site_details_s AS d
           JOIN business.site_h AS s ON s.site_hk = d.site_hk
          WHERE d.load_end_date IS NULL AND d.tenant_hk = ANY ($1)
            AND (s.site_bk = ANY ($2) OR d.allowed_domains && $2)",
        &[tenants.into(), keys.into()],
    )
    .or_internal("registered sites of the page hosts")
    {
        let tenant: Vec<u8> = spi::column(&row, 1, "tenant_hk");
        let domain: String = spi::column(&row, 2, "site_bk");
        let allowed: Vec<Option<String>> = spi::column(&row, 3, "allowed_domains");
        registered.entry(tenant).or_default().push(RegisteredSite {
            domain,
            allowed_domains: allowed.into_iter().flatten().collect(),
        });
    }
    hosts
        .into_iter()
        .filter_map(|(tenant, host)| {
            let sites = registered.get(tenant).map(Vec::as_slice).unwrap_or(&[]);
            let site = domain::site_of_host(host, sites)?;
            Some(((tenant.to_vec(), host.to_owned()), site))
        })
        .collect()
}

/// `onevault_tracking.site_of_host(p_tenant_hk bytea, p_host text) RETURNS text` (declared in
/// sql/business_vault.sql): the site domain an event of the tenant on `p_host` is counted for,
/// as the pipeline decides it; NULL for a host that has no site key. The upgrade to 0.2.0 and
/// `onevault_tracking.merge_allowed_domain_sites()` decide with it too.
#[pgrx::pg_extern(sql = false)]
fn site_of_host(p_tenant_hk: &[u8], p_host: &str) -> Option<String> {
    pgrx::Spi::connect_mut(|client| {
        resolve(client, [(p_tenant_hk, p_host)])
            .into_values()
            .next()
    })
}
