//! Do-Not-Track and Global Privacy Control: what a browser asked, and what a site does with it
//! (its `privacy_signals` setting: ignore, anonymise or drop).

use onevault_tracking_core::site_settings::PrivacySignals;

/// The reason code of the privacy signal a browser sent, if any (GPC names the reason when both
/// are sent).
pub fn opt_out(
    do_not_track: Option<bool>,
    global_privacy_control: Option<bool>,
) -> Option<&'static str> {
    if global_privacy_control == Some(true) {
        Some("GLOBAL_PRIVACY_CONTROL")
    } else if do_not_track == Some(true) {
        Some("DO_NOT_TRACK")
    } else {
        None
    }
}

/// What a tracking call does with the event of a browser that sent `signal`, on a site whose
/// setting is `policy`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Honouring {
    /// No signal, or the site ignores signals: the event is tracked as sent.
    Track,
    /// Tracked without anything that identifies the visitor (no IP, no visitor hash, no
    /// client session id).
    Anonymise,
    /// Nothing is stored; the answer names the signal.
    Drop(&'static str),
}

pub fn honouring(signal: Option<&'static str>, policy: PrivacySignals) -> Honouring {
    match (signal, policy) {
        (None, _) | (Some(_), PrivacySignals::Ignore) => Honouring::Track,
        (Some(reason), PrivacySignals::Drop) => Honouring::Drop(reason),
        (Some(_), _) => Honouring::Anonymise,
    }
}
