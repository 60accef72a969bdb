"""Tests for embedlab.contrastive (chapter 4): data split, augmentations, encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.contrastive import (
    AugmentConfig,
    EncoderConfig,
    MLPEncoder,
    augment,
    embed,
    load_digits_split,
)

NO_AUG = AugmentConfig(max_rotation=0, max_shift=0, scale=(1.0, 1.0), noise_std=0, erase_prob=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def test_digits_split(digits):
    assert digits.train_x.shape[1:] == (8, 8) and digits.test_x.shape[1:] == (8, 8)
    assert digits.train_x.shape[0] + digits.test_x.shape[0] == 1797
    assert digits.test_x.shape[0] == 360
    assert digits.train_x.dtype == torch.float32 and digits.train_y.dtype == torch.int64
    assert 0.0 <= float(digits.train_x.min()) and float(digits.train_x.max()) <= 1.0
    # Stratified: every class keeps its share in the test split (within one image).
    tr, te = np.bincount(digits.train_y.numpy()), np.bincount(digits.test_y.numpy())
    assert np.all(np.abs(te - 0.2 * (tr + te)) <= 1)
    again = load_digits_split()
    assert torch.equal(again.test_x, digits.test_x)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=1.5)


def test_augment_identity_and_reproducibility(digits):
    x = digits.train_x[:16]
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(0), NO_AUG), x, atol=1e-6, rtol=0)
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_augment_pure_shift_moves_by_whole_pixels():
    # max_shift 1 draws a shift in [-1, 1]; a one-pixel bright dot must keep its total mass when
    # it stays inside the image (bilinear resampling conserves it) and move its centre of mass.
    img = torch.zeros(64, 8, 8)
    img[:, 4, 4] = 1.0
    out = augment(img, torch.Generator().manual_seed(3), AugmentConfig(max_rotation=0, max_shift=1.0, scale=(1, 1),
                                                                        noise_std=0, erase_prob=0))
    torch.testing.assert_close(out.sum((1, 2)), torch.ones(64), atol=1e-5, rtol=0)
    cols = (out.sum(1) * torch.arange(8.0)).sum(1)  # centre of mass along x
    assert float((cols - 4).abs().max()) <= 1.0 + 1e-5 and float((cols - 4).abs().max()) > 0.5


def test_augment_erasing_blanks_one_square():
    img = torch.ones(10, 8, 8)
    cfg = AugmentConfig(max_rotation=0, max_shift=0, scale=(1, 1), noise_std=0, erase_prob=1.0, erase_size=3)
    out = augment(img, torch.Generator().manual_seed(4), cfg)
    assert torch.equal((out == 0).sum((1, 2)), torch.full((10,), 9))


def test_augment_bad_input():
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        augment(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="empty"):
        augment(torch.zeros(0, 8, 8))
    with pytest.raises(ValueError, match="erase_prob"):
        AugmentConfig(erase_prob=2.0)
    with pytest.raises(ValueError, match="scale"):
        AugmentConfig(scale=(1.2, 1.0))


def test_encoder_shapes_and_embed(digits):
    torch.manual_seed(0)
    model = MLPEncoder(EncoderConfig(hidden=32, rep_dim=16, proj_dim=8))
    x = digits.test_x[:10]
    assert model(x).shape == (10, 8)
    assert model.represent(x).shape == (10, 16)
    model.train()
    feats = embed(model, digits.test_x, batch_size=100)
    assert feats.shape == (360, 16) and not feats.requires_grad
    assert model.training  # embed restores the mode it found
    torch.testing.assert_close(embed(model, x, head=True), model(x).detach())


def test_train_simclr_is_the_recipe_chapters_4_and_8_ran():
    # The loop both chapters pasted before it moved here, written out once more as the reference.
    from embedlab.contrastive import SimCLRConfig, train_simclr
    from embedlab.losses import nt_xent
    from embedlab.train import TrainConfig, Trainer, cosine_schedule

    digits = load_digits_split(test_fraction=0.2, seed=0)
    aug = AugmentConfig()
    enc = EncoderConfig(in_dim=64, hidden=32, rep_dim=16, proj_dim=8)

    torch.manual_seed(3)
    ref = MLPEncoder(enc)

    def get_batch(gen):
        idx = torch.randint(0, digits.train_x.shape[0], (16,), generator=gen)
        x = digits.train_x[idx]
        return augment(x, gen, aug), augment(x, gen, aug)

    def loss_fn(model, views):
        return nt_xent(model(views[0]), model(views[1]), 0.3)

    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_schedule(warmup=5, total=30))
    want = Trainer(ref, opt, get_batch, loss_fn, TrainConfig(max_steps=30, seed=3, log_every=5, progress=False),
                   scheduler=sched).run()

    cfg = SimCLRConfig(temperature=0.3, steps=30, batch=16, lr=1e-3, warmup=5, seed=3, log_every=5,
                       augment=aug, encoder=enc)
    model, got = train_simclr(digits.train_x, cfg, progress=False)
    assert got.loss == want.loss
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b)


def test_simclr_config_names_bad_settings():
    from embedlab.contrastive import SimCLRConfig, train_simclr

    with pytest.raises(ValueError, match="temperature"):
        SimCLRConfig(temperature=0.0)
    with pytest.raises(ValueError, match="batch"):
        SimCLRConfig(batch=1)
    with pytest.raises(ValueError, match="steps"):
        SimCLRConfig(steps=2.5)
    with pytest.raises(ValueError, match="temperature is None"):
        train_simclr(torch.zeros(4, 8, 8), SimCLRConfig(temperature=None, steps=1, batch=2), progress=False)
