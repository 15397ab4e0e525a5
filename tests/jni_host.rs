//! The Java wrapper (`ai.segface.SegFace`, android/) compiled with javac and run on the host JVM
//! against the Linux build of libsegface, parsing the reference input.
#![cfg(feature = "convert")]

mod common;

use std::process::Command;

use common::*;

#[test]
fn java_wrapper_parses_the_reference_input() {
    let dir = scratch("jni_host");
    let classes = dir.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let java_src = repo().join("android/segface/src/main/java/ai/segface");
    let status = Command::new("javac")
        .args(["-Xlint:all", "-Werror", "-d"])
        .arg(&classes)
        .arg(java_src.join("SegFace.java"))
        .arg(java_src.join("SegFaceException.java"))
        .arg(repo().join("tests/java/SegFaceHostTest.java"))
        .status()
        .expect("javac");
    assert!(status.success(), "javac failed");

    let model = onnx_256_file("jni_host");
    let golden = Golden::load();
    let (_, rgb) = golden.u8("input_rgb_u8");
    let (_, expected) = golden.u8("labels");
    let input = dir.join("input.rgb");
    std::fs::write(&input, &rgb).unwrap();
    let out = dir.join("java.labels");
    let output = Command::new("java")
        .arg(format!("-Djava.library.path={}", shared_library_dir().display()))
        .arg("-Xcheck:jni")
        .arg("-cp")
        .arg(&classes)
        .arg("SegFaceHostTest")
        .arg(&model)
        .arg(&input)
        .args(["256", "256"])
        .arg(&out)
        .output()
        .expect("java");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.status.success(), "java test failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let labels = std::fs::read(&out).unwrap();
    let agree = agreement(&labels, &expected);
    println!("Java API label agreement with the reference: {:.4} %", 100.0 * agree);
    assert!(agree >= 0.9999, "{agree}");
}
