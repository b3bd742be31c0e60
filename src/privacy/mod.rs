//! Privacy: the rotating visitor salts, Do-Not-Track / Global Privacy Control, retention and
//! erasure.

pub mod erasure;
pub mod retention;
pub mod salts;
pub mod signals;
