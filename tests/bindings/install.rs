//! The desktop install path for C and C++ users: `scripts/install-c.sh` into a prefix, then a C
//! program built against it with pkg-config (shared library) and with CMake's `find_package`
//! (static library), each parsing the reference input like the goldens.
#![cfg(feature = "convert")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::programs::run_program;
use common::*;

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Installs into a fresh prefix once per test binary (a dev build with this test's features, to
/// reuse the test build's compiled dependencies).
fn prefix() -> &'static Path {
    static PREFIX: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = scratch("install").join("prefix");
        run(Command::new(repo().join("scripts/install-c.sh"))
            .args(["--profile", "dev", "--features", &library_features().join(","), "--prefix"])
            .arg(&prefix));
        prefix
    })
}

fn labels_agree_with_the_golden(program: &Path, scratch_name: &str) {
    let dir = scratch(scratch_name);
    let golden = Golden::load();
    let (_, rgb) = golden.u8("input_rgb_u8");
    let (_, expected) = golden.u8("labels");
    let labels = run_program(program, &onnx_256_file(scratch_name), &rgb, (256, 256), &dir);
    let agree = agreement(&labels, &expected);
    println!("{}: label agreement with the reference {:.4} %", program.display(), 100.0 * agree);
    assert!(agree >= 0.9999, "{agree}");
}

#[test]
fn pkg_config_builds_a_c_program_against_the_installed_library() {
    let prefix = prefix();
    assert!(prefix.join("include/segface.h").is_file() && prefix.join("include/segface.hpp").is_file());
    let pkg = |args: &[&str]| {
        run(Command::new("pkg-config")
            .args(args)
            .arg("segface")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")))
    };
    let version = pkg(&["--modversion"]);
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));
    let flags = pkg(&["--cflags", "--libs"]);
    assert!(flags.contains("-lsegface"), "{flags}");
    let static_flags = pkg(&["--static", "--libs"]);
    assert!(static_flags.contains("-lpthread") || static_flags.contains("-lSystem"), "{static_flags}");

    let dir = scratch("install_pkg_config");
    let program = dir.join("parse_image_pkg_config");
    run(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"])
        .arg(repo().join("tests/c/parse_image.c"))
        .arg("-o")
        .arg(&program)
        .args(flags.split_whitespace())
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display())));
    labels_agree_with_the_golden(&program, "install_pkg_config");
}

#[test]
fn cmake_find_package_links_the_static_library() {
    let prefix = prefix();
    let dir = scratch("install_cmake");
    let build = dir.join("build");
    run(Command::new("cmake")
        .arg("-S")
        .arg(repo().join("tests/cmake"))
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
        .arg(format!("-DSEGFACE_TEST_SOURCE={}", repo().join("tests/c/parse_image.c").display())));
    run(Command::new("cmake").arg("--build").arg(&build));
    let program = build.join("parse_image_cmake");
    // Statically linked: the program must not need libsegface.so at run time.
    let needed = run(Command::new("ldd").arg(&program));
    assert!(!needed.contains("libsegface"), "{needed}");
    labels_agree_with_the_golden(&program, "install_cmake");
}
