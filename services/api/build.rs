//! Generates the v1 wire types and gRPC stubs from `proto/drover/v1`, and the encoded file
//! descriptor set that servers hand to gRPC reflection.
//!
//! Needs `protoc` (Debian `protobuf-compiler`) and the well-known types (`libprotobuf-dev`);
//! `make test` installs both. `PROTOC` overrides the compiler's path.

use std::{env, path::PathBuf};

const PROTO_ROOT: &str = "../../proto";
const PROTO_FILES: &[&str] = &[
    "drover/v1/errors.proto",
    "drover/v1/ai.proto",
    "drover/v1/browser.proto",
    "drover/v1/task.proto",
    "drover/v1/scheduler.proto",
    "drover/v1/worker_hub.proto",
    "drover/v1/browser_pool.proto",
    "drover/v1/ai_router.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let files: Vec<PathBuf> = PROTO_FILES
        .iter()
        .map(|f| PathBuf::from(PROTO_ROOT).join(f))
        .collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure()
        // Screenshots and PDFs travel as `bytes::Bytes`: handed on without a copy.
        .bytes(".drover.v1.BinaryOutput.data")
        .file_descriptor_set_path(out_dir.join("drover_v1_descriptor.bin"))
        .compile_protos(&files, &[PathBuf::from(PROTO_ROOT)])?;
    Ok(())
}
