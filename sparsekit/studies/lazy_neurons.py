"""The lazy-neuron study of notebook 05: measure, train, time, and the pre-registered rules.

Li et al., "The Lazy Neuron Phenomenon: On Emergence of Activation Sparsity in Transformers" (ICLR
2023, arXiv 2210.06313). Everything here works on any model whose activation modules
:class:`sparsekit.activations.ActivationMeter` finds (``nn.ReLU`` and ``TopK``).

- :func:`sparsity_profile`: per layer, the non-zero percentage, the dead neurons and the non-zero
  percentage among live neurons, on held-out inputs.
- :func:`train_tracked` (epochs over tensors) and :func:`train_stream` (one pass over fresh batches)
  record the profile as training goes; :func:`fit_labels` trains until the training labels are fitted.
- :func:`noisy_labels`, :func:`label_noise_pair`: the top-k robustness and calibration runs.
- :func:`mlp_block_macs`, :func:`time_mlp_block`: what an activation-sparse second matmul saves, in
  multiply-adds and in time against torch's fastest dense product.
- :func:`input_gates`: TEAL's and WINA's training-free gating of a linear layer's inputs.
- The rules (``falls_by``, ``lower_than``, ``every_layer_falls``): each a pure function of per-seed
  numbers, unit-tested with counter-examples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sparsekit import bench, kernels
from sparsekit.activations import ActivationMeter
from sparsekit.metrics import expected_calibration_error
from sparsekit.roofline import mlp_block_macs
from sparsekit.timing import measure_samples
from sparsekit.train import evaluate, fit, train_epochs
from sparsekit.verdicts import Decision, decide, decide_every

__all__ = ["Profile", "sparsity_profile", "train_tracked", "train_stream", "fit_labels", "noisy_labels",
           "label_noise_pair", "mlp_block_macs", "time_mlp_block", "input_gates", "mask_overlap",
           "falls_by", "lower_than", "every_layer_falls"]


@dataclass(frozen=True)
class Profile:
    """Activation sparsity of one model on one set of inputs, per activation layer (percentages)."""

    nonzero: dict[str, float]  # mean over tokens of the share of non-zero entries
    dead: dict[str, float]  # share of neurons zero for every token
    live_nonzero: dict[str, float]  # non-zero share counted over the live neurons only

    @property
    def mean(self) -> float:
        """The layer average of the non-zero percentage (the paper's per-model number)."""
        return float(np.mean(list(self.nonzero.values())))


def sparsity_profile(model: nn.Module, x: torch.Tensor, batch: int = 500) -> Profile:
    """Run ``x`` through ``model`` in eval mode (batches of ``batch``) and measure every activation layer."""
    was_training = model.training
    model.eval()
    with ActivationMeter(model) as meter, torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i : i + batch])
    model.train(was_training)
    return Profile(meter.nonzero_percent(), meter.dead_percent(), meter.live_nonzero_percent())


def _adamw(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)


def train_tracked(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, x_eval: torch.Tensor,
                  lr: float = 3e-3, batch: int = 128, seed: int = 0, track: bool = True) -> list[Profile]:
    """AdamW (no weight decay) for ``epochs`` passes; the profile on ``x_eval`` before training and after
    every pass (with ``track``), else only before and after."""
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    opt, g = _adamw(model, lr), torch.Generator().manual_seed(seed)
    history = [sparsity_profile(model, x_eval)]
    for epoch in range(epochs):
        train_epochs(model, opt, x, y, 1, batch, g)
        if track or epoch == epochs - 1:
            history.append(sparsity_profile(model, x_eval))
    return history


def train_stream(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], x_eval: torch.Tensor,
                 lr: float = 1e-3, eval_every: int = 50) -> list[tuple[int, Profile]]:
    """One pass over ``batches``, every batch new (the infinite-data regime), through ``train.fit``:
    ``(step, profile)`` at step 0, every ``eval_every`` steps and at the last step."""
    if eval_every < 1:
        raise ValueError(f"eval_every must be a positive number of steps, got {eval_every}")
    out, steps = [(0, sparsity_profile(model, x_eval))], [0]

    def record(step: int) -> None:
        steps[0] = step
        if step % eval_every == 0:
            out.append((step, sparsity_profile(model, x_eval)))

    fit(model, _adamw(model, lr), lambda: iter(batches), epochs=1, on_step=record)
    if out[-1][0] != steps[0]:
        out.append((steps[0], sparsity_profile(model, x_eval)))
    return out


