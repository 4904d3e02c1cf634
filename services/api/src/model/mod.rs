//! Drover's domain types: validated tasks, steps and their options. Services speak these;
//! they are built only by the conversions in [`crate::convert`], so holding one means its
//! every field passed validation.

pub mod ai;
pub mod browser;
pub mod output;
pub mod task;
