"""What each prunable block of an encoder costs on this machine, measured, and a fitted cost model.

The profile times copies of the model with parts physically removed (design points: half
the heads, half the FFN neurons, half the layers, ...), request by request at the study's
real input lengths, on PyTorch with the study's threads, with the points interleaved over
rounds so that drift hits them alike. A least-squares fit of CPU seconds per request

    t = base_s + layers x layer_s + kept heads x head_s + kept FFN neurons x neuron_s

gives the cost of one layer's fixed work, one attention head and one FFN neuron. Kept
heads and neurons are summed over layers, since the layers of an encoder are identical in
shape. A pruned model's energy per request is predicted as the baseline's, scaled by the
ratio of predicted CPU seconds: the CPU-time model bills energy in proportion to CPU
seconds; on a machine with counters the ratio is an assumption the study's paired rounds
then check (``report`` shows predicted against measured, with r and the median error).

The profile is cached under ``$WATTCUT_CACHE/profiles`` by content (architecture, CPU,
threads, batch sizes, input lengths), so later trials and studies reuse it, and it is
stored with every record that used it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_VERSION = 1
# (fraction of layers kept, of heads kept, of FFN neurons kept): enough spread on each axis to separate
# a layer's fixed cost from its heads and its neurons, plus combinations to check additivity.
DESIGN = (
    (1.0, 1.0, 1.0),
    (1.0, 0.5, 1.0),
    (1.0, 1.0, 0.5),
    (1.0, 0.25, 0.25),
    (1.0, 0.75, 0.5),
    (0.5, 1.0, 1.0),
    (0.5, 0.5, 0.5),
    (1.0, 0.5, 0.125),
)


@dataclass(frozen=True)
class Structure:
    """Kept attention heads and FFN neurons per encoder layer."""

    heads: tuple[int, ...]
    ffn: tuple[int, ...]

    @property
    def layers(self) -> int:
        """Encoder layers."""
        return len(self.heads)

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form."""
        return {"heads": list(self.heads), "ffn": list(self.ffn)}


@dataclass(frozen=True)
class Coefficients:
    """CPU seconds per request of each block at one batch size (the fit), and how well it fits."""

    batch_size: int
    base_s: float
    layer_s: float
    head_s: float
    neuron_s: float
    r2: float
    max_rel_error: float  # worst |fit / measured - 1| over the design points

    def predict_s(self, s: Structure) -> float:
        """Predicted CPU seconds per request of a model with structure ``s``."""
        return self.base_s + s.layers * self.layer_s + sum(s.heads) * self.head_s + sum(s.ffn) * self.neuron_s


@dataclass(frozen=True)
class CostProfile:
    """A measured cost profile of one architecture on one machine (see the module docstring)."""

    cpu: str
    threads: int
    runtime: str
    tokens_per_request: float  # mean tokens of one text at the study's real lengths
    full: Structure
    coefficients: tuple[Coefficients, ...]
    points: tuple[dict[str, Any], ...]  # each design point: structure, batch size, measured CPU s per request
    key: str = ""
    duration_s: float = 0.0
    version: int = PROFILE_VERSION
    method: str = field(
        default="least squares of CPU s/request on kept layers, heads and FFN neurons; energy ratio = CPU-time ratio"
    )

    def at(self, batch_size: int) -> Coefficients:
        """The coefficients for ``batch_size`` (the nearest profiled one)."""
        return min(self.coefficients, key=lambda c: abs(np.log(c.batch_size / max(1, batch_size))))

    def ratio(self, s: Structure, batch_size: int = 1) -> float:
        """Predicted CPU time (so energy) per request of ``s``, as a fraction of the full model's."""
        c = self.at(batch_size)
        return c.predict_s(s) / c.predict_s(self.full)

    def to_dict(self) -> dict[str, Any]:
        """Plain-value form (stored with the baseline's record and in the cache)."""
        d = asdict(self)
        d["full"] = self.full.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CostProfile:
        """Read back :meth:`to_dict`."""
        d = dict(d)
        d["full"] = Structure(tuple(d["full"]["heads"]), tuple(d["full"]["ffn"]))
        d["coefficients"] = tuple(Coefficients(**c) for c in d["coefficients"])
        d["points"] = tuple(d["points"])
        return cls(**d)


