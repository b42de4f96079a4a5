# lit configuration for Motif: FileCheck tests of the frontend, dialects and passes.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "MOTIF"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".motif", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.motif_obj_root, "tests", "lit")

config.environment["FILECHECK_OPTS"] = "--enable-var-scope"
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.use_default_substitutions()
config.substitutions.append(("%motif_src", config.motif_src_root))
config.substitutions.append(("%motif_bin", config.motif_tools_dir))
config.substitutions.append(("%examples", os.path.join(config.motif_src_root, "examples")))

tool_dirs = [config.motif_tools_dir, config.llvm_tools_dir]
from lit.llvm.subst import ToolSubst

# motif-compile without its progress lines, which depend on the machine's
# speed (progress.test shows them with %motif_bin/motif-compile).
llvm_config.add_tool_substitutions(
    ["motif-opt", ToolSubst("motif-compile", extra_args=["--quiet"]), "motif-run"], tool_dirs)
llvm_config.add_tool_substitutions(["motif-import"], tool_dirs)

# bf16 GEMMs on the fast CPU backend (--cpu-matmul bf16): AMX or AVX512-BF16
# for oneDNN, as `motif-run doctor` reports it.
try:
    import os
    import subprocess

    doctor = subprocess.run(
        [os.path.join(config.motif_tools_dir, "motif-run"), "doctor"],
        capture_output=True, text=True, timeout=120)
    if "CPU bf16 matmuls (--cpu-matmul bf16): yes" in doctor.stdout:
        config.available_features.add("cpu-bf16")
except (OSError, subprocess.SubprocessError):
    pass

# A loadable NVIDIA driver: tests of the no-GPU messages are unsupported there.
try:
    import ctypes

    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
