"""embedlab.charlm (chapter 6): the character codec, batches, the bigram baseline, evaluation,
the CPU/GPU configurations, the training entry point and exact checkpoint resumption.

There is no GPU on the machines that run these tests. The CPU path is run for real; the CUDA
path is checked by logic (which configuration) and by mocking the device transfer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import embedlab.charlm as charlm
import embedlab.train as train_module
from embedlab.charlm import (
    RunConfig,
    bigram_log_probs,
    bigram_loss,
    char_vocabulary,
    configure_optimizer,
    decode_ids,
    encode_text,
    estimate_loss,
    evaluate,
    get_batch,
    make_trainer,
    pick_config,
    train_val_split,
)
from embedlab.data import Vocabulary, load_shakespeare
from embedlab.transformer import GPT, GPTConfig

TINY = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def _tiny_model(config: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config)


def _ids(n: int = 500, vocab: int = 11, seed: int = 0) -> torch.Tensor:
    return torch.randint(vocab, (n,), generator=torch.Generator().manual_seed(seed))


# -- the two configurations at initialisation ----------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_first_loss_is_close_to_log_vocab_for_both_configs(device):
    # Both configurations are built and run on the CPU here; what matters is their shape.
    run = pick_config(torch.device(device), 63)
    torch.manual_seed(0)
    model = GPT(run.model)
    data = _ids(5000, 63)
    x, y = get_batch(data, run.model.block_size, 4, torch.Generator().manual_seed(0))
    loss = model(x, y)[1].item()
    assert abs(loss - math.log(63)) < 0.1, loss


# -- data ----------------------------------------------------------------------------------------
def test_character_codec_round_trip_and_corpus_size():
    text = load_shakespeare()
    vocab = char_vocabulary(text)
    assert len(vocab) == 63 and vocab.itos[0] == " "  # the space is the most frequent character
    ids = encode_text(text, vocab)
    assert ids.dtype == torch.long and len(ids) == len(text)
    sample = text[:2000]
    assert decode_ids(encode_text(sample, vocab), vocab) == sample
    # The fast lookup table agrees with the Vocabulary's own encoder.
    assert encode_text(sample, vocab).tolist() == vocab.encode(list(sample))


def test_codec_errors():
    vocab = char_vocabulary("abca")
    with pytest.raises(KeyError, match="unknown character 'z'"):
        encode_text("abz", vocab)
    with pytest.raises(KeyError, match="unknown token"):
        encode_text("aé", vocab)  # non-ASCII text goes through Vocabulary.encode
    with pytest.raises(ValueError, match="empty"):
        char_vocabulary("")
    with pytest.raises(ValueError, match="character vocabulary"):
        encode_text("ab", Vocabulary(["ab", "c"]))
    with pytest.raises(ValueError, match="1-D"):
        decode_ids(torch.zeros(2, 2, dtype=torch.long), vocab)
    with pytest.raises(IndexError):
        decode_ids([7], vocab)


def test_train_val_split_is_contiguous_90_10():
    ids = torch.arange(1000)
    train, val = train_val_split(ids)
    assert len(train) == 900 and len(val) == 100
    assert torch.equal(torch.cat([train, val]), ids)
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(ids, 1.0)
    with pytest.raises(ValueError, match="too short"):
        train_val_split(torch.arange(3))
    with pytest.raises(ValueError, match="1-D"):
        train_val_split(ids.view(10, 100))


def test_get_batch_targets_are_inputs_shifted_by_one():
    data = torch.arange(100)
    x, y = get_batch(data, 10, 6, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 10) and x.device.type == "cpu"
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    assert int(x.max()) < 99 and int(y.max()) <= 99
    x2, _ = get_batch(data, 10, 6, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)  # the generator decides the windows


def test_get_batch_errors():
    with pytest.raises(ValueError, match="more than block_size"):
        get_batch(torch.arange(5), 5, 2)
    with pytest.raises(ValueError, match="1-D"):
        get_batch(torch.zeros(3, 3, dtype=torch.long), 2, 2)
    with pytest.raises(ValueError, match=">= 1"):
        get_batch(torch.arange(50), 0, 2)


class _TransferLog:
    """Stands in for a CUDA transfer: records what would be sent where, keeps tensors on the CPU."""

    def __init__(self, monkeypatch):
        self.to_calls: list[tuple[torch.device, bool]] = []
        self.pinned = 0
        real_to = torch.Tensor.to
        log = self

        def fake_to(self_, *args, **kwargs):
            target = args[0] if args else kwargs.get("device")
            if isinstance(target, (torch.device, str)) and torch.device(target).type == "cuda":
                log.to_calls.append((torch.device(target), kwargs.get("non_blocking", False)))
                return self_
            return real_to(self_, *args, **kwargs)

        def fake_pin(self_):
            log.pinned += 1
            return self_

        monkeypatch.setattr(torch.Tensor, "to", fake_to)
        monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)


def test_get_batch_sends_pinned_batches_to_cuda_without_blocking(monkeypatch):
    log = _TransferLog(monkeypatch)
    x, y = get_batch(torch.arange(100), 10, 4, torch.Generator().manual_seed(0), torch.device("cuda"))
    assert log.pinned == 2
    assert log.to_calls == [(torch.device("cuda"), True)] * 2
    assert torch.equal(y[:, :-1], x[:, 1:])


# -- baseline and evaluation ---------------------------------------------------------------------
def test_bigram_matches_explicit_counts():
    train = _ids(400, 5, seed=1)
    val = _ids(100, 5, seed=2)
    counts = np.ones((5, 5))
    for a, b in zip(train[:-1].tolist(), train[1:].tolist()):
        counts[a, b] += 1
    probs = counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(bigram_log_probs(train, 5).exp().numpy(), probs, rtol=1e-12)
    expected = -np.mean([math.log(probs[a, b]) for a, b in zip(val[:-1].tolist(), val[1:].tolist())])
    assert bigram_loss(train, val, 5) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        bigram_log_probs(train, 5, alpha=0)
    with pytest.raises(ValueError, match="ids must lie"):
        bigram_log_probs(train, 3)


def test_evaluate_scores_every_transition_once():
    model = _tiny_model()
    data = _ids(43)  # 42 transitions: 5 full windows of 8 plus a tail of 2
    windows, nll = [(s, min(s + 8, 42)) for s in range(0, 42, 8)], 0.0
    for s, e in windows:
        logits = model(data[s:e].view(1, -1))[0]
        nll += F.cross_entropy(logits[0], data[s + 1 : e + 1], reduction="sum").item()
    assert evaluate(model, data, batch_size=2) == pytest.approx(nll / 42, rel=1e-6)


def test_evaluate_restores_the_mode_even_when_it_raises():
    # evaluate() once switched to eval mode before checking its input, and left it there.
    model = _tiny_model().train()
    with pytest.raises(ValueError, match="at least two tokens"):
        evaluate(model, torch.tensor([1]))
    assert model.training
    evaluate(model, _ids(40))
    assert model.training


def test_estimate_loss_is_repeatable_and_restores_mode():
    model = _tiny_model(GPTConfig(**{**TINY.__dict__, "dropout": 0.3}))
    data = _ids(300)
    model.train()
    a = estimate_loss(model, data, 4, 3)
    assert a == estimate_loss(model, data, 4, 3) and model.training
    with pytest.raises(ValueError, match="n_batches"):
        estimate_loss(model, data, 4, 0)


# -- one code path, two configurations ----------------------------------------------------------
def test_pick_config_cpu_is_tiny_and_gpu_is_nanogpt_shakespeare_char():
    cpu = pick_config(torch.device("cpu"), 63)
    assert cpu.name == "cpu-tiny" and cpu.model.vocab_size == 63
    assert cpu.model.n_layer * cpu.model.n_embd <= 4 * 128  # no bigger than nanoGPT's CPU "baby"
    for name in ("cuda", "mps", torch.device("cuda", 0)):
        gpu = pick_config(name, 63)
        m = gpu.model
        assert gpu.name == "gpu-nanogpt"
        assert (m.n_layer, m.n_head, m.n_embd, m.block_size, m.dropout) == (6, 6, 384, 256, 0.2)
        assert gpu.batch_size == 64 and gpu.learning_rate == 1e-3
        # Flash attention on CUDA needs a head size that is a multiple of 8 and at most 256.
        assert m.head_size % 8 == 0 and m.head_size <= 256
    assert pick_config("cpu", 63) == cpu
    with pytest.raises(ValueError, match="no configuration"):
        pick_config(torch.device("meta"), 63)


def test_gpu_model_size_matches_nanogpt():
    # nanoGPT reports 10.65M parameters for this model (tied, 65 characters, positions not
    # counted); ours is untied with an output bias and 63 characters.
    run = pick_config("cuda", 63)
    with torch.device("meta"):  # shapes only: no memory, no GPU
        model = GPT(run.model)
    C, V = 384, 63
    tied_nanogpt_like = model.num_params(non_embedding=True) - V * C - V
    assert abs(tied_nanogpt_like - 10.65e6 + (65 - 63) * C) < 0.005e6


def test_make_trainer_is_the_same_code_for_cpu_and_cuda(monkeypatch):
    """The CPU run is real; for CUDA the model's device is mocked and transfers are logged."""
    cpu_run, gpu_run = pick_config("cpu", 11), pick_config("cuda", 11)
    small = {"block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16}
    runs = {
        "cpu": RunConfig(**{**cpu_run.__dict__, "model": GPTConfig(**{**cpu_run.model.__dict__, **small})}),
        "cuda": RunConfig(**{**gpu_run.__dict__, "model": GPTConfig(**{**gpu_run.model.__dict__, **small})}),
    }
    data = _ids(400)
    trainers = {}
    # CPU: actually train a few steps.
    model = _tiny_model(runs["cpu"].model)
    trainers["cpu"] = make_trainer(model, runs["cpu"], data, data, progress=False, max_steps=3)
    history = trainers["cpu"].run()
    assert len(history.evals) == 1 and history.items == 3 * runs["cpu"].tokens_per_step
    # CUDA: same function; the model reports a CUDA device, transfers are intercepted.
    log = _TransferLog(monkeypatch)
    monkeypatch.setattr(charlm, "model_device", lambda m: torch.device("cuda"))
    trainers["cuda"] = make_trainer(_tiny_model(runs["cuda"].model), runs["cuda"], data, data, progress=False)
    x, y = trainers["cuda"].get_batch(torch.Generator().manual_seed(0))
    assert x.shape == (runs["cuda"].batch_size, 8)
    assert log.to_calls == [(torch.device("cuda"), True)] * 2 and log.pinned == 2
    assert trainers["cuda"].optimizer.defaults["fused"] is True  # one-kernel AdamW on both
    assert trainers["cpu"].optimizer.defaults["fused"] is True
    for name, trainer in trainers.items():
        run = runs[name]
        assert trainer.config.amp is True  # the Trainer turns this into bf16 autocast on CUDA only
        assert trainer.config.items_per_step == run.batch_size * run.model.block_size
        assert trainer.config.eval_every == run.eval_every
    # Both trainers draw their windows exactly as get_batch does (only the device differs) and score
    # them with the model's own loss, so the CPU run exercises what a GPU run computes.
    xc, yc = trainers["cpu"].get_batch(torch.Generator().manual_seed(0))
    for (bx, by), run in (((xc, yc), runs["cpu"]), ((x, y), runs["cuda"])):
        ex, ey = get_batch(data, 8, run.batch_size, torch.Generator().manual_seed(0))
        assert torch.equal(bx, ex) and torch.equal(by, ey)
    model.eval()  # no dropout: the two losses must be the same number
    for trainer in trainers.values():
        torch.testing.assert_close(trainer.loss_fn(model, (xc, yc)), model(xc, yc)[1])


def test_trainer_autocasts_to_bfloat16_on_cuda_only(monkeypatch):
    seen = []

    class FakeAutocast:
        def __init__(self, device_type, dtype, enabled):
            seen.append((device_type, dtype, enabled))

    monkeypatch.setattr(train_module.torch, "autocast", FakeAutocast)
    monkeypatch.setattr(train_module.torch.cuda, "is_bf16_supported", lambda **kw: True)  # e.g. an A100
    run = pick_config("cpu", 11)
    run = RunConfig(**{**run.__dict__, "model": TINY})
    trainer = make_trainer(_tiny_model(), run, _ids(), progress=False)
    trainer._autocast()
    trainer.device = torch.device("cuda")  # what the Trainer reads from a model on the GPU
    trainer._autocast()
    assert seen == [("cpu", torch.bfloat16, False), ("cuda", torch.bfloat16, True)]


def test_make_trainer_rejects_a_mismatched_model():
    run = RunConfig(name="x", model=TINY, batch_size=2, max_steps=1, learning_rate=1e-3)
    with pytest.raises(ValueError, match="different GPTConfig"):
        make_trainer(_tiny_model(GPTConfig(**{**TINY.__dict__, "n_embd": 32})), run, _ids())


def test_weight_decay_only_on_matrices():
    model = _tiny_model()
    run = RunConfig(name="x", model=TINY, batch_size=2, max_steps=1, learning_rate=1e-3, weight_decay=0.3)
    decay, no_decay = configure_optimizer(model, run).param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_training_beats_the_bigram_on_a_learnable_sequence():
    # A sequence whose next token depends on the two before it: a bigram cannot learn it.
    g = torch.Generator().manual_seed(0)
    seq = [0, 1]
    for _ in range(3000):
        seq.append(
            (seq[-1] + seq[-2]) % 7 if torch.rand(1, generator=g) > 0.1 else int(torch.randint(7, (1,), generator=g))
        )
    data = torch.tensor(seq)
    train, val = train_val_split(data)
    config = GPTConfig(vocab_size=7, block_size=16, n_layer=1, n_head=2, n_embd=32)
    run = RunConfig(name="t", model=config, batch_size=16, max_steps=150, learning_rate=3e-3, warmup_steps=10)
    model = _tiny_model(config)
    make_trainer(model, run, train, progress=False).run()
    assert evaluate(model, val) < bigram_loss(train, val, 7) - 0.3


# -- checkpoints ---------------------------------------------------------------------------------
def test_resumed_run_continues_exactly(tmp_path):
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.2)
    run = RunConfig(name="ckpt", model=config, batch_size=4, max_steps=12, learning_rate=3e-3, warmup_steps=3)
    data = _ids(300)

    def fresh():
        return make_trainer(_tiny_model(config), run, data, progress=False, log_every=1)

    straight = fresh()
    straight.run()
    first = fresh()
    first.run(steps=6)
    path = first.save(tmp_path / "ckpt.pt")
    torch.rand(10)  # disturb the global RNG that dropout uses: the checkpoint must restore it
    state = torch.load(path, weights_only=True)  # plain tensors and containers only
    assert state["step"] == 6
    resumed = fresh()
    resumed.load(path)
    resumed.run()
    assert resumed.history.loss == straight.history.loss
    for a, b in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.equal(a, b)
