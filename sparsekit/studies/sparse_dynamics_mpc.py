"""The experiments of notebook 06 as functions: tasks, models per seed, solve-time growth, closed loops
at equal time, and the pre-registered rules (each a pure function of the measured numbers).

- :func:`push_task`: a start state and a goal, "behind" (the pusher starts behind the object as seen
  from the goal) or "side" (it starts off to one side and must walk around - where short-horizon
  sampling struggles).
- :func:`from_scratch`: a network with ``k`` ReLU neurons and a linear skip, trained directly - the
  baseline that says whether sparsification beats simply training a small network.
- :func:`growth_fits`: exponential (log t linear in k) against power law (log t linear in log k).
- :func:`select_relus`: the ReLU count the closed loop uses, chosen by validation error among the
  counts the MILP solves well within the per-step budget.
- :func:`closed_loops`: every planner on every task, the same wall-clock budget per step.
- Rules: :func:`beats_everywhere`, :func:`median_gain_positive`, :func:`u_shaped`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from sparsekit.control.dynamics import IDENTITY, RELU, GatedMLP, fit_dynamics, mse, sparsify
from sparsekit.control.milp import plan_milp
from sparsekit.control.planners import closed_loop, plan_cem, plan_gradient, plan_mppi
from sparsekit.utils import progress
from sparsekit.verdicts import Decision, decide, decide_every, exact

__all__ = ["TASK_KINDS", "push_task", "from_scratch", "model_family", "growth_fits", "select_relus", "mpc_planners",
           "closed_loops", "beats_everywhere", "paired_gain", "gains_over", "u_shaped"]

TASK_KINDS = ("behind", "side")


def push_task(rng: np.random.Generator, kind: str = "behind") -> tuple[np.ndarray, np.ndarray]:
    """``(state, goal)``: the object near the origin, the goal 0.15-0.25 away, the pusher 0.18 from the
    object at an angle (seen from the object, measured from the direction opposite the goal) of at most
    60 degrees ("behind") or 90-135 degrees to either side ("side")."""
    if kind not in TASK_KINDS:
        raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}")
    o = rng.uniform(-0.1, 0.1, 2)
    a_goal = rng.uniform(0, 2 * np.pi)
    goal = o + rng.uniform(0.15, 0.25) * np.array([np.cos(a_goal), np.sin(a_goal)])
    if kind == "behind":
        off = rng.uniform(-np.pi / 3, np.pi / 3)
    else:
        off = rng.choice([-1.0, 1.0]) * rng.uniform(np.pi / 2, 3 * np.pi / 4)
    a_push = a_goal + np.pi + off
    p = o + 0.18 * np.array([np.cos(a_push), np.sin(a_push)])
    return np.r_[p, o], goal


def from_scratch(num_inputs: int, num_outputs: int, relus: int, hidden: int = 64) -> GatedMLP:
    """A :class:`GatedMLP` whose first ``relus`` hidden neurons are ReLUs and the others identities (a
    linear skip once folded), with hard gates - the same function class as a sparsified model with
    ``relus`` ReLUs, to be trained from scratch with :func:`~sparsekit.control.dynamics.fit_dynamics`."""
    if not 0 <= relus <= hidden:
        raise ValueError(f"relus must be in [0, hidden={hidden}], got {relus}")
    m = GatedMLP(num_inputs, num_outputs, hidden)
    kind = np.full(hidden, IDENTITY)
    kind[:relus] = RELU
    m.kind.copy_(m.kind.new_tensor(kind))
    m.relaxed = False
    return m


def model_family(system, n_data: int, seed: int, budgets: Sequence[int], epochs: int, relax: int, tune: int,
                 scratch_at: Sequence[int] = (), hidden: int = 64, n_val: int = 5000) -> dict:
    """For one seed: data from ``system.sample``, the dense model (``epochs``), its sparsified copies per
    budget (``relax`` + ``tune`` epochs per stage) and, at each count in ``scratch_at``, a
    :func:`from_scratch` network trained for as many epochs as the sparsified one saw in all
    (dense + every stage down to that count). Returns the models and a table of validation MSEs."""
    rng = np.random.default_rng(seed)
    x, y = system.sample(n_data, rng)
    xv, yv = system.sample(n_val, rng)
    X, Y, XV, YV = (torch.tensor(a, dtype=torch.float32) for a in (x, y, xv, yv))
    torch.manual_seed(seed)
    dense = GatedMLP(X.shape[1], Y.shape[1], hidden).set_normalization(X, Y)
    fit_dynamics(dense, X, Y, epochs, seed=seed)
    sparse = sparsify(copy.deepcopy(dense), X, Y, list(budgets), relax, tune, seed=seed, progress=False)
    scratch = {}
    for k in scratch_at:
        if k not in sparse:
            raise ValueError(f"scratch_at {k} is not one of the budgets {list(budgets)}")
        torch.manual_seed(seed)
        scratch[k] = from_scratch(X.shape[1], Y.shape[1], k, hidden).set_normalization(X, Y)
        fit_dynamics(scratch[k], X, Y, epochs + (list(budgets).index(k) + 1) * (relax + tune), seed=seed + 7)
    d = mse(dense, XV, YV)
    rows = [dict(seed=seed, relus=k, model="sparsified", val_mse=mse(m, XV, YV)) for k, m in sparse.items()]
    rows += [dict(seed=seed, relus=k, model="from scratch", val_mse=mse(m, XV, YV)) for k, m in scratch.items()]
    errors = pd.DataFrame(rows).assign(dense_mse=d)
    return dict(dense=dense, sparse=sparse, scratch=scratch, errors=errors.assign(ratio_to_dense=errors.val_mse / d))


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    slope, icept = np.polyfit(x, y, 1)
    pred = slope * x + icept
    ss = float(((y - y.mean()) ** 2).sum())
    return float(slope), float(icept), 1.0 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else float("nan")


def growth_fits(relus: Sequence[int], seconds: Sequence[float]) -> dict:
    """Fit ``log10 t = a + b k`` (exponential: a factor ``10**b`` per ReLU) and ``log10 t = a + p log10 k``
    (power law: ``t ~ k**p``) to median solve times; returns both slopes and R^2 (on log10 t)."""
    k, t = np.asarray(relus, float), np.asarray(seconds, float)
    if k.shape != t.shape or k.size < 3 or (k <= 0).any() or (t <= 0).any():
        raise ValueError(f"need at least 3 positive (relus, seconds) pairs of the same length, got {k.size}, {t.size}")
    b, _, r2_exp = _line(k, np.log10(t))
    p, _, r2_pow = _line(np.log10(k), np.log10(t))
    return {"factor_per_relu": 10**b, "exp_r2": r2_exp, "power": p, "power_r2": r2_pow}


def select_relus(val_mse: dict[int, float], median_solve_s: dict[int, float], budget_s: float) -> int:
    """The count with the lowest validation MSE among those whose median MILP solve (to optimality)
    takes at most half the per-step budget; an error if none does."""
    ok = [k for k, s in median_solve_s.items() if s <= budget_s / 2 and k in val_mse]
    if not ok:
        raise ValueError(f"no ReLU count solves within half the budget ({budget_s} s): {median_solve_s}")
    return min(ok, key=lambda k: (val_mse[k], k))


def mpc_planners(dense, sparse: GatedMLP, horizon: int, u_max: float, budget_s: float, rng: np.random.Generator,
                 log: list | None = None) -> dict[str, Callable]:
    """The planners of the closed-loop comparison for the pusher, each ``plan(state, warm, goal)``:
    the MILP on the sparse model (time limit ``budget_s``, warm-started; every solve appended to
    ``log``), CEM, MPPI and gradient shooting on the dense model, and CEM on the sparse model - the
    samplers use the whole ``budget_s`` at every step."""
    folded, u = sparse.folded(), u_max * np.ones(2)
    dense, sparse = dense.eval(), sparse.eval()

    def mip(s, w, g):
        p = plan_milp(folded, s[2:] - s[:2], s[2:], g, horizon, -u, u, time_limit=budget_s, warm_actions=w)
        if log is not None:
            log.append(dict(relus=folded.n_relu, status=p.status, feasible=p.feasible, gap=p.gap, seconds=p.seconds,
                            binaries=p.binaries))
        return p.actions, p.seconds

    def sampler(fn, model):
        return lambda s, w, g: (fn(model, s[2:] - s[:2], s[2:], g, horizon, u_max, budget_s, rng=rng, init=w), budget_s)

    return {"MIP (sparse)": mip, "CEM (dense)": sampler(plan_cem, dense), "MPPI (dense)": sampler(plan_mppi, dense),
            "gradient (dense)": sampler(plan_gradient, dense), "CEM (sparse)": sampler(plan_cem, sparse)}


def closed_loops(step: Callable, planners: dict[str, Callable], tasks: Sequence[tuple[np.ndarray, np.ndarray]],
                 steps: int, desc: str | None = "closed loop", keep: int = 0, **tags) -> tuple[pd.DataFrame, dict]:
    """Run every planner ``plan(state, warm, goal) -> (actions, seconds)`` from every task's start for
    ``steps`` steps on the true system ``step``. Returns one row per (task, planner) - the final
    distance, the summed L1 cost, the mean planning time, and ``tags`` - and the trajectories of the
    first ``keep`` tasks by (task, planner). ``desc=None``: no progress bar (inside an outer one)."""
    rows, trajs = [], {}
    for i, (state, goal) in enumerate(progress(tasks, desc=desc, disable=desc is None)):
        for name, plan in planners.items():
            res = closed_loop(step, lambda s, w, plan=plan, goal=goal: plan(s, w, goal), state, goal, steps)
            rows.append(dict(**tags, start=i, planner=name, final_distance=res["final_distance"], cost=res["cost"],
                             mean_plan_s=float(np.mean(res["plan_seconds"]))))
            if i < keep:
                trajs[(i, name)] = res["trajectory"]
    return pd.DataFrame(rows), trajs


# ---- the rules, decided by the interval rule ------------------------------------------------------

def beats_everywhere(ratios: Mapping[str, Sequence[float]], margin: float = 1.2) -> Decision:
    """In every setting (a name -> the ratio baseline error / ours, one per paired model seed), the
    ratio is at least ``margin`` (each setting's interval over its seeds)."""
    if not ratios:
        raise ValueError("need at least one setting")
    return decide_every({name: decide(list(r), margin) for name, r in ratios.items()})


def paired_gain(loops: pd.DataFrame, ours: str, other: str, value: str = "final_distance") -> np.ndarray:
    """``other - ours`` paired by (seed, start): positive where ours ends closer to the goal."""
    need = {"seed", "start", "planner", value}
    if not need <= set(loops.columns):
        raise ValueError(f"loops needs the columns {sorted(need)}, got {sorted(loops.columns)}")
    wide = loops.pivot_table(index=["seed", "start"], columns="planner", values=value)
    if ours not in wide or other not in wide:
        raise ValueError(f"planners {ours!r} and {other!r} must both be in loops, got {list(wide.columns)}")
    diff = (wide[other] - wide[ours]).dropna()
    if diff.empty:
        raise ValueError("no paired runs of the two planners")
    return diff.to_numpy()


def gains_over(loops: pd.DataFrame, ours: str, others: Sequence[str], value: str = "final_distance") -> Decision:
    """Ours ends closer to the goal than each of ``others``: for each, the interval rule on the mean
    paired gain over (seed, start) pairs against 0, every one of them."""
    return decide_every({o: decide(paired_gain(loops, ours, o, value), 0.0) for o in others})


def u_shaped(costs: pd.DataFrame) -> Decision:
    """``costs``: rows = starts (paired), columns = ReLU counts in increasing order. U-shaped iff the
    lowest mean cost is at an inner count (an exact condition) and each end costs more than it (the
    interval rule on the paired differences, against 0)."""
    if costs.shape[1] < 3 or costs.shape[0] < 2:
        raise ValueError(f"need at least 3 ReLU counts and 2 paired starts, got shape {costs.shape}")
    cols = list(costs.columns)
    best = costs.mean().idxmin()
    inner = exact(best not in (cols[0], cols[-1]), float(best))
    parts = {"lowest inside": inner}
    parts.update({f"{end} ReLUs - lowest": decide(costs[end] - costs[best], 0.0) for end in (cols[0], cols[-1])})
    return decide_every(parts)
