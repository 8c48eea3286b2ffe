//! Compiles the checked-in `.proto` files into buffa messages and Connect
//! service traits and clients. Needs `protoc` (Debian: protobuf-compiler).
fn main() -> Result<(), String> {
    let protos = [
        "proto/process/process.proto",
        "proto/filesystem/filesystem.proto",
        "proto/wrenn/agent/v1/agent.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    connectrpc_build::Config::new()
        .files(&protos)
        .includes(&["proto/"])
        .include_file("_connectrpc.rs")
        .compile()
        .map_err(|err| {
            format!("compiling .proto files failed (is protoc installed? apt-get install protobuf-compiler): {err}")
        })
}
