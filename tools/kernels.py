"""CPU kernel settings under which the chapters' stored outputs must reproduce.

A reader's machine picks other SIMD kernels than the machine that executed a chapter (AVX-512 on a
new server, AVX2 on a laptop, NEON on Apple Silicon), so floating-point sums are rounded in another
order and the last digits of printed numbers move. The suite re-runs the chapters under settings
that force each library's dispatcher down to a lower instruction set, on the same machine:

- ``native``: whatever the machine picks.
- ``avx2``: PyTorch's ATen, MKL and oneDNN capped at AVX2; NumPy's own loops, every OpenBLAS,
  faiss and Arrow too.
- ``portable``: the kernels every x86-64 CPU has (ATen's ``default``, SSE4.x in MKL/oneDNN,
  NumPy's baseline, OpenBLAS's Nehalem kernels, faiss's and Arrow's scalar code).

**Which libraries dispatch at run time** (audited for every library a chapter imports; re-audit
when a chapter adds one, and add its variable here):

=================  ==========================================  ==================================
library            how it picks kernels                        forced by
=================  ==========================================  ==================================
PyTorch (ATen)     CPU capability at start                     ``ATEN_CPU_CAPABILITY``
MKL (in PyTorch)   CPUID at first call                         ``MKL_ENABLE_INSTRUCTIONS``
oneDNN (PyTorch)   CPUID at first call                         ``ONEDNN_MAX_CPU_ISA``
NumPy              its own dispatch per loop                   ``NPY_DISABLE_CPU_FEATURES``
OpenBLAS           one copy each in NumPy, SciPy and faiss     ``OPENBLAS_CORETYPE`` (all copies)
                   (``DYNAMIC_ARCH``); scikit-learn, gensim
                   and implicit call SciPy's copy
faiss >= 1.12      dynamic dispatch inside one library         ``FAISS_SIMD_LEVEL``
faiss 1.8-1.11     loader picks ``swigfaiss_avx2``/``_avx512``  ``FAISS_OPT_LEVEL``
faiss <= 1.7       loader picks ``swigfaiss_avx2`` or not      ``FAISS_DISABLE_CPU_FEATURES``
Arrow (pyarrow)    its own dispatch (reads GloVe's index)      ``ARROW_USER_SIMD_LEVEL``
=================  ==========================================  ==================================

Compiled once for the baseline, no run-time choice: scikit-surprise, implicit's and gensim's own
Cython loops, scikit-learn's Cython loops, SciPy outside BLAS, pytrec_eval.

Run a command under a setting::

    python -m tools.kernels portable python -m pytest --nbval chapters
    python -m tools.kernels --show portable      # print what the libraries then report

``make test`` runs the chapters natively and under ``portable``; ``tools/kernel_spread.py`` uses
all three to measure how far each printed number moves.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

# Variables each library reads when it starts (none can be changed inside a running process).
SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Haswell",
        "FAISS_SIMD_LEVEL": "AVX2",
        "FAISS_OPT_LEVEL": "AVX2",
        "ARROW_USER_SIMD_LEVEL": "AVX2",
    },
    "portable": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Nehalem",
        "FAISS_SIMD_LEVEL": "NONE",
        "FAISS_OPT_LEVEL": "generic",
        "FAISS_DISABLE_CPU_FEATURES": "AVX2",
        "ARROW_USER_SIMD_LEVEL": "NONE",
    },
}

# One line per library; a library that is not installed says so instead of failing.
_SHOW = """\
import importlib.util, sys
import numpy, torch, threadpoolctl
m = numpy._core._multiarray_umath if hasattr(numpy, '_core') else numpy.core._multiarray_umath
on = [f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)]
parts = [f'torch {torch.backends.cpu.get_cpu_capability()}', f'numpy SIMD {on or "baseline"}']
if importlib.util.find_spec('faiss'):
    import faiss
    old = [m for m in ('swigfaiss_avx512_spr', 'swigfaiss_avx512', 'swigfaiss_avx2', 'swigfaiss')
           if 'faiss.' + m in sys.modules]  # before faiss 1.12 the loader imports one compiled variant
    level = faiss.SIMDConfig.get_level_name() if hasattr(faiss, 'SIMDConfig') else old[0]
    parts.append(f'faiss {level}')
if importlib.util.find_spec('pyarrow'):
    import pyarrow
    parts.append(f'arrow {pyarrow.runtime_info().simd_level}')
if importlib.util.find_spec('scipy'):
    import scipy.linalg  # loads SciPy's own OpenBLAS, the one scikit-learn, gensim and implicit use
blas = sorted({i.get('architecture') or '?' for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'})
parts.append(f'OpenBLAS {blas}')
print('; '.join(parts))
"""


# NumPy's feature names and OpenBLAS's core types above are x86 names: elsewhere (ARM) NumPy refuses
# unknown features at import, so there only PyTorch's portable ATen kernels are forced.
X86 = platform.machine().lower() in {"x86_64", "amd64"}
_X86_ONLY = {"NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
             "FAISS_OPT_LEVEL", "FAISS_SIMD_LEVEL", "FAISS_DISABLE_CPU_FEATURES", "ARROW_USER_SIMD_LEVEL"}


def environment(setting: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``setting``'s variables applied."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}, got {setting!r}")
    env = dict(os.environ if base is None else base)
    for key in {k for s in SETTINGS.values() for k in s}:
        env.pop(key, None)  # a setting is the whole story: nothing left over from the caller
    env.update({k: v for k, v in SETTINGS[setting].items() if X86 or k not in _X86_ONLY})
    return env


def describe(setting: str) -> str:
    """What torch, NumPy, faiss, Arrow and OpenBLAS report in a fresh interpreter under ``setting``."""
    out = subprocess.run(
        [sys.executable, "-c", _SHOW], env=environment(setting), capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--show":
        for setting in argv[1:]:
            print(f"{setting}: {describe(setting)}")
        return 0
    if len(argv) < 2 or argv[0] not in SETTINGS:
        print(f"usage: python -m tools.kernels {{{','.join(SETTINGS)}}} COMMAND [ARGS...] | --show SETTING...",
              file=sys.stderr)
        return 2
    print(f"[kernels] {argv[0]}: {describe(argv[0])}", flush=True)
    return subprocess.run(argv[1:], env=environment(argv[0])).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
