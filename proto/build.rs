//! Compiles `proto/**/*.proto` with protox (pure Rust, no protoc) and
//! generates Rust types with prost-build. The serialized descriptor set is
//! written to `$OUT_DIR/mesos_descriptor.bin` for runtime reflection.

use prost::Message;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read proto dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            let rel = path.strip_prefix(root).expect("relative path");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("proto");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }

    let fds = protox::compile(&files, [&root]).unwrap_or_else(|e| panic!("protox: {e:?}"));

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("mesos_descriptor.bin"), fds.encode_to_vec())
        .expect("write descriptor set");

    let mut config = prost_build::Config::new();
    config
        .enable_type_names()
        .btree_map(["."])
        .include_file("mesos_proto.rs");
    config.compile_fds(fds).expect("prost-build");
}
