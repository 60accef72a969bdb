"""Train chapter 6's character GPT data-parallel with PyTorch's DistributedDataParallel (chapter 12).

On one machine's CPUs, two processes, gloo::

    torchrun --standalone --nproc_per_node=2 examples/ddp_charlm.py --steps 20 --batch 32 --out ddp.json

On a machine with 8 GPUs, one process per GPU, NCCL (the same script; ``--threads`` then only
sets the CPU threads of each process)::

    torchrun --standalone --nproc_per_node=8 examples/ddp_charlm.py --backend nccl --batch 256 --out ddp.json

On several machines, start the same command on each with a shared rendezvous instead of
``--standalone`` (``--nnodes=2 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500``).

Without torchrun (``python examples/ddp_charlm.py``) it trains in one process, without DDP: the
reference the data-parallel run must match. ``--batch`` is the global batch B; each of the
``nproc`` ranks computes B / nproc sequences of it. Rank 0 writes the per-step losses (averaged
over ranks), the time of each step, the bytes DDP all-reduces per step and the measured time of
one such all-reduce as JSON to ``--out`` (stdout without it). ``--help`` lists every flag.

The program is :func:`embedlab.distributed.main` (the package ships it, so that
``embedlab.distributed.launch`` also runs it where this file is absent, as on Colab:
``torchrun ... -m embedlab.distributed`` is the same program). Read
``src/embedlab/distributed.py`` for how the course's Trainer runs under DDP.
"""

from __future__ import annotations

from embedlab.distributed import main

if __name__ == "__main__":
    raise SystemExit(main())