def fit_labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: float = 0.95, max_epochs: int = 100,
               check_every: int = 5, lr: float = 3e-3, batch: int = 128, seed: int = 0) -> tuple[int, float]:
    """Train until the accuracy on the training labels ``y`` (noisy or not) reaches ``target`` (checked
    every ``check_every`` passes) or ``max_epochs`` passes; returns (passes, training accuracy)."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be a training accuracy in (0, 1], got {target}")
    if max_epochs < 1 or check_every < 1:
        raise ValueError(f"max_epochs and check_every must be positive, got {max_epochs} and {check_every}")
    opt, g = _adamw(model, lr), torch.Generator().manual_seed(seed)
    done, acc = 0, 0.0
    while done < max_epochs:
        n = min(check_every, max_epochs - done)
        train_epochs(model, opt, x, y, n, batch, g)
        done += n
        acc = evaluate(model, x, y)[1]
        if acc >= target:
            break
    return done, float(acc)


def noisy_labels(y: torch.Tensor, fraction: float, num_classes: int, seed: int = 0) -> torch.Tensor:
    """A copy of ``y`` in which a ``fraction`` of the entries (chosen with ``seed``) get a uniformly random
    class (which may be the true one, as in the usual symmetric-noise set-up)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    g = torch.Generator().manual_seed(seed)
    out = y.clone()
    flip = torch.rand(len(y), generator=g) < fraction
    out[flip] = torch.randint(0, num_classes, (int(flip.sum()),), generator=g).to(y.device, y.dtype)
    return out


def label_noise_pair(make_model: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor,
                     y_test: torch.Tensor, noise: float, seed: int, **fit_kw) -> dict:
    """One seed, one activation: the same initialisation trained on clean and on noisy labels (each until
    fitted, :func:`fit_labels`); clean test accuracy of both, the drop, and the clean-trained model's ECE."""
    out = {}
    for name, labels in (("clean", y), ("noisy", noisy_labels(y, noise, int(y.max()) + 1, seed=1000 + seed))):
        torch.manual_seed(seed)
        model = make_model()
        epochs, fit = fit_labels(model, x, labels, seed=seed, **fit_kw)
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(model(x_test), -1).cpu()
        out[f"{name}_acc"] = 100 * (probs.argmax(1) == y_test.cpu()).float().mean().item()
        out[f"{name}_epochs"], out[f"{name}_fit"] = epochs, 100 * fit
        if name == "clean":
            out["ece"], out["probs"], out["model"] = expected_calibration_error(probs, y_test.cpu()), probs, model
    out["drop"] = out["clean_acc"] - out["noisy_acc"]
    return out


