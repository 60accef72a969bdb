"""Tests for embedlab.distributed (chapter 12): data parallelism with DDP on gloo equals one process.

The reference is the single-process run (:func:`run_single`: batch B, same seed, no DDP). Two
processes under torchrun, each with B/2 rows of the same global batch, must follow the same loss
trajectory and see the same first gradient up to float32 rounding. Measured (seeds 0-3, 20 steps,
the config below): max |loss difference| 1.4e-6 nats (and still 1.4e-6 over 200 steps), max
|gradient difference| 3.0e-8 with gradients up to 0.13. The tolerances below are about 7x and 30x
those. Both departures are launched too and shown to leave the one-process trajectory by far more
than the tolerance: ranks drawing their own batches (correct DDP, as with a DistributedSampler,
but other batches) and gradients summed instead of averaged (a fault).
Each launch starts torchrun and two ranks: about 4-5 s on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from embedlab.distributed import (
    DDPConfig,
    _parser,
    allreduce_cost,
    global_batch,
    launch,
    main,
    rank_slice,
    run_single,
)
from embedlab.transformer import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ddp_charlm.py"
CFG = DDPConfig(steps=20, batch=32, block=32, n_layer=2, n_head=4, n_embd=64)
LOSS_TOL = 1e-5  # nats, per step (measured at most 1.4e-6)
GRAD_TOL = 1e-6  # per gradient element (measured at most 3.0e-8)


def loss_gap(a: dict, b: dict) -> float:
    return float(np.abs(np.asarray(a["loss"]) - np.asarray(b["loss"])).max())


def grad_gap(a: dict, b: dict) -> float:
    return float((a["gradient"] - b["gradient"]).abs().max())


@pytest.fixture(scope="module")
def single():
    return run_single(CFG, record_gradient=True)


@pytest.fixture(scope="module")
def two():
    # Through the example script, so that the file a reader runs is the one tested.
    return launch(2, CFG, record_gradient=True, script=EXAMPLE, timeout=120)


def test_two_processes_follow_one_process(single, two):
    assert two["world"] == 2 and two["backend"] == "gloo" and single["world"] == 1
    assert len(two["loss"]) == len(single["loss"]) == CFG.steps
    assert single["loss"][-1] < single["loss"][0] - 0.5  # it trains: the comparison is not of two flat lines
    assert loss_gap(single, two) < LOSS_TOL
    assert grad_gap(single, two) < GRAD_TOL
    assert single["gradient"].abs().max() > 1e3 * GRAD_TOL  # a gradient, not rounding noise
    assert len(two["step_seconds"]) == CFG.steps and min(two["step_seconds"]) > 0


def test_ranks_drawing_their_own_batches_follow_another_trajectory(single):
    own = launch(2, DDPConfig(**{**CFG.__dict__, "batches": "per-rank"}), record_gradient=True, timeout=120)
    assert loss_gap(single, own) > 100 * LOSS_TOL  # measured 1.5 (6e-3 at the first step)
    assert grad_gap(single, own) > 100 * GRAD_TOL  # measured 3e-2


def test_summing_gradients_instead_of_averaging_fails_the_check(single):
    summed = launch(2, DDPConfig(**{**CFG.__dict__, "reduce": "sum"}), record_gradient=True, timeout=120)
    # The sum over 2 ranks is twice the mean: the gradient check sees it at once ...
    torch.testing.assert_close(summed["gradient"], 2 * single["gradient"], atol=2 * GRAD_TOL, rtol=0)
    assert grad_gap(single, summed) > 1e4 * GRAD_TOL
    # ... the losses only through clipping (Adam divides a constant scale out): measured 1.7e-2.
    assert loss_gap(single, summed) > 100 * LOSS_TOL


def test_allreduce_bytes_are_the_gradient_bytes(two):
    model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64))
    assert allreduce_cost(model) == 4 * model.num_params() == 4 * sum(p.numel() for p in model.parameters())
    assert two["allreduce_bytes"] == 4 * two["n_params"]
    assert two["allreduce_seconds"] > 0
    tied = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64, tie_weights=True))
    assert allreduce_cost(tied) == allreduce_cost(model) - 4 * 65 * 64  # one matrix, reduced once
    model.wpe.weight.requires_grad_(False)  # a frozen parameter has no gradient to reduce
    assert allreduce_cost(model) == 4 * (model.num_params() - 32 * 64)
    model.half()
    assert allreduce_cost(model) == 2 * (model.num_params() - 32 * 64)


def test_rank_slices_tile_the_global_batch():
    data = torch.arange(1000)
    x, y = global_batch(torch.Generator().manual_seed(0), data, 8, 5)
    x2, _ = global_batch(torch.Generator().manual_seed(0), data, 8, 5)
    assert x.shape == y.shape == (8, 5) and torch.equal(x, x2) and torch.equal(y, x + 1)
    parts = [rank_slice((x, y), r, 4) for r in range(4)]
    assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
    assert torch.equal(parts[1][0], x[2:4])
    with pytest.raises(ValueError, match="split evenly"):
        rank_slice((x, y), 0, 3)
    with pytest.raises(ValueError, match="rank"):
        rank_slice((x, y), 4, 4)
    with pytest.raises(ValueError, match="world"):
        rank_slice((x, y), 0, 0)
    with pytest.raises(ValueError, match="first dimensions"):
        rank_slice((x, y[:4]), 0, 2)


def test_config_checks_and_round_trip():
    for bad, match in [({"batch": 0}, "batch"), ({"backend": "mpi"}, "backend"), ({"batches": "x"}, "batches"),
                       ({"reduce": "max"}, "reduce"), ({"lr": 0.0}, "lr"), ({"steps": 1.5}, "steps")]:
        with pytest.raises(ValueError, match=match):
            DDPConfig(**bad)
    cfg = DDPConfig(steps=3, grad_clip=None, batches="per-rank", lr=1e-3)
    args = _parser().parse_args(cfg.to_argv())
    assert DDPConfig(**{k: getattr(args, k) for k in cfg.__dict__}) == cfg
    with pytest.raises(ValueError, match="nproc"):
        launch(0, CFG)
    with pytest.raises(ValueError, match="divisible"):
        launch(3, CFG)  # 32 sequences do not split over 3 ranks: refused before starting anything
    with pytest.raises(FileNotFoundError, match="script"):
        launch(2, CFG, script=ROOT / "examples" / "missing.py")


def test_launch_timeout_is_enforced():
    # a run that never ends by itself (10^9 steps): the verdict cannot depend on the machine's speed
    before = {p.name for p in Path("/proc").glob("[0-9]*")}
    with pytest.raises(TimeoutError, match="timeout"):
        launch(2, DDPConfig(**{**CFG.__dict__, "steps": 10**9}), timeout=60)  # the workers surely started
    # torchrun starts each worker in a session of its own: none of them may outlive the timeout
    left = []
    for pid in {p.name for p in Path("/proc").glob("[0-9]*")} - before:
        try:
            if "embedlab.distributed" in (Path("/proc") / pid / "cmdline").read_bytes().decode(errors="replace"):
                left.append(pid)
        except OSError:
            pass
    assert not left, f"workers left running after the timeout: {left}"


def test_main_without_torchrun_is_the_single_process_run(tmp_path):
    cfg, out = DDPConfig(**{**CFG.__dict__, "steps": 3}), tmp_path / "r.json"
    assert main([*cfg.to_argv(), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["world"] == 1 and result["allreduce_seconds"] is None
    assert result["loss"] == run_single(cfg)["loss"]  # bit for bit: the same program
