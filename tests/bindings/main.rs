//! The C ABI, its header, the C/C++ install, the JNI shim driven by Java, and the Swift
//! wrapper's symbols: real programs calling the library.

#[path = "../common/mod.rs"]
mod common;

mod c_api;
mod c_header;
mod install;
mod jni_host;
mod swift_symbols;
