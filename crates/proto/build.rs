//! Generates every Earshot package from `proto/` with a vendored `protoc`, so a
//! fresh machine builds without a system protobuf compiler.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "earshot/common/v1/common.proto",
    "earshot/common/v1/auth.proto",
    "earshot/common/v1/webhooks.proto",
    "earshot/events/v1/events.proto",
    "earshot/listening/v1/listening_service.proto",
    "earshot/case/v1/case_service.proto",
    "earshot/escalation/v1/escalation_service.proto",
    "earshot/insight/v1/insight_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // `prost::Name` on every message, so the codec finds each request's
    // descriptor by its full name.
    config.enable_type_names();

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_root.join(p)).collect();
    tonic_prost_build::configure()
        .codec_path("crate::codec::CheckedCodec")
        .file_descriptor_set_path(out_dir.join("earshot_descriptor.bin"))
        .compile_with_config(config, &files, &[proto_root.clone(), well_known])?;

    // Relative to this package, so that Cargo checks the protos of the
    // checkout it builds: checkouts sharing a target directory share this
    // script's output, and an absolute path would watch another's files.
    println!("cargo:rerun-if-changed=../../proto");
    Ok(())
}
