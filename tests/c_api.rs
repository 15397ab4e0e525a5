//! Real C and C++ programs compiled against `include/segface.h` and linked with the shared
//! library that this `cargo test` built. Their labels must equal the Rust API's.
#![cfg(feature = "convert")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use segface::ImageView;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding libsegface.so: the test binary lives in `<target>/<profile>/deps`.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(dir.join("libsegface.so").is_file(), "libsegface.so not found in {}", dir.display());
    dir
}

fn compile(compiler: &str, flags: &[&str], source: &Path, output: &Path) {
    let lib = library_dir();
    let status = Command::new(compiler)
        .args(flags)
        .args(["-Wall", "-Wextra", "-pedantic", "-Werror", "-I"])
        .arg(repo().join("include"))
        .arg(source)
        .arg("-o")
        .arg(output)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lsegface")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(status.success(), "{compiler} failed on {}", source.display());
}

/// Runs a compiled test program on the astronaut image and returns the labels it wrote.
fn run_program(program: &Path, model: &Path, dir: &Path) -> Vec<u8> {
    let img = astronaut_rgb();
    let rgb = dir.join("astronaut.rgb");
    std::fs::write(&rgb, img.as_raw()).unwrap();
    let out = dir.join(format!("{}.labels", program.file_name().unwrap().to_string_lossy()));
    let output = Command::new(program)
        .arg(model)
        .arg(&rgb)
        .arg(img.width().to_string())
        .arg(img.height().to_string())
        .arg(&out)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(out).unwrap()
}

fn rust_labels() -> Vec<u8> {
    let img = astronaut_rgb();
    let view = ImageView::rgb(img.as_raw(), img.width(), img.height()).unwrap();
    model_256().session().unwrap().parse(&view).unwrap().labels
}

#[test]
fn c_program_parses_a_real_image() {
    let dir = scratch("c_api");
    let model = onnx_256_file("c_api");
    let program = dir.join("parse_image_c");
    compile("cc", &["-std=c99"], &repo().join("tests/c/parse_image.c"), &program);
    assert_eq!(run_program(&program, &model, &dir), rust_labels());
}

#[test]
fn cpp_program_parses_a_real_image() {
    let dir = scratch("cpp_api");
    let model = onnx_256_file("cpp_api");
    let program = dir.join("parse_image_cpp");
    compile("c++", &["-std=c++17"], &repo().join("tests/c/parse_image.cpp"), &program);
    assert_eq!(run_program(&program, &model, &dir), rust_labels());
}

#[test]
fn header_compiles_as_strict_c99_and_cpp11() {
    let dir = scratch("header");
    let source = dir.join("only_header.c");
    std::fs::write(
        &source,
        "#include \"segface.h\"\n#include \"segface.h\"\nint main(void) { return SEGFACE_STATUS_OK; }\n",
    )
    .unwrap();
    for (compiler, std_flag, lang) in [("cc", "-std=c99", "c"), ("c++", "-std=c++11", "c++")] {
        let status = Command::new(compiler)
            .args([std_flag, "-Wall", "-Wextra", "-pedantic", "-Werror", "-x", lang, "-fsyntax-only", "-I"])
            .arg(repo().join("include"))
            .arg(&source)
            .status()
            .unwrap();
        assert!(status.success(), "segface.h does not compile with {compiler} {std_flag}");
    }
}
