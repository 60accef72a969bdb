"""Data-parallel training on PyTorch's own runtime (chapter 12, "Scaling out").

Chapter 6's GPT, trained by ``world`` processes at once with ``DistributedDataParallel`` (DDP):
every rank holds a full copy of the model, takes its share of one global batch of ``B``
sequences, and DDP averages the gradients across ranks during ``backward`` (an all-reduce), so
every rank applies the same update to the same weights. Mathematically this is one process
with batch ``B``: the loss is a mean over sequences, so the mean of the ranks' mean losses is
the full batch's mean loss, and the average of their gradients is the full-batch gradient.
What differs is float32 rounding (matrix products of B/2 rows round differently from B rows,
and the all-reduce adds in its own order), which :func:`run_single` and :func:`launch` let the
chapter and the tests measure: on gloo, 2 x 16 against 1 x 32 sequences, the per-step losses
stayed within 1.4e-6 nats of each other over 200 steps.

The course's one loop, :class:`embedlab.train.Trainer`, runs data-parallel as it is:

* DDP is an ``nn.Module`` whose ``backward`` all-reduces, so the Trainer's ``loss.backward()``
  *is* the data-parallel step; nothing in the loop changes;
* the Trainer draws batches from its own ``torch.Generator``, seeded alike on every rank, so
  every rank draws the same global batch; the ``get_batch`` given to it keeps the rank's rows
  (:func:`global_batch`, :func:`rank_slice`). (A real pipeline gives each rank different files
  or a ``DistributedSampler``, which is just as correct: it samples a different, equally valid
  sequence of global batches. The shared generator only makes "2 x B/2 = 1 x B" checkable step by
  step.)
* gradient clipping sees the averaged gradients, the same on every rank, so every rank clips
  alike and the optimisers stay in lockstep without exchanging anything else.

Two things are added around the Trainer, not inside it: the logged loss is the rank's own
share's loss, so the per-step losses are averaged over ranks with one ``all_reduce`` after the
run; and only rank 0 writes results. A step's time is measured between two requests for a batch
(the Trainer asks for one at the start of every step).

Two departures (:class:`DDPConfig` ``batches`` and ``reduce``) show what the step-by-step
equality rests on. Ranks that draw their own batches (``batches="per-rank"``, what a
``DistributedSampler`` does) are correct data parallelism: the run trains as well, on other
batches, so it no longer follows the one-process run step by step. Gradients *summed* over ranks
(``reduce="sum"``) are a fault: ``world`` times the mean, which the first gradient shows at once
and the losses hardly (AdamW divides a constant scale out, and only clipping, which fires on some
steps and not others, lets it through).

Communication: DDP all-reduces every parameter gradient once per step, ``allreduce_cost(model)``
bytes (:func:`allreduce_cost`); a ring all-reduce sends about ``2 (world - 1) / world`` times that
per rank. :func:`time_allreduce` times ``torch.distributed.all_reduce`` on a buffer that size.
DDP does not wait for the end of ``backward``: it packs gradients into buckets and all-reduces each
bucket as soon as backward has filled it, overlapping communication with the rest of backward.
It all-reduces every gradient dense, the token-embedding table's included, although a batch
gives nonzero gradient only to the rows of the tokens it contains.

Running it: :func:`main` is the per-rank program (``python -m embedlab.distributed``, or
``examples/ddp_charlm.py``, which calls it) and :func:`launch` starts it under ``torchrun`` as a
subprocess and returns its JSON. Shapes use nanoGPT's letters: ``B`` batch, ``T`` time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from embedlab._checks import choice, integer, number
from embedlab.charlm import RunConfig, char_vocabulary, configure_optimizer, encode_text, get_batch, train_val_split
from embedlab.data import load_shakespeare
from embedlab.train import TrainConfig, Trainer, cosine_schedule
from embedlab.transformer import GPT, GPTConfig

__all__ = ["DDPConfig", "global_batch", "rank_slice", "allreduce_cost", "time_allreduce", "train", "run_single",
           "launch", "main"]

Batch = tuple[torch.Tensor, torch.Tensor]
_CHOICES = {"backend": ("gloo", "nccl"), "batches": ("shared", "per-rank"), "reduce": ("mean", "sum")}


@dataclass
class DDPConfig:
    """One data-parallel run: the model, the global batch and two departures from the reference.

    ``batch`` is the *global* batch B (sequences per optimiser step, all ranks together); each of
    ``world`` ranks computes B / world of them. ``batches="per-rank"`` (each rank draws its own
    B / world windows from a generator seeded ``seed + rank``, as a ``DistributedSampler`` gives
    each rank its own samples) is correct data parallelism that follows a different sequence of
    batches; ``reduce="sum"`` (gradients summed over ranks instead of averaged) is a fault. Both
    leave the one-process trajectory, as the chapter and the tests show.
    """

    steps: int = 20
    batch: int = 32
    block: int = 32
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    lr: float = 3e-3
    warmup: int = 5
    grad_clip: float | None = 1.0
    seed: int = 0
    threads: int = 1  # torch threads per rank: 2 ranks x 1 thread use the 2 cores of a small machine
    backend: str = "gloo"  # "gloo" (CPU) or "nccl" (one GPU per rank)
    batches: str = "shared"  # "shared" | "per-rank"
    reduce: str = "mean"  # "mean" | "sum"
    allreduce_repeats: int = 10

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "block", "n_layer", "n_head", "n_embd", "threads", "allreduce_repeats"):
            integer(getattr(self, name), name, low=1)
        for name, allowed in _CHOICES.items():
            choice(getattr(self, name), name, allowed)
        number(self.lr, "lr", low=0, low_open=True)

    def run_config(self, vocab_size: int) -> RunConfig:
        """Chapter 6's :class:`~embedlab.charlm.RunConfig` for this shape (no dropout: see train)."""
        model = GPTConfig(vocab_size=vocab_size, block_size=self.block, n_layer=self.n_layer, n_head=self.n_head,
                          n_embd=self.n_embd, dropout=0.0)
        return RunConfig(name=f"ddp-{self.n_layer}x{self.n_embd}", model=model, batch_size=self.batch,
                         max_steps=self.steps, learning_rate=self.lr, warmup_steps=self.warmup)

    def to_argv(self) -> list[str]:
        """The command-line flags :func:`main` parses back into this configuration."""
        return [arg for f in fields(self) for arg in (f"--{f.name.replace('_', '-')}", str(getattr(self, f.name)))]


