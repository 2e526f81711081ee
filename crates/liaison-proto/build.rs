//! Compiles proto/liaison/v1 with protox, so no system `protoc` is needed, and writes the encoded
//! file descriptor set for gRPC reflection.

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "liaison/v1/notice.proto",
        "liaison/v1/exchange.proto",
        "liaison/v1/admin.proto",
    ];
    let descriptors = protox::compile(files, [&root])?;
    for file in files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("liaison_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
