#!/bin/sh
# The rustc wrapper of scripts/fuzz.sh (RUSTC_WORKSPACE_WRAPPER): cargo runs it for this
# workspace's own crates only, segface and the fuzz targets, which it compiles with the flags in
# SEGFACE_FUZZ_RUSTFLAGS (coverage, AddressSanitizer). Every other crate is compiled by plain
# rustc, as in the test build, whose compiled dependencies the fuzz build therefore reuses.
# -Z flags need RUSTC_BOOTSTRAP on a stable toolchain; it is set for these crates alone, since
# some dependencies' build scripts probe it and would otherwise rebuild.
rustc=$1
shift
case " $* " in
    # Build scripts run on the host; probes (-vV, --print) must see plain rustc.
    *" --crate-name build_script_"* | *" -vV "* | *" --print"*) exec "$rustc" "$@" ;;
esac
# shellcheck disable=SC2086  # the flags are words
exec env RUSTC_BOOTSTRAP=1 "$rustc" "$@" $SEGFACE_FUZZ_RUSTFLAGS
