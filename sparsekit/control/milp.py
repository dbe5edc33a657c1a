"""Planning through a ReLU dynamics model as a mixed-integer linear program, solved by HiGHS.

The pusher task: the object moves by ``f(z_t)`` with ``z_t = [r_t, u_t]`` (object position
relative to the pusher, action); ``o_{t+1} = o_t + f(z_t)``, ``r_{t+1} = r_t + f(z_t) - u_t``.
With ``f(z) = W2 relu(W1 z + b1) + A z + c`` (a :class:`~sparsekit.control.dynamics.Folded`
model), each ReLU neuron j at step t with pre-activation ``a = W1_j z_t + b1_j`` in ``[L, U]`` is:

- stably on (``L >= 0``): ``y = a``; stably off (``U <= 0``): ``y = 0`` - no binary variable;
- otherwise ``y >= a, y >= 0, y <= a - L (1 - d), y <= U d`` with ``d`` binary (big-M from the
  bounds, recomputed at every solve - never a global constant).

``L, U`` come from interval arithmetic started at the *current* state (a point) with actions in
their box, so early steps are tight and have many stable neurons. The objective is the L1
distance of the object to the goal summed over the horizon (slack variables), linear as HiGHS
needs (it solves MILPs, not MIQPs).

The program is assembled as one sparse constraint matrix (``scipy.sparse``, vectorised over steps
and neurons) and handed to HiGHS in one call. highspy's modelling layer (``addVariable`` /
``addConstr`` on expressions) would read closer to the maths above, but it builds every row as a
Python object; the solve times this module reports (notebook 06) are meant to measure the solver,
so the model is built in bulk and the maths is kept in this docstring and in the notebook instead.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy import sparse

from .dynamics import Folded

__all__ = ["INF", "quiet_highs", "interval_bounds", "Plan", "rollout", "plan_milp"]

INF = highspy.kHighsInf
_banner_done = False


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance with its console output off.

    HiGHS prints a copyright banner from C when a process makes its first instance, before any
    option can be set; in a notebook it lands in the cell's output, where a reader can do nothing
    with it. That one construction runs with file descriptor 1 pointed at /dev/null.
    """
    global _banner_done
    if _banner_done:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


def interval_bounds(model: Folded, r0: np.ndarray, u_lo: np.ndarray, u_hi: np.ndarray, horizon: int):
    """Per step: bounds of the relative position, and (L, U) of every ReLU neuron's pre-activation."""
    r_lo, r_hi = np.asarray(r0, float).copy(), np.asarray(r0, float).copy()
    # positive and negative parts of each matrix, split once for the whole horizon
    (w1p, w1n), (w2p, w2n), (ap, an) = ((np.maximum(m, 0.0), np.minimum(m, 0.0)) for m in (model.w1, model.w2, model.a))
    r_bounds, pre = [], []
    for _ in range(horizon):
        z_lo, z_hi = np.r_[r_lo, u_lo], np.r_[r_hi, u_hi]
        lo = w1p @ z_lo + w1n @ z_hi + model.b1
        hi = w1p @ z_hi + w1n @ z_lo + model.b1
        y_lo, y_hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
        f_lo = w2p @ y_lo + w2n @ y_hi + ap @ z_lo + an @ z_hi + model.c
        f_hi = w2p @ y_hi + w2n @ y_lo + ap @ z_hi + an @ z_lo + model.c
        r_bounds.append((r_lo.copy(), r_hi.copy()))
        pre.append((lo, hi))
        r_lo, r_hi = r_lo + f_lo - u_hi, r_hi + f_hi - u_lo
    return r_bounds, pre


@dataclass
class Plan:
    actions: np.ndarray  # (horizon, 2); zeros when the solver found no feasible point
    status: str  # HiGHS's model status, e.g. "Optimal", "Time limit reached"
    objective: float  # inf without a feasible point
    seconds: float
    binaries: int
    nodes: int
    gap: float = np.inf  # HiGHS's relative MIP gap at the end (0 when optimal; inf without an incumbent)
    feasible: bool = False  # the actions come from a feasible point of the MILP

    @property
    def optimal(self) -> bool:
        return self.status == "Optimal"