def time_mlp_block(block: nn.Module, x: torch.Tensor, reps: int = 30) -> dict:
    """Time one MLP block (``fc1``, ``act``, ``fc2``; CPU, no bias in the timed products) on the tokens
    ``x`` (tokens x d): the first half (fc1 + activation; fc1 alone is timed too, to show what the
    activation costs), every dense way to do the second matmul (the
    fastest is the baseline) and sparsekit's activation-sparse kernel, all in one round-robin.
    Returns the median times, the block speed-up (of the medians, and of each interleaved
    repetition: the paired values a timed claim decides on) and the multiply-add ratio."""
    with torch.no_grad():
        x = x.detach().cpu().contiguous()
        w1, w2 = block.fc1.weight.detach().cpu(), block.fc2.weight.detach().cpu()
        h = block.act(x @ w1.t()).contiguous()
        w2t = w2.t().contiguous()
        dense = {k: m(w2) for k, m in bench.dense_methods(h).items()}
        diff = (kernels.sparse_input_matmul(h, w2t) - h @ w2.t()).abs().max().item()
        samples = measure_samples({"fc1 alone": lambda: x @ w1.t(), "fc1 + activation": lambda: block.act(x @ w1.t()),
                                   **dense, "activation-sparse": lambda: kernels.sparse_input_matmul(h, w2t)},
                                  reps=reps)
    t = {k: float(np.median(v)) for k, v in samples.items()}
    best = min(dense, key=t.get)
    front, nz = t["fc1 + activation"], float((h != 0).float().mean())
    tokens, d_ff, d = h.shape[0], h.shape[1], x.shape[1]
    per_rep = [(f + b) / (f + a) for f, b, a in zip(samples["fc1 + activation"], samples[best],
                                                    samples["activation-sparse"])]
    return {"times_s": t, "best dense": best, "nonzero": nz, "max_abs_diff": diff,
            "second matmul speed-up": t[best] / t["activation-sparse"],
            "block speed-up": (front + t[best]) / (front + t["activation-sparse"]),
            "block speed-up samples": per_rep,
            "block MAC ratio": mlp_block_macs(tokens, d, d_ff) / mlp_block_macs(tokens, d, d_ff, nz)}


@contextlib.contextmanager
def input_gates(linears: Sequence[nn.Linear], rule: str, sparsity: float):
    """Inside the ``with``, each linear layer sees only the top ``1 - sparsity`` of every token's inputs,
    scored by ``|x_i|`` (``rule="teal"``) or ``|x_i| * ||W[:, i]||_2`` (``"wina"``); ties at the
    threshold are kept. The masks are recorded in the yielded list (one per call)."""
    if rule not in ("teal", "wina"):
        raise ValueError(f"rule must be 'teal' or 'wina', got {rule!r}")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    masks, hooks = [], []

    def hook_for(lin):
        col = lin.weight.detach().norm(dim=0)

        def pre(mod, inputs):
            x = inputs[0]
            score = x.abs() * (col if rule == "wina" else 1.0)
            keep = max(1, int(round((1 - sparsity) * x.shape[-1])))
            mask = score >= score.topk(keep, dim=-1).values[..., -1:]
            masks.append(mask.detach().cpu())
            return (x * mask,)

        return pre

    try:
        hooks = [lin.register_forward_pre_hook(hook_for(lin)) for lin in linears]
        yield masks
    finally:
        for h in hooks:
            h.remove()


def mask_overlap(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """Share of the kept entries of masks ``a`` that ``b`` keeps too (1.0: the same inputs kept)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need two equally long, non-empty lists of masks, got {len(a)} and {len(b)}")
    both = sum(int((x & y).sum()) for x, y in zip(a, b))
    return both / sum(int(x.sum()) for x in a)


# ---- the rules: pure functions of per-seed numbers (paired by position), decided by the interval rule

def _paired(a, b, what: str) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"{what}: need two equally long lists of at least 2 paired seeds, got {a.shape}, {b.shape}")
    return a - b


def falls_by(before: Sequence[float], after: Sequence[float], points: float) -> Decision:
    """"``after`` is at least ``points`` below ``before``": the interval rule on the paired drops."""
    return decide(_paired(before, after, "falls_by"), points, unit="pts")


def lower_than(higher: Sequence[float], lower: Sequence[float], unit: str = "pts") -> Decision:
    """"``lower`` is below ``higher``": the interval rule on ``higher - lower`` against 0."""
    return decide(_paired(higher, lower, "lower_than"), 0.0, unit=unit)


def every_layer_falls(before: np.ndarray, after: np.ndarray, points: float,
                      names: Sequence[str] | None = None) -> Decision:
    """Arrays (seeds x layers): every layer's value falls by at least ``points`` (each layer's interval)."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.shape != after.shape or before.ndim != 2 or before.shape[1] < 1:
        raise ValueError(f"need two (seeds x layers) arrays of the same shape, got {before.shape}, {after.shape}")
    names = list(names) if names is not None else [f"layer {j}" for j in range(before.shape[1])]
    return decide_every({n: falls_by(before[:, j], after[:, j], points) for j, n in enumerate(names)})
