#!/usr/bin/env bash
# Builds and runs segface's libFuzzer targets (fuzz/fuzz_targets/) under AddressSanitizer.
#
#   scripts/fuzz.sh build                  compile every target
#   scripts/fuzz.sh run TARGET [ARGS...]   fuzz TARGET on fuzz/corpus/TARGET (seeded from the
#                                          fixtures the first time); ARGS go to libFuzzer, e.g.
#                                          -max_total_time=3600; crashes are saved under
#                                          fuzz/artifacts/TARGET/
#   scripts/fuzz.sh run TARGET FILE...     replay saved inputs
#
# By default segface and the targets are compiled with coverage and AddressSanitizer, and every
# dependency exactly as `cargo build --all-targets --features training,jni` compiles it, in the same
# target directory: after the test build only segface itself is compiled again. Coverage then
# guides the fuzzer through segface's code (where all its unsafe code is) but not inside tract;
# SEGFACE_FUZZ_ALL_CRATES=1 instruments every crate as well (a separate, full build in
# target/fuzz-all, for long runs).
#
# Needs LLVM's libFuzzer runtime (Debian: clang-16 and libclang-rt-16-dev; CLANG names another
# clang) and an x86_64 Linux host. Works on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
command=$1
shift

arch=$(uname -m)
runtime=$("${CLANG:-clang-16}" -print-file-name="libclang_rt.fuzzer-$arch.a" 2>/dev/null || true)
if [[ ! -f $runtime ]]; then
    echo "fuzz.sh: no libFuzzer runtime (libclang_rt.fuzzer-$arch.a) from ${CLANG:-clang-16};" \
        "install clang-16 and libclang-rt-16-dev, or set CLANG" >&2
    exit 1
fi
# What cargo-fuzz gives a target: libFuzzer's coverage counters and comparison tracing, the
# `fuzzing` cfg, AddressSanitizer (LeakSanitizer included); and the runtime, which holds main.
flags="--cfg fuzzing -Zsanitizer=address -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares
    -Clink-arg=$runtime -Clink-arg=-lstdc++"

build() {
    if [[ ${SEGFACE_FUZZ_ALL_CRATES:-0} == 1 ]]; then
        # With an explicit --target, RUSTFLAGS reach no build script or proc-macro.
        RUSTC_BOOTSTRAP=1 RUSTFLAGS="$flags" cargo build -p segface-fuzz --bins \
            --target "$arch-unknown-linux-gnu" --target-dir target/fuzz-all
    else
        SEGFACE_FUZZ_RUSTFLAGS="$flags" RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/fuzz-rustc.sh" \
            cargo build -p segface-fuzz --bins
    fi
}
if [[ ${SEGFACE_FUZZ_ALL_CRATES:-0} == 1 ]]; then
    bin_dir=target/fuzz-all/$arch-unknown-linux-gnu/debug
else
    bin_dir=target/debug
fi

case $command in
    build) build ;;
    run)
        [[ $# -ge 1 ]] || usage
        target=$1
        shift
        [[ -f fuzz/fuzz_targets/$target.rs ]] || { echo "fuzz.sh: no target $target" >&2; exit 2; }
        build
        if [[ ! -d fuzz/corpus/$target ]]; then
            "$bin_dir/make_seeds" fuzz/corpus tests/fixtures/mobilenet_seed1/checkpoint.pt
        fi
        mkdir -p "fuzz/artifacts/$target"
        if [[ $# -ge 1 && -f $1 ]]; then
            exec "$bin_dir/$target" "$@"
        fi
        exec "$bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" "fuzz/corpus/$target" "$@"
        ;;
    *) usage ;;
esac
