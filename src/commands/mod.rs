//! Commands that live in the binary only, not the library: the analytics
//! commands built on polars, whose build is kept out of every library test.

pub mod analyze;
pub mod baseline;
pub mod evaluate;
pub mod history;
pub mod train;