# ---------------------------------------------------------------------------------------------
# The pieces: one global batch, a rank's share of it, the bytes DDP moves
# ---------------------------------------------------------------------------------------------
def global_batch(generator: torch.Generator, data: torch.Tensor, B: int, block: int) -> Batch:
    """The step's global batch: B random windows of ``data``, x and y: (B, T = block), on the CPU.

    Every rank calls this with a generator seeded alike, so every rank holds the same batch
    (it is chapter 6's :func:`~embedlab.charlm.get_batch`; drawing B start positions is cheap).
    """
    return get_batch(data, block, B, generator)


def rank_slice(batch: Sequence[torch.Tensor], rank: int, world: int) -> tuple[torch.Tensor, ...]:
    """Rows ``rank·B/world … (rank+1)·B/world`` of every tensor of a batch (each (B, ...))."""
    world = integer(world, "world", low=1)
    rank = integer(rank, "rank", low=0, high=world - 1)
    sizes = {t.shape[0] for t in batch}
    if len(sizes) != 1:
        raise ValueError(f"the tensors of batch have different first dimensions: {sorted(sizes)}")
    (B,) = sizes
    if B % world:
        raise ValueError(f"the batch of {B} rows does not split evenly over world={world} ranks")
    share = B // world
    return tuple(t[rank * share : (rank + 1) * share] for t in batch)


