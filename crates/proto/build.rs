//! Generates every Earshot package from `proto/` with a vendored `protoc`, so a
//! fresh machine builds without a system protobuf compiler.

use std::path::PathBuf;

// The routes and the OpenAPI writer are the crate's own modules, compiled
// into the build script too, so the documents and the server read the
// annotations one way.
// (The script uses only the parts that write documents.)
#[allow(dead_code)]
#[path = "src/http_rule.rs"]
mod http_rule;
#[allow(dead_code)]
#[path = "src/openapi.rs"]
mod openapi;

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

    write_openapi(&out_dir)?;

    // Relative to this package, so that Cargo checks the protos of the
    // checkout it builds: checkouts sharing a target directory share this
    // script's output, and an absolute path would watch another's files.
    println!("cargo:rerun-if-changed=../../proto");
    Ok(())
}

/// One OpenAPI document per Earshot gRPC service, and an index the crate
/// includes (`openapi_documents`).
fn write_openapi(out_dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(out_dir.join("earshot_descriptor.bin"))?;
    let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice())?;
    let dir = out_dir.join("openapi");
    std::fs::create_dir_all(&dir)?;
    let mut index = String::from("&[\n");
    for service in pool
        .services()
        .filter(|s| s.full_name().starts_with("earshot."))
    {
        let name = service.full_name();
        let first = openapi::render(&openapi::document(&pool, name)?);
        // Written twice from the same descriptors: a document that is not a
        // pure function of them would differ between builds.
        let second = openapi::render(&openapi::document(&pool, name)?);
        if first != second {
            return Err(format!("the OpenAPI document of {name} is not deterministic").into());
        }
        std::fs::write(dir.join(format!("{name}.json")), first)?;
        index.push_str(&format!(
            "    ({name:?}, include_str!(concat!(env!(\"OUT_DIR\"), \"/openapi/{name}.json\"))),\n"
        ));
    }
    index.push_str("]\n");
    std::fs::write(out_dir.join("openapi_index.rs"), index)?;
    Ok(())
}
