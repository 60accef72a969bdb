"""embedlab.utils: seeding, device choice, timer, below, evaluating."""

import random

import numpy as np
import pytest
import torch

from embedlab.utils import Timer, describe_environment, evaluating, get_device, seed_everything


def _draw():
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_seed_everything_covers_python_numpy_torch():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    assert _draw() == first
    seed_everything(124)
    assert _draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None, True])
def test_seed_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="seed must be an integer"):
        seed_everything(bad)


def test_get_device_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv("EMBEDLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("EMBEDLAB_DEVICE", "cpu")
    assert get_device().type == "cpu"


def test_get_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv("EMBEDLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device().type == "mps"


def test_get_device_errors(monkeypatch):
    with pytest.raises(ValueError, match="unknown device"):
        get_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA was requested"):
        get_device("cuda")


def test_timer_and_description():
    with Timer() as t:
        sum(range(10000))
    assert t.seconds > 0
    line = describe_environment(torch.device("cpu"))
    assert "torch" in line and "device cpu" in line


def test_below_prints_the_bound_and_fails_past_it():
    from embedlab.utils import below

    assert below(3e-16, 1e-12) == "< 1e-12"
    assert below(torch.tensor(2e-9, dtype=torch.float64), 1e-7) == "< 1e-07"
    assert below(np.float32(0.0), 1e-6) == "< 1e-06"
    for bad in (2e-12, float("nan"), float("inf")):
        with pytest.raises(AssertionError, match="not below"):
            below(bad, 1e-12)
    with pytest.raises(ValueError, match="value"):
        below(torch.zeros(3), 1e-12)
    with pytest.raises(ValueError, match="value"):
        below("0.1", 1e-12)
    with pytest.raises(ValueError, match="limit"):
        below(0.0, 0)


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(3))


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_sets_eval_mode_and_restores_the_previous_one(training):
    net = _net().train(training)
    with evaluating(net) as inside:
        assert inside is net
        assert not any(m.training for m in net.modules())
    assert all(m.training == training for m in net.modules())


def test_evaluating_restores_the_mode_when_the_body_raises():
    net = _net().train()
    with pytest.raises(RuntimeError, match="boom"):
        with evaluating(net):
            raise RuntimeError("boom")
    assert all(m.training for m in net.modules())


def test_evaluating_restores_each_submodules_own_mode():
    # A frozen part kept in eval mode inside a model that trains must stay in eval mode.
    net = _net().train()
    net[2].eval()
    with evaluating(net):
        assert not net.training
    assert net.training and net[0].training and net[1].training and not net[2].training


def test_evaluating_rejects_what_is_not_a_module():
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        with evaluating(object()):
            pass
