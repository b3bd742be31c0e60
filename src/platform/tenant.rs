//! The platform's tenants: every tracking object belongs to one (`auth.tenant_h`).

use crate::postgres::error::{OrInternal, TrackingError};
use crate::postgres::spi;
use onevault_tracking_core::hashing::to_hex;
use pgrx::spi::SpiClient;

/// Raises `UnknownTenant` unless `tenant_hk` is a tenant of the platform.
pub fn ensure_tenant(client: &mut SpiClient<'_>, tenant_hk: &[u8]) {
    crate::platform::core::require_core(client);
    let known = spi::execute(
        client,
        "SELECT EXISTS (SELECT 1 FROM auth.tenant_h WHERE tenant_hk = $1)",
        &[tenant_hk.into()],
    )
    .and_then(|rows| rows.first().get_one::<bool>())
    .or_internal("tenant lookup");
    if known != Some(true) {
        TrackingError::UnknownTenant {
            tenant_hex: to_hex(tenant_hk),
        }
        .raise();
    }
}
