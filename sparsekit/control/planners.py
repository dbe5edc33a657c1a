"""Sampling and gradient planners on a (dense) torch dynamics model, and the receding-horizon loop.

All planners minimise the same cost as the MILP - the L1 distance of the object to the goal summed
over the horizon - through the learned model of the object's shift, and stop when their wall-clock
budget is spent (the MILP's time per step, so that the comparison is at equal time).

- CEM: Gaussian over action sequences; sample, keep the elites, refit.
- MPPI: perturb a nominal sequence, average the perturbations weighted by ``exp(-cost / lambda)``.
- Gradient shooting: Adam on a batch of action sequences through the model, clamped to the box.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["rollout_cost", "plan_cem", "plan_mppi", "plan_gradient", "closed_loop"]


def rollout_cost(model: nn.Module, r0: torch.Tensor, o0: torch.Tensor, goal: torch.Tensor,
                 actions: torch.Tensor) -> torch.Tensor:
    """Cost of a batch of action sequences (B, H, 2): sum over steps of |o_{t+1} - goal|_1."""
    b = actions.shape[0]
    r = r0.expand(b, 2)
    o = o0.expand(b, 2)
    cost = torch.zeros(b, dtype=actions.dtype)
    for t in range(actions.shape[1]):
        u = actions[:, t]
        f = model(torch.cat([r, u], dim=1))
        o = o + f
        r = r + f - u
        cost = cost + (o - goal).abs().sum(1)
    return cost


def _tensors(r0, o0, goal):
    return tuple(torch.as_tensor(np.asarray(v, float), dtype=torch.float32).view(1, 2) for v in (r0, o0, goal))


def _generator(rng: np.random.Generator | None) -> torch.Generator:
    """A torch generator seeded from ``rng`` (seed 0 without one), so that planners are reproducible."""
    return torch.Generator().manual_seed(int(rng.integers(2**31)) if rng is not None else 0)


@torch.no_grad()
def plan_cem(model, r0, o0, goal, horizon, u_max, budget_s, samples=200, elites=20, rng=None,
             init: np.ndarray | None = None) -> np.ndarray:
    g = _generator(rng)
    r0, o0, goal = _tensors(r0, o0, goal)
    mean = torch.zeros(horizon, 2) if init is None else torch.as_tensor(init, dtype=torch.float32)
    std = torch.full((horizon, 2), u_max)
    best, best_cost = mean.clone(), float("inf")
    t_end = time.perf_counter() + budget_s
    while True:
        acts = (mean + std * torch.randn(samples, horizon, 2, generator=g)).clamp(-u_max, u_max)
        cost = rollout_cost(model, r0, o0, goal, acts)
        idx = torch.argsort(cost)[:elites]
        if cost[idx[0]] < best_cost:
            best, best_cost = acts[idx[0]].clone(), float(cost[idx[0]])
        mean, std = acts[idx].mean(0), acts[idx].std(0) + 1e-4
        if time.perf_counter() >= t_end:
            return best.numpy()


@torch.no_grad()
def plan_mppi(model, r0, o0, goal, horizon, u_max, budget_s, samples=200, lam=0.01, noise=0.5, rng=None,
              init: np.ndarray | None = None) -> np.ndarray:
    g = _generator(rng)
    r0, o0, goal = _tensors(r0, o0, goal)
    nominal = torch.zeros(horizon, 2) if init is None else torch.as_tensor(init, dtype=torch.float32)
    t_end = time.perf_counter() + budget_s
    while True:
        eps = noise * u_max * torch.randn(samples, horizon, 2, generator=g)
        acts = (nominal + eps).clamp(-u_max, u_max)
        cost = rollout_cost(model, r0, o0, goal, acts)
        w = torch.softmax(-(cost - cost.min()) / lam, dim=0)
        nominal = (nominal + (w[:, None, None] * (acts - nominal)).sum(0)).clamp(-u_max, u_max)
        if time.perf_counter() >= t_end:
            return nominal.numpy()


def plan_gradient(model, r0, o0, goal, horizon, u_max, budget_s, restarts=16, lr=0.02, rng=None,
                  init: np.ndarray | None = None) -> np.ndarray:
    g = _generator(rng)
    r0, o0, goal = _tensors(r0, o0, goal)
    start = u_max * (2 * torch.rand(restarts, horizon, 2, generator=g) - 1)
    if init is not None:
        start[0] = torch.as_tensor(init, dtype=torch.float32)
    acts = start.requires_grad_(True)
    opt = torch.optim.Adam([acts], lr=lr * u_max / 0.05)
    t_end = time.perf_counter() + budget_s
    while True:
        opt.zero_grad()
        cost = rollout_cost(model, r0, o0, goal, acts)
        cost.sum().backward()
        opt.step()
        with torch.no_grad():
            acts.clamp_(-u_max, u_max)
        if time.perf_counter() >= t_end:
            with torch.no_grad():
                cost = rollout_cost(model, r0, o0, goal, acts)
            return acts[int(torch.argmin(cost))].detach().numpy()


def closed_loop(step: Callable[[np.ndarray, np.ndarray], np.ndarray], plan: Callable[..., tuple[np.ndarray, float]],
                state0: np.ndarray, goal: np.ndarray, steps: int) -> dict:
    """Receding horizon on the *true* system: plan from the current state, apply the first action,
    repeat. ``plan(state, warm) -> (actions, seconds)``; ``warm`` is the previous plan shifted by one step."""
    state = np.asarray(state0, float)
    traj, times, warm = [state.copy()], [], None
    for _ in range(steps):
        actions, seconds = plan(state, warm)
        times.append(seconds)
        state = step(state, actions[0])
        traj.append(state.copy())
        warm = np.r_[actions[1:], actions[-1:]]
    path = np.array(traj)
    dist = np.abs(path[:, 2:] - goal).sum(1)
    return {"trajectory": path, "final_distance": float(np.linalg.norm(path[-1, 2:] - goal)),
            "cost": float(dist[1:].sum()), "plan_seconds": times}
