#!/bin/sh
# Builds build/SegFaceFFI.xcframework: libsegface.a (C ABI only, no converter or CLI) for iOS
# devices (arm64) and the simulator (arm64 + x86_64, joined with lipo), with segface.h and a
# module map. Needs macOS with Xcode and the rustup targets aarch64-apple-ios,
# aarch64-apple-ios-sim and x86_64-apple-ios.
set -eu
cd "$(dirname "$0")"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-13.0}"
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --manifest-path ../Cargo.toml --release --lib --no-default-features --target "$target"
done
rm -rf build && mkdir -p build/headers build/sim
cp ../include/segface.h module.modulemap build/headers/
lipo -create \
    ../target/aarch64-apple-ios-sim/release/libsegface.a \
    ../target/x86_64-apple-ios/release/libsegface.a \
    -output build/sim/libsegface.a
xcodebuild -create-xcframework \
    -library ../target/aarch64-apple-ios/release/libsegface.a -headers build/headers \
    -library build/sim/libsegface.a -headers build/headers \
    -output build/SegFaceFFI.xcframework
echo "built ios/build/SegFaceFFI.xcframework"
