//! Generate the gRPC code from proto/ with tonic-build, using the protoc that
//! protoc-bin-vendored ships (so a build machine needs no protobuf compiler of its own).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: a build script is single-threaded; nothing reads the environment concurrently.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let include = protoc_bin_vendored::include_path()?; // google/protobuf/timestamp.proto
    let protos = [std::path::PathBuf::from("proto/worker_agent.proto")];
    tonic_prost_build::configure().compile_protos(&protos, &["proto".into(), include])?;
    Ok(())
}