def structure_of(module: Any) -> Structure | None:
    """Kept heads and FFN neurons per layer of a BERT-style encoder (None when it is not one)."""
    from wattcut.models.surgery import encoder_layers

    layers = encoder_layers(module)
    if layers is None:
        return None
    heads, ffn = [], []
    for layer in layers:
        attn = getattr(getattr(layer, "attention", None), "self", None)
        inter = getattr(getattr(layer, "intermediate", None), "dense", None)
        if attn is None or inter is None or not hasattr(attn, "attention_head_size"):
            return None
        if not hasattr(attn.query, "out_features") or not hasattr(inter, "out_features"):
            return None  # factorized (low-rank) projections: not a shape the profile describes
        heads.append(attn.query.out_features // attn.attention_head_size)
        ffn.append(inter.out_features)
    return Structure(tuple(heads), tuple(ffn))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    from wattcut.models.packaged import cache_dir

    return cache_dir() / "profiles"


def _encode(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """As the classification task tokenizes a request: padded to its longest text, int64."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")
    return {k: v.astype(np.int64) for k, v in enc.items()}


def profile_key(module: Any, threads: int, batch_sizes: tuple[int, ...], lengths: list[int]) -> str:
    """Content key of a profile: architecture, CPU, threads, batch sizes and the input lengths."""
    import torch

    s = structure_of(module)
    cfg = module.config
    payload = {
        "version": PROFILE_VERSION,
        "structure": s.to_dict() if s else None,
        "hidden": getattr(cfg, "hidden_size", None),
        "vocab": getattr(cfg, "vocab_size", None),
        "model_type": getattr(cfg, "model_type", None),
        "cpu": _cpu_name(),
        "threads": threads,
        "batch_sizes": list(batch_sizes),
        "lengths": hashlib.sha256(np.asarray(lengths, dtype=np.int32).tobytes()).hexdigest(),
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def load_or_measure(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    threads: int,
    batch_sizes: tuple[int, ...] = (1, 32),
    requests: int = 48,
    rounds: int = 3,
    rec: Any = None,
    cache: bool = True,
) -> tuple[CostProfile, bool]:
    """The cached profile of ``model`` for these inputs, or a new one measured now; and whether it was cached."""
    lengths = [int(n) for n in _encode(tokenizer, texts, max_length)["attention_mask"].sum(1)]
    key = profile_key(model.module, threads, batch_sizes, lengths)
    path = _cache_dir() / f"{key}.json"
    if cache and path.is_file():
        return CostProfile.from_dict(json.loads(path.read_text(encoding="utf-8"))), True
    profile = measure(model, tokenizer, texts, max_length, threads, batch_sizes, requests, rounds, rec)
    profile = CostProfile(**{**profile.__dict__, "key": key})
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(profile.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)
    return profile, False


def design_model(model: Any, layers: float, heads: float, ffn: float) -> Any:
    """A copy of ``model`` keeping fractions of its layers, heads and FFN neurons (by weight magnitude)."""
    import torch

    from wattcut.models import surgery

    m = model.clone()
    layer_list = surgery.encoder_layers(m.module)
    n = len(layer_list)
    if layers < 1.0:
        keep = max(1, round(n * layers))
        idx = sorted({min(n - 1, int(i * n / keep)) for i in range(keep)})
        kept = torch.nn.ModuleList([layer_list[i] for i in idx])
        parent = next(p for p in surgery.LAYER_PATHS if _has(m.module, p))
        m.module.get_submodule(parent.rsplit(".", 1)[0]).layer = kept
        m.module.config.num_hidden_layers = len(kept)
    for _, attn, output in surgery.attention_blocks(m.module):
        h = attn.query.out_features // attn.attention_head_size
        if heads < 1.0:
            top = torch.topk(surgery.head_scores(attn, output, None), max(1, round(h * heads))).indices.sort().values
            surgery.slice_heads(attn, output, top)
    for inter, out in surgery.ffn_pairs(m.module):
        if ffn < 1.0:
            k = max(1, round(inter.out_features * ffn))
            surgery.slice_ffn(
                m.module, inter, out, torch.topk(surgery.neuron_scores(inter, out, None), k).indices.sort().values
            )
    return m


def _has(module: Any, path: str) -> bool:
    try:
        module.get_submodule(path)
        return True
    except AttributeError:
        return False


def measure(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    threads: int,
    batch_sizes: tuple[int, ...],
    requests: int,
    rounds: int,
    rec: Any = None,
) -> CostProfile:
    """Time every design point at every batch size, interleaved over ``rounds``, and fit the coefficients."""
    import torch

    from wattcut.ui import bar

    full = structure_of(model.module)
    if full is None:
        from wattcut.errors import UserInputError

        raise UserInputError(
            f"The cost profile needs a BERT-style encoder (layers with attention.self and intermediate.dense); "
            f"{type(model.module).__name__} is not one.",
            "Use magnitude or taylor importance without an energy budget for this model.",
        )
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    points = [(d, design_model(model, *d)) for d in DESIGN]
    feeds = {}
    for b in batch_sizes:
        n = requests if b == 1 else max(4, requests // 8)
        picks = rng.choice(len(texts), size=n * b, replace=len(texts) < n * b)
        feeds[b] = [_encode(tokenizer, [texts[i] for i in picks[j : j + b]], max_length) for j in range(0, n * b, b)]
    samples: dict[tuple[int, int], list[float]] = {}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with bar("cost profile", rounds * len(points) * len(batch_sizes)) as advance:
            for r in range(rounds):
                order = points[r % len(points) :] + points[: r % len(points)]  # rotate: drift hits every point
                for b in batch_sizes:
                    for d, m in order:
                        m.logits(feeds[b][0])  # warm
                        t0 = time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID)
                        for req in feeds[b]:
                            m.logits(req)
                        cpu = time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) - t0
                        samples.setdefault((DESIGN.index(d), b), []).append(cpu / len(feeds[b]))
                        if rec is not None:
                            rec.requests += len(feeds[b])
                            rec.samples += len(feeds[b]) * b
                        advance(1)
    finally:
        torch.set_num_threads(before)
    structures = [structure_of(m.module) for _, m in points]
    rows = []
    coefficients = []
    for b in batch_sizes:
        x = np.array([[1.0, s.layers, sum(s.heads), sum(s.ffn)] for s in structures if s])
        y = np.array([float(np.median(samples[(i, b)])) for i in range(len(points))])
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        fit = x @ beta
        r2 = 1.0 - float(np.sum((y - fit) ** 2) / max(1e-30, np.sum((y - y.mean()) ** 2)))
        base_s, layer_s, head_s, neuron_s = (float(v) for v in beta)
        worst = float(np.max(np.abs(fit / y - 1.0)))
        coefficients.append(Coefficients(b, base_s, layer_s, head_s, neuron_s, r2=r2, max_rel_error=worst))
        for i, s in enumerate(structures):
            rows.append(
                {
                    "design": list(DESIGN[i]),
                    "structure": s.to_dict() if s else None,
                    "batch_size": b,
                    "cpu_s_per_request": float(y[i]),
                    "fit_s_per_request": float(fit[i]),
                    "rounds_s": [float(v) for v in samples[(i, b)]],
                }
            )
    lengths = _encode(tokenizer, texts[:2000], max_length)["attention_mask"].sum(1)
    return CostProfile(
        cpu=_cpu_name(),
        threads=threads,
        runtime="pytorch",
        tokens_per_request=float(np.mean(lengths)),
        full=full,
        coefficients=tuple(coefficients),
        points=tuple(rows),
        duration_s=time.perf_counter() - started,
    )


def unit_costs(profile: CostProfile, batch_size: int = 1) -> dict[str, float]:
    """Predicted CPU seconds per request of one head, one FFN neuron and one layer's fixed work."""
    c = profile.at(batch_size)
    return {"head": c.head_s, "neuron": c.neuron_s, "layer": c.layer_s, "base": c.base_s}


def profile_for(model: Any, ctx: Any) -> CostProfile:
    """The study's cost profile (``ctx.cost_profile``), else the cached one for ``model``, else one measured now."""
    if ctx.cost_profile is not None:
        return ctx.cost_profile()
    texts = list(ctx.calibration_texts)
    if not texts:
        from wattcut.errors import UserInputError

        raise UserInputError(
            "An energy budget needs a cost profile, measured on the study's texts, and no texts were given.",
            "Run the technique inside a study (wattcut run), which provides them.",
        )
    with ctx.phase("profile") as rec:
        profile, _ = load_or_measure(model, ctx.tokenizer, texts, ctx.max_length, ctx.threads, rec=rec)
    return profile
