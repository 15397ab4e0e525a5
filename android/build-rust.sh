#!/bin/sh
# Builds libsegface.so (C ABI + JNI shim, no CLI or converter) for the AAR's ABIs into
# segface/src/main/jniLibs. Needs the Android NDK (ANDROID_NDK_HOME), cargo-ndk and the rustup
# targets aarch64-linux-android, armv7-linux-androideabi and x86_64-linux-android.
set -eu
cd "$(dirname "$0")"
# 16 KB page alignment (Google Play, Android 15+) for NDKs older than r28.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"
cargo ndk --manifest-path ../Cargo.toml \
    -t arm64-v8a -t armeabi-v7a -t x86_64 \
    -o segface/src/main/jniLibs \
    build --release --lib --no-default-features --features jni
# Check the alignment of every LOAD segment (2**14 or more).
for so in segface/src/main/jniLibs/*/libsegface.so; do
    if command -v llvm-readelf >/dev/null; then
        llvm-readelf -l "$so" | awk -v so="$so" '/LOAD/ && $NF != "0x4000" && $NF != "0x10000" { print so ": LOAD alignment " $NF " is below 16 KB"; bad = 1 } END { exit bad }'
    fi
done
