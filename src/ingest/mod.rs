//! The doors events come in by. Each only decodes and encodes; the engine
//! decides.

pub mod kafka;
pub mod replay;
