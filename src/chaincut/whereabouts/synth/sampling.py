"""Weighted random draws by inverse cumulative weights, the generator's workhorse."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["weighted_draw"]


def weighted_draw(
    cumulative: npt.NDArray[np.float64], count: int | tuple[int, int], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Indices drawn with probability proportional to the increments of ``cumulative``.

    Binary search over a cumulative array beats ``Generator.choice`` with
    ``p=`` when the same weights serve millions of draws.
    """
    points = rng.random(count) * cumulative[-1]
    picks: npt.NDArray[np.int64] = np.searchsorted(cumulative, points, side="right")
    bounded: npt.NDArray[np.int64] = np.minimum(picks, cumulative.shape[0] - 1)
    return bounded
