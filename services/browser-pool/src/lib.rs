//! `drover-browser-pool`: warm Chromium browsers with pooled pages.
//!
//! (Crate overview lands with the pool.)

pub mod actor;
mod browser_ops;
pub mod config;
pub mod error;
pub mod launcher;
pub mod lease;
pub mod metrics;
pub mod page;
pub mod pool;
pub mod procfs;
pub mod server;
mod supervisor;
