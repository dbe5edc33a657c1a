"""sparsekit.course.plotting: the mean-and-band line the lessons draw."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from sparsekit.course.plotting import line_with_band  # noqa: E402


def test_line_is_the_mean_and_the_band_one_sd():
    fig, ax = plt.subplots()
    ys = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 7.0]])
    line = line_with_band(ax, [1, 2, 3], ys)
    np.testing.assert_allclose(line.get_ydata(), [2.0, 3.0, 5.0])
    (band,) = ax.collections
    lo, hi = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert lo == pytest.approx(2.0 - np.sqrt(2)) and hi == pytest.approx(5.0 + np.sqrt(8))
    plt.close(fig)


def test_a_single_point_gets_an_error_bar_not_an_invisible_band():
    fig, ax = plt.subplots()
    line_with_band(ax, [10.0], np.array([[1.0], [3.0], [5.0]]))
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    seg = bars.lines[2][0].get_segments()[0]
    assert seg[:, 1].tolist() == pytest.approx([1.0, 5.0])  # mean 3, sd 2
    plt.close(fig)


def test_shapes_must_agree():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="points per seed"):
        line_with_band(ax, [1, 2], np.ones((3, 3)))
    plt.close(fig)
