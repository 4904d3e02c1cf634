//! `drover-api`: the one crate that knows Drover's wire format.
//!
//! It owns:
//! - [`pb`]: the Rust types and gRPC stubs generated from `proto/drover/v1` (tonic-prost-build
//!   in `build.rs`), and [`FILE_DESCRIPTOR_SET`] for gRPC reflection;
//! - [`model`]: the validated domain types services work with (tasks, steps, options);
//! - [`convert`]: wire → domain conversions that validate and name every offending field,
//!   and domain → wire conversions;
//! - [`error`]: Drover's error classes and their wire form (google.rpc ErrorInfo, BadRequest,
//!   RetryInfo), mapped once for every service;
//! - [`template`]: `${steps.<name>.<field>}` references between steps;
//! - [`url_policy`]: which URLs a task may open;
//! - [`limits`]: every size and count bound, in one place.
//!
//! # How a request flows through it
//!
//! A handler receives a `pb::SubmitTaskRequest`, converts its `task` with
//! [`TaskSpec::try_from`] (or [`convert::task_spec`] with the operator's [`UrlPolicy`]), and
//! on failure returns the [`ValidationError`] prefixed with `task`, which converts into an
//! INVALID_ARGUMENT `Status` listing each field:
//!
//! ```
//! use drover_api::{pb, TaskSpec};
//!
//! let wire = pb::TaskSpec {
//!     steps: vec![pb::Step {
//!         kind: Some(pb::step::Kind::Navigate(pb::NavigateStep {
//!             url: "file:///etc/passwd".into(),
//!             ..Default::default()
//!         })),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let err = TaskSpec::try_from(wire).unwrap_err().prefixed("task");
//! assert_eq!(
//!     err.to_string(),
//!     r#"task.steps[0].navigate.url: scheme "file" is not allowed; use http, https, data or about:blank"#
//! );
//! let status = tonic::Status::from(err);
//! assert_eq!(status.code(), tonic::Code::InvalidArgument);
//! ```

pub mod convert;
pub mod error;
pub mod limits;
pub mod model;
pub mod pb;
pub mod template;
pub mod url_policy;
pub mod validate;

pub use error::{DroverError, ErrorReason};
pub use model::task::{Step, StepKind, TaskSpec};
pub use template::{OutputField, StepRef, Template};
pub use url_policy::UrlPolicy;
pub use validate::{FieldViolation, ValidationError};

/// The encoded `FileDescriptorSet` of `drover.v1`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("drover_v1_descriptor");