def allreduce_cost(model: nn.Module) -> int:
    """Bytes DDP all-reduces per step: every trainable parameter's gradient, once.

    = sum over parameters of ``numel × element_size`` (4 bytes in float32; a tied matrix is one
    parameter and counts once). Gradients keep the parameters' dtype under autocast, so mixed
    precision does not shrink this; compressing it takes a DDP communication hook.
    """
    model = model.module if isinstance(model, DistributedDataParallel) else model
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def time_allreduce(n_bytes: int, *, repeats: int = 10, device: torch.device | str = "cpu") -> float:
    """Median seconds of one ``dist.all_reduce`` of a float32 buffer of ``n_bytes`` (every rank calls it)."""
    if not dist.is_initialized():
        raise RuntimeError("time_allreduce needs a process group: run it under torchrun (see launch)")
    device = torch.device(device)
    buffer = torch.ones(max(1, n_bytes // 4), device=device)  # float32: 4 bytes an element
    dist.all_reduce(buffer)  # warm-up: the first call sets up connections
    times = []
    for _ in range(repeats):
        dist.barrier()  # start together, so the time is the collective's, not a late rank's
        start = time.perf_counter()
        dist.all_reduce(buffer)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # NCCL returns before the GPU has finished
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------
# One rank's run (world = 1 without a process group: the single-process reference)
# ---------------------------------------------------------------------------------------------
def _train_ids() -> tuple[torch.Tensor, int]:
    """Chapter 6's training split of the Shakespeare corpus as ids, and the vocabulary size."""
    text = load_shakespeare()
    vocab = char_vocabulary(text)
    train_ids, _ = train_val_split(encode_text(text, vocab))
    return train_ids, len(vocab)


def _device(cfg: DDPConfig) -> torch.device:
    if cfg.backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError("backend 'nccl' needs CUDA GPUs; use backend 'gloo' on CPUs")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _sum_hook(state, bucket):  # no annotations: DDP checks them and this module's are strings (__future__)
    """A DDP communication hook that sums gradients over ranks (the default one averages): a fault."""
    future = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return future.then(lambda f: f.value()[0])


def _flat_gradient(model: nn.Module) -> torch.Tensor:
    grads = []
    for p in model.parameters():
        if p.requires_grad:
            if p.grad is None:
                raise ValueError("a trainable parameter has no gradient: run backward() first")
            grads.append(p.grad.reshape(-1))
    return torch.cat(grads).detach().cpu()


def train(cfg: DDPConfig, *, record_gradient: bool = False, progress: bool = False) -> dict[str, Any]:
    """Train chapter 6's GPT on this rank's share of every global batch; every rank returns the result.

    Under ``torchrun`` (a process group initialised, world > 1) the model is wrapped in DDP; without
    one, world = 1 and this is the single-process reference. Returns a dict: ``loss`` (per step,
    averaged over ranks), ``step_seconds`` (this rank's time per step), ``allreduce_bytes``,
    ``allreduce_seconds`` (median of ``cfg.allreduce_repeats``; ``None`` at world 1), ``n_params``,
    ``world``, ``config``; with ``record_gradient`` also ``gradient``, the flattened gradient of
    the first step's loss as the optimiser sees it (after DDP's averaging), before any update.
    Dropout is off (the config's GPT has ``dropout=0``): ranks would draw different masks.
    """
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    if cfg.batch % world:
        raise ValueError(f"batch ({cfg.batch}) must be divisible by the number of processes ({world})")
    device = _device(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # restored below: run_single runs inside the caller's process
    try:
        data, vocab_size = _train_ids()
        run = cfg.run_config(vocab_size)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
        model = GPT(run.model).to(device)
        net: nn.Module = model
        if world > 1:
            net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
            if cfg.reduce == "sum":
                net.register_comm_hook(None, _sum_hook)
        share = cfg.batch // world
        generator_seed = cfg.seed + (rank if cfg.batches == "per-rank" else 0)

        def batch_fn(g: torch.Generator) -> Batch:
            if cfg.batches == "per-rank":  # each rank its own windows: no longer one global batch
                x, y = global_batch(g, data, share, cfg.block)
            else:
                x, y = rank_slice(global_batch(g, data, cfg.batch, cfg.block), rank, world)
            return x.to(device), y.to(device)

        def loss_fn(m: nn.Module, batch: Batch) -> torch.Tensor:
            return m(*batch)[1]  # the mean over this rank's share; DDP averages the gradients

        result: dict[str, Any] = {}
        if record_gradient:  # the first step's batch, from a generator seeded as the Trainer's is
            loss_fn(net, batch_fn(torch.Generator().manual_seed(generator_seed))).backward()
            result["gradient"] = _flat_gradient(model)
            net.zero_grad(set_to_none=True)

        stamps: list[float] = []

        def timed_batch(g: torch.Generator) -> Batch:
            stamps.append(time.perf_counter())  # a step starts when it asks for its batch
            return batch_fn(g)

        optimizer = configure_optimizer(model, run)
        schedule = cosine_schedule(min(run.warmup_steps, cfg.steps), cfg.steps, run.min_lr_ratio)
        config = TrainConfig(max_steps=cfg.steps, grad_clip=cfg.grad_clip, log_every=1,
                             items_per_step=share * cfg.block, progress=progress and rank == 0,
                             desc=f"rank {rank}/{world}", seed=generator_seed)
        trainer = Trainer(net, optimizer, timed_batch, loss_fn, config,
                          scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, schedule))
        history = trainer.run()
        stamps.append(time.perf_counter())
        losses = torch.tensor(history.loss, dtype=torch.float64, device=device)  # (steps,) this rank's
        n_bytes = allreduce_cost(model)
        seconds = None
        if world > 1:
            dist.all_reduce(losses)  # sum over ranks ...
            losses /= world  # ... / world: the mean over the global batch (equal shares)
            seconds = time_allreduce(n_bytes, repeats=cfg.allreduce_repeats, device=device)
        result.update(
            world=world, backend=cfg.backend if world > 1 else None, device=str(device), config=asdict(cfg),
            n_params=model.num_params(), allreduce_bytes=n_bytes, allreduce_seconds=seconds,
            loss=losses.tolist(), step_seconds=[b - a for a, b in zip(stamps, stamps[1:])],
            seconds=history.seconds,
        )
        return result
    finally:
        torch.set_num_threads(threads)


def run_single(cfg: DDPConfig, *, record_gradient: bool = False) -> dict[str, Any]:
    """The reference: one process, the whole batch B, the same seed, in this process (no DDP)."""
    if dist.is_initialized():
        raise RuntimeError("run_single runs without a process group; call it outside torchrun")
    return train(cfg, record_gradient=record_gradient)


# ---------------------------------------------------------------------------------------------
# The per-rank program and its launcher
# ---------------------------------------------------------------------------------------------
def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train chapter 6's GPT data-parallel (run under torchrun).",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    helps = {
        "steps": "optimiser steps", "batch": "global batch B (sequences per step), split over the ranks",
        "block": "context length T", "n_layer": "GPT layers", "n_head": "attention heads", "n_embd": "width",
        "lr": "peak AdamW learning rate (cosine schedule)", "warmup": "warm-up steps",
        "grad_clip": "gradient-norm clip, 'none' for none", "seed": "seeds the weights and the batches",
        "threads": "torch threads per rank", "backend": "gloo on CPUs, nccl with one GPU per rank",
        "batches": "'per-rank': each rank draws its own windows (correct, but a different run)",
        "reduce": "'sum' (a fault): gradients summed over ranks, not averaged",
        "allreduce_repeats": "timed all-reduces after training",
    }
    for f in fields(DDPConfig):  # one flag per field, so that the two cannot drift apart
        default = getattr(DDPConfig, f.name)
        kind = _optional_float if f.name == "grad_clip" else type(default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=default, choices=_CHOICES.get(f.name),
                            help=helps[f.name])
    parser.add_argument("--out", type=Path, help="where rank 0 writes the JSON result")
    parser.add_argument("--grad-out", type=Path, help="where rank 0 saves the first step's gradient (torch.save)")
    parser.add_argument("--progress", action="store_true", help="a progress bar on rank 0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """One rank's program: join the process group torchrun describes, train, rank 0 writes ``--out``.

    Without torchrun's environment (no ``WORLD_SIZE``) it trains as one process, without DDP.
    """
    args = _parser().parse_args(argv)
    cfg = DDPConfig(**{f.name: getattr(args, f.name) for f in fields(DDPConfig)})
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        if cfg.backend == "nccl":
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend=cfg.backend)  # rank, world and the rendezvous from torchrun's env
    try:
        result = train(cfg, record_gradient=args.grad_out is not None, progress=args.progress)
    finally:
        if distributed:
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        gradient = result.pop("gradient", None)
        if args.grad_out is not None:
            torch.save(gradient, args.grad_out)
        text = json.dumps(result, indent=1)
        if args.out is None:
            print(text)
        else:
            args.out.write_text(text)
    return 0


def launch(nproc: int, cfg: DDPConfig, *, timeout: float = 300.0, record_gradient: bool = False,
           script: str | Path | None = None) -> dict[str, Any]:
    """Run :func:`main` in ``nproc`` processes under torchrun and return rank 0's result.

    Runs ``python -m torch.distributed.run --standalone --nproc_per_node nproc -m embedlab.distributed
    <cfg flags>`` (or ``script`` instead of the module, e.g. ``examples/ddp_charlm.py``) as a
    subprocess with this interpreter and this copy of embedlab; kills the whole process group
    after ``timeout`` seconds. With ``record_gradient`` the result holds ``gradient``
    (see :func:`train`). Raises ``RuntimeError`` with the end of the log if a rank fails.
    """
    nproc = integer(nproc, "nproc", low=1)
    number(timeout, "timeout", low=0, low_open=True)
    if cfg.batch % nproc:
        raise ValueError(f"the batch of {cfg.batch} sequences must be divisible by nproc={nproc}")
    target = ["-m", "embedlab.distributed"] if script is None else [str(script)]
    if script is not None and not Path(script).is_file():
        raise FileNotFoundError(f"script {script} does not exist")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1])  # the ranks import the embedlab this process imported
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env["OMP_NUM_THREADS"] = str(cfg.threads)  # torchrun would otherwise set 1 and warn about it
    with tempfile.TemporaryDirectory(prefix="embedlab-ddp-") as tmp:
        out, grad_out = Path(tmp) / "result.json", Path(tmp) / "gradient.pt"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   *target, *cfg.to_argv(), "--out", str(out), *(["--grad-out", str(grad_out)] * record_gradient)]
        # A session of its own, so that a timeout can find and stop everything torchrun started.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_tree(proc)
            raise TimeoutError(f"torchrun with {nproc} processes ran past timeout={timeout} s") from None
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"torchrun with {nproc} processes failed (exit {proc.returncode}):\n{log[-3000:]}")
        result = json.loads(out.read_text())
        if record_gradient:
            result["gradient"] = torch.load(grad_out, weights_only=True)
    return result


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux's /proc; elsewhere none are found)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop_tree(proc: subprocess.Popen) -> None:
    """Stop torchrun and its workers. torchrun starts each worker in a session of its own, so killing
    torchrun's process group is not enough: a worker would live on, holding the log pipe open (and
    ``communicate`` would wait for it forever). SIGTERM lets torchrun stop its workers itself; whatever
    is left a few seconds later is killed by pid."""
    tree = _descendants(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for pid in [proc.pid, *tree, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


if __name__ == "__main__":
    raise SystemExit(main())
