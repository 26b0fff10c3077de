"""What the hardware computes fast: the CPU's vector ISA as this process uses it, the mixed precision to train in, and
the intra-op threads a block of work runs on.

bf16 pays only where the hardware computes it natively: on a GPU with bf16 and on CPUs with AVX-512-BF16 or AMX, where
oneDNN's bf16 convolutions run tens of times faster than fp32 ones. On an AVX2-only CPU bf16 is emulated and its
convolutions run several times *slower* than fp32 (measured in docs/performance.md), so `mixed_precision: auto`
(`leae train`) picks fp32 there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

# ISA levels from least to most capable; AMX and AVX-512-BF16 run bf16 matrix products natively.
ISA_LEVELS = ("other", "AVX2", "AVX-512", "AVX-512-BF16", "AMX")
NATIVE_BF16_ISAS = ("AVX-512-BF16", "AMX")
_ONEDNN_ISA_CAPS = {"AVX2": "AVX2", "AVX512_CORE": "AVX-512", "AVX512_CORE_BF16": "AVX-512-BF16"}


def cpu_isa() -> dict[str, Any]:
    """The CPU's vector ISA as this process uses it: the hardware's (`/proc/cpuinfo` flags), capped by ATen's dispatch
    level (`torch.backends.cpu.get_cpu_capability()`, lowered by `ATEN_CPU_CAPABILITY`) and by oneDNN's
    (`ONEDNN_MAX_CPU_ISA`), which is how an AVX2-only CPU is emulated on a newer one."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    hardware = "other"
    for level, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX-512-BF16", "avx512_bf16"), ("AMX", "amx_bf16")):
        if flag in flags:
            hardware = level
    capability = torch.backends.cpu.get_cpu_capability()
    caps = [{"AVX2": "AVX2", "DEFAULT": "other"}.get(capability, "AMX")]
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if onednn:
        caps.append(next((v for k, v in _ONEDNN_ISA_CAPS.items() if onednn.upper().startswith(k)), "AMX"))
    effective = ISA_LEVELS[min(ISA_LEVELS.index(level) for level in [hardware, *caps])]
    listed = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "avx_vnni")
    overrides = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
    return {
        "isa": effective,
        "hardware_isa": hardware,
        "aten_cpu_capability": capability,
        "cpuinfo_flags": [flag for flag in listed if flag in flags],
        "overrides": {name: os.environ[name] for name in overrides if name in os.environ},
        "native_bf16": effective in NATIVE_BF16_ISAS,
    }


def choose_mixed_precision(device: torch.device, isa: dict[str, Any] | None = None) -> str:
    """The precision `auto` stands for on `device`: "bf16" (autocast) on GPUs with bf16 and on CPUs whose ISA computes
    bf16 natively (AVX-512-BF16, AMX); "no" (fp32) elsewhere, where bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if (isa or cpu_isa())["native_bf16"] else "no"


__all__ = ["ISA_LEVELS", "NATIVE_BF16_ISAS", "choose_mixed_precision", "cpu_isa", "intra_op_threads"]


@contextlib.contextmanager
def intra_op_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` intra-op CPU threads (None: unchanged), restoring the setting afterwards."""
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
