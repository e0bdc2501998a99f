"""SHAP attributions for the classification tasks: tokens for text, a grid of image cells for images.

Every variant explains the same seeded sample of evaluation items, and always the logit of the
item's gold class, so the baseline's and a variant's attributions answer the same question and
can be compared feature by feature (``wattcut.stats.explain``). Tokens use SHAP's Partition
explainer (Owen values over a hierarchy of tokens), image cells a Permutation explainer with a
fixed seed: both deterministic for a given model, so a variant that computes the same function
gets the same attributions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from wattcut.errors import UserInputError

INSTALL = 'pip install "shap>=0.48" (bash scripts/setup.sh installs it)'


def explain_items(n_items: int, samples: int, seed: int) -> list[int]:
    """Which evaluation items are explained: ``samples`` of ``n_items``, seeded, the same for every variant."""
    if samples > n_items:
        raise UserInputError(
            f"[explain] samples = {samples} is more than the {n_items:,} evaluation items.",
            f"Set [explain] samples to {n_items:,} or less (16-64 is enough for a CI on the agreement).",
        )
    return sorted(int(i) for i in np.random.default_rng(seed + 104729).choice(n_items, samples, replace=False))


def require_shap() -> Any:
    """The shap module; a clear error with the install command when it is missing."""
    try:
        import shap
    except ImportError:
        raise UserInputError("[explain] needs the package shap, which is not installed.", INSTALL) from None
    return shap


def explain_texts(
    predict: Callable[[list[str]], np.ndarray],
    tokenizer: Any,
    texts: list[str],
    targets: list[int],
    max_evals: int,
) -> dict[str, Any]:
    """Token attributions of each text's ``targets`` logit: ``{"features", "labels", "values"}`` per item."""
    shap = require_shap()
    explainer = shap.Explainer(lambda xs: predict([str(x) for x in xs]), shap.maskers.Text(tokenizer))
    out = explainer(texts, max_evals=max_evals, silent=True)
    values, labels = [], []
    for i, target in enumerate(targets):
        values.append([float(v) for v in np.asarray(out.values[i])[:, target]])
        labels.append([str(t) for t in out.data[i]])
    return {"features": "tokens", "labels": labels, "values": values}


def explain_images(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    targets: list[int],
    grid: int,
    max_evals: int,
) -> dict[str, Any]:
    """Attributions of each image's ``targets`` logit to a ``grid`` x ``grid`` of cells (row-major).

    ``images``: float ``[n, S, S, 3]`` pixels in 0-255, as the model sees them before normalisation.
    The features are the cells themselves: SHAP's Permutation explainer (seeded: the same
    permutations for every variant) over cells present or hidden, a hidden cell taking the
    explained images' mean pixel value (SHAP's blurring and inpainting maskers need OpenCV).
    """
    shap = require_shap()
    side = images.shape[1]
    if grid > side:
        raise UserInputError(
            f"[explain] grid = {grid} is more cells than the {side}-pixel images have.", f"Use grid = {side} or less."
        )
    cell = np.concatenate([np.full(len(c), i) for i, c in enumerate(np.array_split(np.arange(side), grid))])
    reference = np.float32(images.mean())
    values = []
    for image, target in zip(images, targets, strict=True):

        def composed(present: np.ndarray, image: np.ndarray = image) -> np.ndarray:
            shown = np.asarray(present, dtype=np.float32).reshape(-1, grid, grid)[:, cell][:, :, cell]
            return predict(reference + (image - reference) * shown[..., None])

        explainer = shap.Explainer(composed, shap.maskers.Independent(np.zeros((1, grid * grid))), seed=0)
        out = explainer(np.ones((1, grid * grid)), max_evals=max(max_evals, 2 * grid * grid + 1), silent=True)
        values.append([float(v) for v in np.asarray(out.values[0])[:, target]])
    labels = [[f"r{r}c{c}" for r in range(grid) for c in range(grid)]] * len(targets)
    return {"features": f"image cells ({grid}x{grid})", "labels": labels, "values": values}
