#!/usr/bin/env bash
# Installs segface for C and C++ programs on a desktop (Linux; macOS works the same with .dylib):
#
#   PREFIX/include/segface.h, segface.hpp
#   PREFIX/lib/libsegface.so (or .dylib), libsegface.a
#   PREFIX/lib/pkgconfig/segface.pc                  pkg-config --cflags --libs [--static] segface
#   PREFIX/lib/cmake/SegFace/SegFaceConfig.cmake      find_package(SegFace) -> SegFace::segface,
#                                                    SegFace::segface_static
#
# The same layout cargo-c would produce, without installing cargo-c. The library is the mobile
# build (no default features: no converter, downloader or CLI inside).
#
# usage: scripts/install-c.sh [--prefix DIR] [--profile release|dev] [--destdir DIR]
#                             [--features LIST]   (extra cargo features, e.g. jni)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
profile=release
destdir=
features=
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) prefix=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --destdir) destdir=$2; shift 2 ;;
        --features) features=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case $profile in
    release) out_dir=release ;;
    dev) out_dir=debug ;;
    *) echo "--profile must be release or dev" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target_dir=${CARGO_TARGET_DIR:-target}

# Build both library kinds; rustc tells which system libraries a static link needs.
notes=$(cargo rustc --lib --profile "$profile" --no-default-features ${features:+--features "$features"} \
    --crate-type cdylib,staticlib \
    --message-format short -- --print native-static-libs 2>&1 | tee /dev/stderr)
static_libs=$(printf '%s\n' "$notes" | sed -n 's/.*native-static-libs: //p' | tail -1)
if [ -z "$static_libs" ]; then
    echo "could not read native-static-libs from rustc" >&2
    exit 1
fi
# The shared library's name on this system.
case "$(uname -s)" in
    Darwin) shared=libsegface.dylib ;;
    *) shared=libsegface.so ;;
esac

root=$destdir$prefix
install -d "$root/include" "$root/lib/pkgconfig" "$root/lib/cmake/SegFace"
install -m 644 include/segface.h include/segface.hpp "$root/include/"
install -m 755 "$target_dir/$out_dir/$shared" "$root/lib/"
install -m 644 "$target_dir/$out_dir/libsegface.a" "$root/lib/"
if [ "$(uname -s)" = Darwin ]; then
    install_name_tool -id "$prefix/lib/$shared" "$root/lib/$shared"
fi

cat > "$root/lib/pkgconfig/segface.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: segface
Description: SegFace face parsing (19 classes) on CPUs through tract
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lsegface
Libs.private: $static_libs
PC

cat > "$root/lib/cmake/SegFace/SegFaceConfig.cmake" <<CMAKE
# segface $version: imported targets SegFace::segface (shared) and SegFace::segface_static.
get_filename_component(_segface_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET SegFace::segface)
  add_library(SegFace::segface SHARED IMPORTED)
  set_target_properties(SegFace::segface PROPERTIES
    IMPORTED_LOCATION "\${_segface_prefix}/lib/$shared"
    INTERFACE_INCLUDE_DIRECTORIES "\${_segface_prefix}/include")
  add_library(SegFace::segface_static STATIC IMPORTED)
  separate_arguments(_segface_static_libs UNIX_COMMAND "$static_libs")
  set_target_properties(SegFace::segface_static PROPERTIES
    IMPORTED_LOCATION "\${_segface_prefix}/lib/libsegface.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_segface_prefix}/include"
    INTERFACE_LINK_LIBRARIES "\${_segface_static_libs}")
endif()
unset(_segface_prefix)
CMAKE

cat > "$root/lib/cmake/SegFace/SegFaceConfigVersion.cmake" <<CMAKE
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  string(REGEX MATCH "^[0-9]+\\\\.[0-9]+" _have "\${PACKAGE_VERSION}")
  string(REGEX MATCH "^[0-9]+\\\\.[0-9]+" _want "\${PACKAGE_FIND_VERSION}")
  # 0.x releases are compatible within a minor version only.
  if(_have STREQUAL _want OR PACKAGE_FIND_VERSION STREQUAL "")
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
CMAKE

echo "installed segface $version into $root"
