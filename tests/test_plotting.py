"""embedlab.plotting draws what it is given, in the course style, and rejects bad shapes."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from embedlab import plotting  # noqa: E402


def test_heatmap_draws_the_matrix_with_labels():
    S = torch.tensor([[1.0, 0.5], [0.5, 1.0]])
    fig = plotting.similarity_heatmap(S, ["a", "b"], title="t")
    ax = fig.axes[0]
    assert np.allclose(ax.images[0].get_array(), S.numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.texts) == 4 and ax.get_title() == "t"


def test_heatmap_rejects_bad_input():
    with pytest.raises(ValueError, match="matrix"):
        plotting.similarity_heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="labels has 3 entries"):
        plotting.similarity_heatmap(np.zeros((2, 2)), ["a", "b", "c"])


def test_loss_curve_and_bar():
    fig = plotting.loss_curve({"train": [3, 2, 1], "val": [3.5, 2.5, 2]})
    assert len(fig.axes[0].lines) == 2
    fig = plotting.bar({"a": 1.0, "b": 2.0})
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError):
        plotting.loss_curve({})


def test_style_does_not_leak():
    before = matplotlib.rcParams["axes.spines.top"]
    with plotting.style():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.spines.top"] == before
