//! The generated wire types and gRPC stubs of `drover.v1`, exactly as `proto/` defines them.
//!
//! Domain code outside this crate should not build or read these by hand: it converts them with
//! the `TryFrom`/`From` impls in [`crate::convert`], which validate on the way in.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("drover.v1");
