//! Compiles the checked-in `.proto` files into buffa messages and Connect
//! service traits and clients. Needs `protoc` (Debian: protobuf-compiler).
fn main() {
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
        .expect("compiling .proto files (is protoc installed? apt-get install protobuf-compiler)");
}
