//! Compiles proto/liaison/v1 with protox, so no system `protoc` is needed.

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
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
