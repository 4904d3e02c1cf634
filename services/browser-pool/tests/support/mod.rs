//! Test support shared by the browser-pool's integration tests: a local site and a Chromium.

#![allow(dead_code)] // each test binary uses a different part of the support

pub mod browser;
pub mod site;
pub mod steps;
