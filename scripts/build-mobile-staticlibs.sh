#!/usr/bin/env bash
# Builds the release static libraries for Android (aarch64-linux-android, with the JNI entry points)
# and iOS (aarch64-apple-ios) on Linux, without the NDK or Xcode: Debian's clang 16 assembles
# tract's arm64 kernels. CI runs it with --check for both targets; apps build with
# android/build-rust.sh (cargo-ndk) and ios/build-xcframework.sh (Xcode) instead.
#
# Prints each library's size as built and with debug sections stripped, and fails if tract's SDOT
# int8 kernel was silently left out (clang 16 rejects `.arch armv8.2-a+dotprod` in the kernel
# probe, so the assembler is told the architecture with -Wa,-march).
#
# usage: scripts/build-mobile-staticlibs.sh [--check] [triple ...]   (default: both)
#   --check: type-check and lint the library for the targets instead of building it (`cargo
#   clippy -- -D warnings`, which still runs tract's build script, so the arm64 kernels are
#   assembled and the SDOT check holds). CI checks both: the arm64 code generation is built and
#   run by its qemu tests.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=build
if [ "${1:-}" = --check ]; then
    mode=check
    shift
fi

CLANG=${CLANG:-clang-16}
# llvm's archiver and strip understand both ELF (Android) and Mach-O (iOS) objects.
AR=${AR:-$(command -v llvm-ar-16 || command -v llvm-ar)}
STRIP_TOOL=${STRIP_TOOL:-$(command -v llvm-strip-16 || command -v llvm-strip)}
ASM_ARCH="-Wa,-march=armv8.2-a+dotprod"

build() { # triple, clang target, features
    local triple=$1 clang_target=$2 features=$3 var=${1//-/_} profile_dir
    echo "--- $triple ($mode)"
    local cargo_step=(rustc --lib --release --crate-type staticlib) lints=()
    profile_dir=release
    if [ "$mode" = check ]; then
        cargo_step=(clippy --lib)
        lints=(-- -D warnings)
        profile_dir=debug
    fi
    env "CC_$var=$CLANG" "CFLAGS_$var=--target=$clang_target $ASM_ARCH" "AR_$var=$AR" \
        SDKROOT="$sdk_stub" \
        cargo "${cargo_step[@]}" --quiet --target "$triple" \
        --no-default-features ${features:+--features "$features"} "${lints[@]}"
    local linalg_out
    linalg_out=$(ls -td target/"$triple"/$profile_dir/build/tract-linalg-*/out | head -1)
    if [ ! -f "$linalg_out/libarm64simd_dot.a" ]; then
        echo "error: tract's SDOT kernel was not assembled for $triple" >&2
        exit 1
    fi
    if [ "$mode" = check ]; then
        echo "$triple: the library type-checks without lints and tract's arm64 kernels (SDOT included) assemble"
        return
    fi
    local lib=target/$triple/$profile_dir/libsegface.a
    local stripped=target/$triple/$profile_dir/libsegface.stripped.a
    cp "$lib" "$stripped"
    "$STRIP_TOOL" --strip-debug "$stripped"
    printf '%s: libsegface.a %s bytes, %s bytes without debug sections\n' "$triple" \
        "$(stat -c %s "$lib")" "$(stat -c %s "$stripped")"
}

# cc looks up the Apple SDK with xcrun unless SDKROOT names a directory; only assembly is
# compiled for iOS, which needs no SDK headers, so an empty directory does.
sdk_stub=$PWD/target/apple-sdk-stub
mkdir -p "$sdk_stub"

targets=${*:-aarch64-linux-android aarch64-apple-ios}
for triple in $targets; do
    rustup target add "$triple" >/dev/null 2>&1
    case $triple in
        aarch64-linux-android) build "$triple" aarch64-linux-android21 jni ;;
        aarch64-apple-ios) build "$triple" arm64-apple-ios13.0 "" ;;
        *) echo "unknown target $triple" >&2; exit 2 ;;
    esac
done
