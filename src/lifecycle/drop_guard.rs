//! `DROP EXTENSION onevault_tracking` must not silently delete every tracked event.
//!
//! The tables are members of the extension (so `pg_dump` restores them through
//! `pg_extension_config_dump`, README "Lifecycle"), and a member goes with its extension. An event
//! trigger on `ddl_command_start` (`onevault_tracking_guards_its_data`, sql/lifecycle.sql) reads
//! the statement about to run: a `DROP EXTENSION` or `DROP SCHEMA` that names this extension or
//! its schema, with or without `CASCADE`, is refused while events are stored, unless the session
//! said explicitly that the events are to go (`SET onevault_tracking.drop_deletes_data = on`).
//! It has to be native: a PL/pgSQL event trigger sees the command tag, not which objects a DROP
//! names.

use crate::postgres::error::TrackingError;
use pgrx::list::PgList;
use pgrx::prelude::*;
use std::ffi::CStr;

/// The names a DROP statement of this kind may carry for the extension.
fn guarded_name(remove_type: pg_sys::ObjectType::Type) -> Option<&'static str> {
    match remove_type {
        pg_sys::ObjectType::OBJECT_EXTENSION | pg_sys::ObjectType::OBJECT_SCHEMA => {
            Some("onevault_tracking")
        }
        _ => None,
    }
}

/// Whether the DROP statement `parsetree` names the extension (or its schema).
///
/// # Safety
/// `parsetree` is the statement of the running event trigger, valid for the call.
unsafe fn drops_the_extension(parsetree: *mut pg_sys::Node) -> bool {
    if !pgrx::is_a(parsetree, pg_sys::NodeTag::T_DropStmt) {
        return false;
    }
    let drop = parsetree.cast::<pg_sys::DropStmt>();
    let Some(name) = guarded_name((*drop).removeType) else {
        return false;
    };
    PgList::<pg_sys::Node>::from_pg((*drop).objects)
        .iter_ptr()
        .any(|object| {
            pgrx::is_a(object, pg_sys::NodeTag::T_String)
                && CStr::from_ptr((*object.cast::<pg_sys::String>()).sval).to_bytes()
                    == name.as_bytes()
        })
}

/// Whether the raw table (every event lands there first) holds a row; a damaged installation
/// without it holds none.
fn events_stored() -> bool {
    let table_exists = Spi::get_one::<bool>(
        "SELECT pg_catalog.to_regclass('raw.site_tracking_events_r') IS NOT NULL",
    );
    if table_exists.ok().flatten() != Some(true) {
        return false;
    }
    Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM raw.site_tracking_events_r)")
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_onevault_tracking_drop_guard() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// The event trigger function (`RETURNS event_trigger`, declared in sql/lifecycle.sql).
///
/// # Safety
/// Called by PostgreSQL's event trigger machinery with a valid `fcinfo`.
#[unsafe(no_mangle)]
#[pg_guard]
pub unsafe extern "C-unwind" fn onevault_tracking_drop_guard(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let context = (*fcinfo).context;
    if context.is_null() || !pgrx::is_a(context, pg_sys::NodeTag::T_EventTriggerData) {
        TrackingError::InvalidArgument {
            name: "onevault_tracking_drop_guard",
            reason: "it runs only as an event trigger".into(),
        }
        .raise();
    }
    let trigger = context.cast::<pg_sys::EventTriggerData>();
    if drops_the_extension((*trigger).parsetree)
        && !crate::postgres::settings::drop_deletes_data()
        && events_stored()
    {
        TrackingError::DropWouldDeleteEvents.raise();
    }
    pg_sys::Datum::from(0)
}
