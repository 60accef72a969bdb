"""Chapter 2's automatic exercise checks: right answers pass, typical wrong answers fail with a clear message."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from embedlab.exercises import check


def _good_cosine(a, b):
    na, nb = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
    if na == 0 or nb == 0:
        raise ValueError("cosine of a zero vector")
    return float(a @ b / (na * nb))


def test_cosine_reference_solution_passes():
    assert check("ch02.cosine", _good_cosine, quiet=True)
    assert check("ch02.cosine_zero", _good_cosine, quiet=True)


def test_cosine_against_torch_passes_values_but_not_zero_policy():
    torch_cos = lambda a, b: F.cosine_similarity(a, b, dim=0).item()  # noqa: E731
    assert check("ch02.cosine", torch_cos, quiet=True)
    res = check("ch02.cosine_zero", torch_cos, quiet=True)  # torch returns 0 for a zero vector
    assert not res and "expected ValueError to be raised" in res.message


def test_dot_product_is_not_cosine():
    res = check("ch02.cosine", lambda a, b: float(a @ b), quiet=True)
    assert not res and "not yet" in res.message


def test_nan_instead_of_error_fails():
    res = check("ch02.cosine_zero", lambda a, b: float(a @ b / (a.norm() * b.norm())), quiet=True)
    assert not res


def _good_k_occurrence(X, k):
    D = torch.cdist(X, X)
    D.fill_diagonal_(float("inf"))
    idx = torch.topk(D, k, dim=1, largest=False).indices
    return torch.bincount(idx.reshape(-1), minlength=X.shape[0])


def test_k_occurrence_solution_passes_also_as_numpy_floats():
    assert check("ch02.k_occurrence", _good_k_occurrence, quiet=True)
    assert check("ch02.k_occurrence", lambda X, k: _good_k_occurrence(X, k).numpy().astype(float), quiet=True)


def test_k_occurrence_counting_self_fails_with_a_message():
    def with_self(X, k):
        idx = torch.topk(torch.cdist(X, X), k, dim=1, largest=False).indices  # includes the point itself
        return torch.bincount(idx.reshape(-1), minlength=X.shape[0])

    res = check("ch02.k_occurrence", with_self, quiet=True)
    assert not res and "neighbour lists, you counted" in res.message


def test_k_occurrence_wrong_shape_and_garbage():
    res = check("ch02.k_occurrence", lambda X, k: np.zeros(3), quiet=True)
    assert not res and "one per point" in res.message
    res = check("ch02.k_occurrence", lambda X, k: "counts", quiet=True)
    assert not res and "expected an array of counts" in res.message


def test_cosine_returning_a_vector_or_exiting_is_explained():
    res = check("ch02.cosine", lambda a, b: a * b / (a.norm() * b.norm()), quiet=True)  # forgot the sum
    assert not res and "expected a single number, got a tensor of shape (2,)" in res.message
    res = check("ch02.cosine_zero", lambda a, b: exit(), quiet=True)
    assert not res and "SystemExit" in res.message
