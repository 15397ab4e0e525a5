//! Compiling and running the C and C++ test programs in `tests/c/`, natively or cross (qemu).

use std::path::Path;
use std::process::Command;

/// The C or C++ compiler: `SEGFACE_TEST_CC` / `SEGFACE_TEST_CXX` when cross-testing (e.g.
/// aarch64-linux-gnu-gcc), else the host's `cc` / `c++`.
pub fn compiler(cpp: bool) -> String {
    let (var, default) = if cpp { ("SEGFACE_TEST_CXX", "c++") } else { ("SEGFACE_TEST_CC", "cc") };
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// How to start a compiled program: through `SEGFACE_TEST_RUNNER` (e.g. qemu-aarch64-static)
/// when cross-testing.
pub fn program_command(program: &Path) -> Command {
    match std::env::var("SEGFACE_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut command = Command::new(words.next().unwrap());
            command.args(words).arg(program);
            command
        }
        _ => Command::new(program),
    }
}

/// Runs a compiled test program on packed RGB pixels and returns the labels it wrote.
pub fn run_program(program: &Path, model: &Path, rgb: &[u8], size: (u32, u32), dir: &Path) -> Vec<u8> {
    run_program_with(program, model, rgb, size, dir, &[])
}

/// As [`run_program`], with more arguments after the output path.
pub fn run_program_with(
    program: &Path,
    model: &Path,
    rgb: &[u8],
    (width, height): (u32, u32),
    dir: &Path,
    extra: &[&Path],
) -> Vec<u8> {
    let name = program.file_name().unwrap().to_string_lossy().into_owned();
    let input = dir.join(format!("{name}.rgb"));
    std::fs::write(&input, rgb).unwrap();
    let out = dir.join(format!("{name}.labels"));
    let output = program_command(program)
        .arg(model)
        .arg(&input)
        .arg(width.to_string())
        .arg(height.to_string())
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "{name} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    std::fs::read(out).unwrap()
}
