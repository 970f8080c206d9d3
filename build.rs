// Build script: compiles the etcd-compatible `.proto` files under `proto/` into Rust.
//
// `tonic-build` here is `madsim-tonic-build`: one `compile_protos` call runs
// prost/protoc twice and writes two flavours of every package,
// `$OUT_DIR/<package>.rs` (real tonic code, via `tonic-prost-build`) and
// `$OUT_DIR/sim/<package>.rs` (madsim-simulated services). `tonic::include_proto!`
// (from `madsim-tonic`) picks the right one depending on `cfg(madsim)`.
//
// protoc is the vendored binary from `protoc-bin-vendored`, so no system
// protoc is needed.

use std::path::Path;

/// Every `.proto` file, relative to the include root (the `proto/` directory).
const PROTOS: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lock/v3lock.proto",
    "v3election/v3election.proto",
    "peer/peer.proto",
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    if let Err(e) = compile_protos(&root) {
        panic!("compiling protos under {}: {e}", root.display());
    }
}

/// Generates the Rust code for [`PROTOS`], with `root` as the only include directory.
/// Kept apart from `main` so another build script can `include!` this file and
/// call it with a different root. (A build script is outside the env facade: it
/// reads the descriptor set protoc wrote, before the crate exists.)
#[allow(clippy::disallowed_methods)]
fn compile_protos(root: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Read by prost-build when it runs protoc. Build scripts are single-threaded
    // at this point, so setting the variable is sound.
    std::env::set_var("PROTOC", protoc);

    println!("cargo:rerun-if-changed={}", root.display());

    let protos: Vec<_> = PROTOS.iter().map(|p| root.join(p)).collect();
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = out_dir.join("etcd_descriptors.bin");
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(&descriptors)
        .compile_protos(&protos, &[root])?;

    // proto3 JSON (serde) for the HTTP gateway, written as etcd's gateway writes it:
    // the .proto field names (`create_revision`, not `createRevision`), zero values
    // left out, 64-bit integers as strings, bytes in base64, enums by name. Unknown
    // fields in a request are ignored, as grpc-gateway ignores them.
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptors)?)?
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .out_dir(&out_dir)
        .build(&[".mvccpb", ".authpb", ".etcdserverpb", ".v3lockpb", ".v3electionpb"])?;
    Ok(())
}