FEASIBLE = 2  # HiGHS's kSolutionStatusFeasible; 1 (kSolutionStatusInfeasible) is a point that breaks constraints


def has_feasible_point(info) -> bool:
    """Whether HiGHS holds a *feasible* primal point: status 2. Status 1 is an infeasible point
    (a solver may report one when it stops early) and must not be executed as a plan."""
    return int(getattr(info, "primal_solution_status", 0)) == FEASIBLE


class _Vars:
    def __init__(self):
        self.lo, self.hi, self.cost, self.integer, self.start = [], [], [], [], []

    def add(self, k: int, lo=-INF, hi=INF, cost=0.0, integer=False, start=None) -> np.ndarray:
        first = len(self.lo)
        self.lo += list(np.broadcast_to(lo, k))
        self.hi += list(np.broadcast_to(hi, k))
        self.cost += [cost] * k
        self.integer += [integer] * k
        self.start += list(np.broadcast_to(np.nan if start is None else start, k))
        return np.arange(first, first + k)


def rollout(model: Folded, r0, o0, actions: np.ndarray):
    """Model-predicted relative positions, object positions and pre-activations under ``actions``."""
    r, o = np.asarray(r0, float), np.asarray(o0, float)
    rs, os_, pres = [], [], []
    for u in np.asarray(actions, float):
        z = np.r_[r, u]
        pres.append(model.w1 @ z + model.b1)
        f = model(z[None])[0]
        o, r = o + f, r + f - u
        rs.append(r)
        os_.append(o)
    return np.array(rs), np.array(os_), pres


