//! Support for the `pool_modes` bench: the local page it loads ([`site`]), the four ways of
//! running the task ([`modes`]), the measuring ([`measure`]) and the printing ([`report`]).

pub mod measure;
pub mod modes;
pub mod report;
pub mod site;
