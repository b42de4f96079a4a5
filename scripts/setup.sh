#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Motif and builds it. Idempotent: packages
# already installed are skipped and the build is incremental.
#
#   scripts/setup.sh            install dependencies and build
#   scripts/setup.sh --deps     install dependencies only
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(cmake ninja-build ccache g++ python3
      libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
      clang-22 libclang-rt-22-dev
      libfmt-dev googletest libgtest-dev bible-kjv
      nlohmann-json3-dev zlib1g-dev
      libpcre2-dev libicu-dev libsentencepiece-dev
      python3-matplotlib graphviz
      lld-22)
# The fast CPU backend's GEMMs (runtime/fastcpu/Blas.h): oneDNN's matmul.
PKGS+=(libdnnl-dev)
# The fast CPU backend's AVX2 and baseline clones, tested on CPUs emulated by
# QEMU user mode (tests/unit/fastcpu/CMakeLists.txt, ctest label isa).
PKGS+=(qemu-user)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "${1:-}" = "--deps" ] && exit 0

BUILD=${BUILD_DIR:-build}
CUDA_FLAGS=()
# The CUDA toolkit, when present (no GPU needed): NVRTC for the compiler and
# nvcc for the GPU tests.
if [ -x /usr/local/cuda/bin/nvcc ]; then
  CUDA_FLAGS=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD" "${CUDA_FLAGS[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DMOTIF_BUILD_FUZZERS=ON
fi
cmake --build "$BUILD" -j"$(nproc)"