def plan_milp(model: Folded, r0, o0, goal, horizon: int, u_lo, u_hi, time_limit: float = 1.0,
              warm_actions: np.ndarray | None = None, mip_gap: float = 1e-4) -> Plan:
    """Solve the horizon-``horizon`` plan; returns the actions (zeros if no incumbent was found).

    ``warm_actions`` (e.g. the previous plan shifted by one step) are rolled out through the model
    to a complete feasible point of the MILP, handed to HiGHS as its first incumbent.
    """
    r0, o0, goal = (np.asarray(v, float) for v in (r0, o0, goal))
    u_lo, u_hi = np.asarray(u_lo, float), np.asarray(u_hi, float)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    _, pre = interval_bounds(model, r0, u_lo, u_hi, horizon)
    warm = None
    if warm_actions is not None:
        wa = np.clip(np.asarray(warm_actions, float)[:horizon], u_lo, u_hi)
        if len(wa) == horizon:
            w_r, w_o, w_pre = rollout(model, r0, o0, wa)
            warm = dict(u=wa, r=w_r, o=w_o, pre=w_pre)
    v = _Vars()
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    rlo: list[float] = []
    rhi: list[float] = []

    def row(coefs: dict[int, float], lo: float, hi: float):
        r = len(rlo)
        for c, x in coefs.items():
            if x != 0.0:
                rows.append(r)
                cols.append(int(c))
                vals.append(float(x))
        rlo.append(lo)
        rhi.append(hi)

    w = (lambda key, t: warm[key][t]) if warm else (lambda key, t: None)
    u = [v.add(2, u_lo, u_hi, start=w("u", t)) for t in range(horizon)]
    r = [None] + [v.add(2, start=w("r", t)) for t in range(horizon)]
    o = [None] + [v.add(2, start=w("o", t)) for t in range(horizon)]
    slack = [v.add(2, 0.0, INF, cost=1.0, start=None if warm is None else np.abs(warm["o"][t] - goal))
             for t in range(horizon)]
    n_bin = 0
    for t in range(horizon):
        # z_t = [r_t, u_t]: r_0 is a constant, later r_t are variables
        def z_terms(weights: np.ndarray, t: int = t) -> tuple[dict[int, float], float]:
            coefs: dict[int, float] = {}
            const = 0.0
            if t == 0:
                const += float(weights[:2] @ r0)
            else:
                coefs.update({r[t][0]: weights[0], r[t][1]: weights[1]})
            coefs[u[t][0]] = coefs.get(u[t][0], 0.0) + weights[2]
            coefs[u[t][1]] = coefs.get(u[t][1], 0.0) + weights[3]
            return coefs, const

        lo, hi = pre[t]
        ys = v.add(model.n_relu, 0.0, np.maximum(hi, 0.0),
                   start=None if warm is None else np.maximum(warm["pre"][t], 0))
        for j in range(model.n_relu):
            a_coefs, a_const = z_terms(model.w1[j])
            a_const += model.b1[j]
            y = int(ys[j])
            if lo[j] >= 0:  # stably active: y = a
                row({**{k: -x for k, x in a_coefs.items()}, y: 1.0}, a_const, a_const)
            elif hi[j] <= 0:  # stably inactive: y = 0 (its upper bound is 0)
                continue
            else:
                d = int(v.add(1, 0.0, 1.0, integer=True,
                              start=None if warm is None else float(warm["pre"][t][j] > 0))[0])
                n_bin += 1
                row({**{k: -x for k, x in a_coefs.items()}, y: 1.0}, a_const, INF)  # y >= a
                # y <= a - L (1 - d)  <=>  y - a - L d <= -L
                row({**{k: -x for k, x in a_coefs.items()}, y: 1.0, d: -lo[j]}, -INF, a_const - lo[j])
                row({y: 1.0, d: -hi[j]}, -INF, 0.0)  # y <= U d
        # f_i = W2_i y + A_i z + c_i ; o_{t+1} = o_t + f ; r_{t+1} = r_t + f - u_t
        for i in range(2):
            f_coefs, f_const = z_terms(model.a[i])
            f_const += model.c[i]
            for j in range(model.n_relu):
                f_coefs[int(ys[j])] = f_coefs.get(int(ys[j]), 0.0) + model.w2[i, j]
            # o_{t+1,i} - o_{t,i} - f = 0
            oc = {int(o[t + 1][i]): 1.0, **{k: -x for k, x in f_coefs.items()}}
            o_const = f_const + (o0[i] if t == 0 else 0.0)
            if t > 0:
                oc[int(o[t][i])] = oc.get(int(o[t][i]), 0.0) - 1.0
            row(oc, o_const, o_const)
            # r_{t+1,i} - r_{t,i} - f + u_{t,i} = 0
            rc = {int(r[t + 1][i]): 1.0, **{k: -x for k, x in f_coefs.items()}}
            rc[int(u[t][i])] = rc.get(int(u[t][i]), 0.0) + 1.0
            r_const = f_const + (r0[i] if t == 0 else 0.0)
            if t > 0:
                rc[int(r[t][i])] = rc.get(int(r[t][i]), 0.0) - 1.0
            row(rc, r_const, r_const)
            # |o_{t+1,i} - g_i| <= s
            row({int(slack[t][i]): 1.0, int(o[t + 1][i]): -1.0}, -goal[i], INF)
            row({int(slack[t][i]): 1.0, int(o[t + 1][i]): 1.0}, goal[i], INF)

    n = len(v.lo)
    a_mat = sparse.csc_matrix((vals, (rows, cols)), shape=(len(rlo), n))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(rlo)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.array(v.cost), np.array(v.lo), np.array(v.hi)
    lp.row_lower_, lp.row_upper_ = np.array(rlo), np.array(rhi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a_mat.indptr, a_mat.indices, a_mat.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in v.integer]
    h = quiet_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    if warm is not None and not np.isnan(v.start).any():
        sol = highspy.HighsSolution()
        sol.col_value = list(v.start)
        sol.value_valid = True
        h.setSolution(sol)
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    x = np.array(h.getSolution().col_value) if has_feasible_point(info) else None
    if x is None or len(x) != n:
        return Plan(np.zeros((horizon, 2)), status, np.inf, seconds, n_bin, int(info.mip_node_count))
    actions = np.array([x[u[t]] for t in range(horizon)])
    gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else np.inf
    return Plan(actions, status, float(info.objective_function_value), seconds, n_bin, int(info.mip_node_count),
                gap=0.0 if status == "Optimal" else gap, feasible=True)

