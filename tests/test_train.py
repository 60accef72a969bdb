"""embedlab.train.Trainer: it learns, it is reproducible, and it resumes exactly."""

import math

import pytest
import torch
from torch import nn

from embedlab.train import History, TrainConfig, Trainer, amp_dtype, cosine_schedule


def _problem(seed=0):
    g = torch.Generator().manual_seed(0)  # the data never changes; `seed` only changes the model
    X = torch.randn(256, 5, generator=g)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.1), nn.Linear(16, 1))

    def get_batch(g):
        idx = torch.randint(0, 256, (32,), generator=g)
        return X[idx], y[idx]

    def loss_fn(m, batch):
        xb, yb = batch
        return nn.functional.mse_loss(m(xb).squeeze(-1), yb)

    return model, get_batch, loss_fn


def _trainer(steps=60, seed=0):
    model, get_batch, loss_fn = _problem(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_schedule(5, steps))
    cfg = TrainConfig(max_steps=steps, log_every=1, progress=False, items_per_step=32)
    return Trainer(model, opt, get_batch, loss_fn, cfg, scheduler=sched,
                   eval_fn=lambda m: {"n": 1.0})


def test_loss_goes_down_and_history_is_recorded():
    h = _trainer(200).run()
    assert isinstance(h, History)
    assert len(h.loss) == 200 and h.steps[-1] == 200
    assert sum(h.loss[-10:]) / 10 < 0.2 * sum(h.loss[:10]) / 10
    assert h.items == 200 * 32 and h.items_per_second > 0
    assert h.eval_steps == [200]


def test_runs_are_reproducible():
    assert _trainer(30).run().loss == _trainer(30).run().loss


def test_resume_continues_exactly(tmp_path):
    full = _trainer(40).run().loss
    first = _trainer(40)
    first.run(steps=15)
    path = first.save(tmp_path / "ckpt.pt")
    torch.manual_seed(999)  # disturb the global RNG: the checkpoint must restore it
    resumed = _trainer(40, seed=1)  # different initial weights: all must come from the checkpoint
    resumed.load(path)
    assert resumed.step == 15
    h = resumed.run()
    assert h.loss == full


def test_checkpoint_loads_with_weights_only(tmp_path):
    t = _trainer(5)
    t.run()
    state = torch.load(t.save(tmp_path / "c.pt"), weights_only=True)
    assert state["step"] == 5


def test_non_finite_loss_is_reported():
    model, get_batch, _ = _problem()
    t = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), get_batch,
                lambda m, b: torch.tensor(math.nan, requires_grad=True), TrainConfig(max_steps=3, progress=False))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        t.run()


def test_config_validation():
    with pytest.raises(ValueError):
        TrainConfig(max_steps=-1)
    with pytest.raises(ValueError):
        TrainConfig(log_every=0)
    with pytest.raises(ValueError):
        TrainConfig(grad_clip=0)
    f = cosine_schedule(10, 100, min_ratio=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(100) == pytest.approx(0.1)


def test_mixed_precision_choice():
    # CPU and MPS stay in float32, so the stored notebooks do not depend on autocast.
    assert amp_dtype("cpu") is None and amp_dtype("mps") is None
    assert amp_dtype("cuda", enabled=False) is None
    # bfloat16 where the GPU has it natively (A100, H100); float16 + loss scaling on a T4.
    assert amp_dtype("cuda", bf16_supported=True) is torch.bfloat16
    assert amp_dtype("cuda", bf16_supported=False) is torch.float16


def test_cpu_training_does_not_scale_the_loss():
    t = _trainer(3)
    assert t.amp_dtype is None and not t.scaler.is_enabled()
    assert "cuda_rng" in t.state_dict() and t.state_dict()["cuda_rng"] == []


def _count_redraws(monkeypatch, run) -> int:
    """Run ``run()`` with tqdm.auto swapped for a text bar that redraws whenever allowed."""
    import io

    import tqdm.auto
    import tqdm.std

    buf = io.StringIO()
    # mininterval=0 removes the time limit, so only the redraw cap can hold the count down
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kw: tqdm.std.tqdm(**{**kw, "file": buf, "mininterval": 0}))
    run()
    return buf.getvalue().count("\r")


def test_progress_bar_redraws_are_capped(monkeypatch):
    # A notebook bar that redraws thousands of times overflows Jupyter's message queue (nbval
    # then times out "waiting for output"); the bar must redraw ~MAX_REDRAWS times at most.
    from embedlab.train import MAX_REDRAWS, progress_bar

    def loop():
        bar = progress_bar(5000, "x")
        for _ in range(5000):
            bar.update(1)
        bar.close()

    assert _count_redraws(monkeypatch, loop) <= MAX_REDRAWS + 5

    model, get_batch, loss_fn = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    trainer = Trainer(model, opt, get_batch, loss_fn, TrainConfig(max_steps=1500, log_every=1))
    assert 10 < _count_redraws(monkeypatch, trainer.run) <= MAX_REDRAWS + 5


def test_progress_bar_can_be_switched_off(monkeypatch):
    from embedlab.train import progress_bar

    assert _count_redraws(monkeypatch, lambda: progress_bar(10, "x", enabled=False).close()) == 0
