"""Lottery-ticket studies: IMP with its controls per seed, as tidy rows, and the paired gaps the
claims of notebook 01 test (Frankle & Carbin 2019, arXiv 1803.03635).

One *study* is one seed: IMP's rounds (round 0 is the dense network, arm ``"dense"``; later rounds
arm ``"ticket"``), optionally a late-rewinding IMP run (arm ``"late rewind"``), and at the chosen
rounds two controls trained exactly like a ticket - the same mask with a fresh initialisation
(``"reinit"``) and a random mask of the same per-layer sparsity at the original initialisation
(``"random mask"``). Every row carries the early-stopping iteration (minimum validation loss),
the test accuracy there, the maximum test accuracy over the run (Greydanus's measure) and whether
the early-stopping point sat at the step budget (``capped``: that run had not converged, so its
iteration is a lower bound).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from sparsekit import masks as M
from sparsekit.data import load_mnist1d, load_mnist_files, load_mnist_sample
from sparsekit.data.split import Split
from sparsekit.models import ResidualMLP, lenet_300_100
from sparsekit.prune import IMPConfig, IMPResult, Pruner, TrainFn, iterative_magnitude_pruning
from sparsekit.seeds import derive_seed, seeded
from sparsekit.train import FitResult, fit

__all__ = ["ARMS", "run_summary", "imp_trainer", "train_masked", "TicketStudy", "ticket_study", "study_frame",
           "rounds_between", "paired_gap", "capped_runs", "DATASETS", "MODELS", "seed_study"]

ARMS = ("dense", "ticket", "late rewind", "reinit", "random mask")
CONTROLS = ("reinit", "random mask")


def run_summary(res: FitResult, steps: int, patience: int | None = None) -> dict:
    """The numbers a lottery-ticket table keeps from one training run of at most ``steps`` steps.

    ``capped`` says the run had not converged when its budget ran out: without ``patience``, its
    minimum validation loss sat at the last step; with it, patience had not run out (the minimum
    may still have been ahead). ``trained_steps`` is how far the run went."""
    return {
        "early_stop_step": res.early_stop_step,
        "early_stop_test_acc": res.early_stop_test_acc,
        "max_test_acc": res.max_test_acc,
        "final_test_acc": res.final_test_acc,
        "trained_steps": res.steps[-1],
        "capped": res.early_stop_step >= steps if patience is None else not res.stopped_early,
    }


def imp_trainer(data: Split, *, seed: int, steps: int, lr: float, batch_size: int, eval_every: int,
                patience: int | None = None) -> TrainFn:
    """The training of one IMP round (and of every control): Adam at ``lr`` (torch's fused kernel)
    for ``steps`` steps of ``batch_size``, evaluated every ``eval_every`` steps, batch order seeded
    by (seed, round). With ``patience``, a run stops after that many evaluations without a lower
    validation loss, so ``steps`` is a cap and each run trains until its minimum is behind it."""

    def train(model: nn.Module, pruner: Pruner, rnd: int, on_step: Callable[[int], None]) -> dict:
        opt = pruner.attach(torch.optim.Adam(model.parameters(), lr=lr, fused=True))
        g = torch.Generator().manual_seed(derive_seed(seed, "batches", rnd))
        res = fit(model, opt, data, steps=steps, batch_size=batch_size, eval_every=eval_every, generator=g,
                  on_step=on_step, patience=patience)
        return run_summary(res, steps, patience)

    return train


def train_masked(make_model: Callable[[], nn.Module], weights: Mapping[str, torch.Tensor],
                 masks: Mapping[str, torch.Tensor], train: TrainFn, rnd: int) -> dict:
    """One control run: a model loaded with ``weights``, pruned by ``masks``, trained as round ``rnd``."""
    model = make_model()
    model.load_state_dict(weights)
    return train(model, Pruner(model, list(masks), masks), rnd, lambda step: None)


@dataclass
class TicketStudy:
    rows: list[dict]  # one per (arm, round): seed, arm, round, density and run_summary's numbers
    imp: IMPResult  # the ticket run: its masks per round, the initial and the last trained weights


def ticket_study(
    make_model: Callable[[], nn.Module],
    train: TrainFn,
    *,
    seed: int,
    rounds: int,
    rates: Mapping[str, float],
    controls_at: Iterable[int] = (),
    controls: Sequence[str] = CONTROLS,
    rewind_step: int = 0,
    scope: str = "layer",
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> TicketStudy:
    """IMP for ``rounds`` rounds at per-layer ``rates`` (reset to θ0), the controls named in
    ``controls`` at the rounds ``controls_at``, and with ``rewind_step > 0`` a second IMP run that
    resets to the weights after that many steps. ``scope="global"`` ranks all the tensors named in
    ``rates`` together (one pooled threshold; every rate must then be the same). Controls are seeded
    by (seed, "reinit" | "random mask", round)."""
    if scope == "global" and len(set(float(r) for r in rates.values())) != 1:
        raise ValueError(f"scope='global' prunes one pooled rate: give every tensor the same rate, got {dict(rates)}")
    rate: float | dict[str, float] = float(next(iter(rates.values()))) if scope == "global" else dict(rates)
    controls_at = sorted(set(int(r) for r in controls_at))
    bad = [r for r in controls_at if not 1 <= r <= rounds]
    if bad:
        raise ValueError(f"controls_at must name rounds 1..{rounds}, got {bad}")
    unknown = set(controls) - set(CONTROLS)
    if unknown:
        raise ValueError(f"controls must be among {CONTROLS}, got {sorted(unknown)}")
    params = list(rates)

    def ckpt(tag: str) -> Path | None:
        return None if checkpoint is None else Path(checkpoint).with_name(Path(checkpoint).stem + tag + ".pt")

    config = IMPConfig(rounds=rounds, rate=rate, scope=scope, seed=seed)
    imp = iterative_magnitude_pruning(make_model, train, config, params=params, checkpoint=ckpt(""), progress=progress)
    rows = [dict(seed=seed, arm="dense" if h["round"] == 0 else "ticket", **h) for h in imp.history]
    if rewind_step > 0:
        late = iterative_magnitude_pruning(
            make_model, train, IMPConfig(rounds=rounds, rate=rate, scope=scope, seed=seed, rewind_step=rewind_step),
            params=params, checkpoint=ckpt(f"_rewind{rewind_step}"), progress=progress)
        rows += [dict(seed=seed, arm="late rewind", **h) for h in late.history[1:]]
    for rnd in controls_at:
        masks, density = imp.masks[rnd], imp.history[rnd]["density"]
        if "reinit" in controls:
            with seeded(derive_seed(seed, "reinit", rnd)):
                fresh = make_model().state_dict()
            rows.append(dict(seed=seed, arm="reinit", round=rnd, density=density,
                             **train_masked(make_model, fresh, masks, train, rnd)))
        if "random mask" in controls:
            g = torch.Generator().manual_seed(derive_seed(seed, "random mask", rnd))
            rmask = {n: M.random_mask(m.shape, M.sparsity_of(m), generator=g) for n, m in masks.items()}
            rows.append(dict(seed=seed, arm="random mask", round=rnd, density=density,
                             **train_masked(make_model, imp.init, rmask, train, rnd)))
    return TicketStudy(rows, imp)


DATASETS = {"mnist_sample": load_mnist_sample, "mnist_files": load_mnist_files, "mnist1d": load_mnist1d}
MODELS = {"lenet_300_100": lenet_300_100, "residual_mlp": ResidualMLP}


def seed_study(seed: int, spec: Mapping, checkpoint: str | Path | None = None, device: str = "cpu") -> TicketStudy:
    """One seed's :func:`ticket_study` from plain values, so that seeds can run in worker processes
    (:func:`sparsekit.utils.parallel_map`). ``spec`` holds ``data`` (a key of :data:`DATASETS`) with
    ``data_kw``, ``model`` (a key of :data:`MODELS`) with ``model_kw``, ``train_kw`` for
    :func:`imp_trainer` and ``study_kw`` for :func:`ticket_study`; the seed fixes everything else."""
    for key, table in (("data", DATASETS), ("model", MODELS)):
        if spec.get(key) not in table:
            raise ValueError(f"spec[{key!r}] must be one of {sorted(table)}, got {spec.get(key)!r}")
    split = DATASETS[spec["data"]](seed=seed, **spec.get("data_kw", {})).to(device)
    make = MODELS[spec["model"]]
    model_kw = dict(spec.get("model_kw", {}))
    train = imp_trainer(split, seed=seed, **spec["train_kw"])
    return ticket_study(lambda: make(**model_kw).to(device), train, seed=seed, checkpoint=checkpoint,
                        **spec.get("study_kw", {}))


def study_frame(studies: Iterable[TicketStudy]) -> pd.DataFrame:
    """All studies' rows in one table, with the percentages a reader looks at: ``remaining %``,
    ``test acc %`` (at early stopping) and ``max test acc %``."""
    df = pd.DataFrame([r for s in studies for r in s.rows])
    df["remaining %"] = 100 * df["density"]
    df["test acc %"] = 100 * df["early_stop_test_acc"]
    df["max test acc %"] = 100 * df["max_test_acc"]
    return df


def _check_arms(arms: Iterable[str]) -> None:
    for arm in arms:
        if arm not in ARMS:
            raise ValueError(f"unknown arm {arm!r}; arms are {', '.join(ARMS)}")


def rounds_between(rows: pd.DataFrame, lo: float, hi: float) -> list[int]:
    """The ticket rounds whose share of weights remaining (``density``, mean over seeds) lies in
    [lo, hi] (fractions, not percent)."""
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"need 0 <= lo <= hi <= 1 (fractions of weights remaining), got lo={lo!r}, hi={hi!r}")
    dens = rows[rows.arm == "ticket"].groupby("round")["density"].mean()
    return [int(r) for r, d in dens.items() if lo <= d <= hi]


def paired_gap(rows: pd.DataFrame, a: str, b: str, value: str, rounds: Sequence[int]) -> pd.Series:
    """Per seed, the mean over ``rounds`` of arm ``a``'s ``value`` minus arm ``b``'s.

    Arm ``"dense"`` has only round 0; its value is compared with every round. Every seed must have
    both arms at every round (a missing run is an error, not a smaller sample). Returns a Series
    indexed by seed: the paired differences a claim's rule is applied to."""
    if not rounds:
        raise ValueError("rounds is empty: no round of this profile falls in the claim's range")
    _check_arms((a, b))
    if value not in rows.columns:
        raise KeyError(f"no column {value!r} in rows; columns: {', '.join(rows.columns)}")
    seeds = sorted(rows.seed.unique())

    def table(arm: str) -> pd.DataFrame:
        sub = rows[rows.arm == arm].pivot_table(index="seed", columns="round", values=value, aggfunc="first")
        if arm == "dense":
            sub = pd.DataFrame({r: sub[0] for r in rounds}) if 0 in sub.columns else sub.iloc[:, :0]
        missing = [(s, r) for s in seeds for r in rounds
                   if s not in sub.index or r not in sub.columns or pd.isna(sub.loc[s, r])]
        if missing:
            raise ValueError(f"arm {arm!r} has no {value!r} for (seed, round) {missing[:5]}")
        return sub.loc[seeds, list(rounds)]

    return (table(a) - table(b)).mean(axis=1).rename(f"{a} - {b}")


def capped_runs(rows: pd.DataFrame, arms: Sequence[str], rounds: Sequence[int]) -> int:
    """How many of the runs a paired comparison of ``arms`` over ``rounds`` reads had not converged
    at their step budget (``capped``); arm ``"dense"`` contributes its round 0, once per seed."""
    _check_arms(arms)
    dense = rows[(rows.arm == "dense") & (rows["round"] == 0)] if "dense" in arms else rows.iloc[:0]
    other = rows[rows.arm.isin([a for a in arms if a != "dense"]) & rows["round"].isin(list(rounds))]
    return int(dense["capped"].sum() + other["capped"].sum())
