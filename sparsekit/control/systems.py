"""Two small systems simulated in numpy: a disc pusher and gymnasium's Pendulum-v1 dynamics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pusher", "Pendulum"]


@dataclass(frozen=True)
class Pusher:
    """A disc pusher moves by ``u`` (each coordinate within ``[-max_step, max_step]``); if it then
    overlaps the object disc, the object is pushed out along the contact normal by the penetration
    depth (quasi-static, no friction or rotation). State: pusher (px, py) and object (ox, oy)."""

    r_pusher: float = 0.05
    r_object: float = 0.10
    max_step: float = 0.05

    @property
    def contact(self) -> float:
        return self.r_pusher + self.r_object

    def step(self, state: np.ndarray, u: np.ndarray) -> np.ndarray:
        state = np.asarray(state, dtype=float)
        u = np.clip(np.asarray(u, dtype=float), -self.max_step, self.max_step)
        p = state[..., :2] + u
        o = state[..., 2:].copy()
        d = o - p
        dist = np.linalg.norm(d, axis=-1, keepdims=True)
        pen = np.maximum(self.contact - dist, 0.0)
        safe = np.where(dist > 1e-12, dist, 1.0)
        o = o + pen * d / safe
        return np.concatenate([p, o], axis=-1)

    def object_shift(self, rel: np.ndarray, u: np.ndarray) -> np.ndarray:
        """How far the object moves, given its position relative to the pusher and the action."""
        state = np.concatenate([np.zeros_like(rel), rel], axis=-1)
        return self.step(state, u)[..., 2:] - rel

    def sample(self, n: int, rng: np.random.Generator, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """Training pairs: inputs [relative object position (2), action (2)], targets the object's shift."""
        rel = rng.uniform(-spread, spread, size=(n, 2))
        u = rng.uniform(-self.max_step, self.max_step, size=(n, 2))
        return np.concatenate([rel, u], axis=1), self.object_shift(rel, u)


@dataclass(frozen=True)
class Pendulum:
    """Gymnasium's Pendulum-v1 equations (theta = 0 is upright), without rendering:
    ``omega' = clip(omega + (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, +-max_speed)``,
    ``theta' = theta + omega' dt``, torque ``u`` within ``[-max_torque, max_torque]``."""

    g: float = 10.0
    m: float = 1.0
    length: float = 1.0
    dt: float = 0.05
    max_speed: float = 8.0
    max_torque: float = 2.0

    def step(self, state: np.ndarray, u: np.ndarray) -> np.ndarray:
        state = np.asarray(state, dtype=float)
        th, om = state[..., 0], state[..., 1]
        u = np.clip(np.asarray(u, dtype=float)[..., 0], -self.max_torque, self.max_torque)
        om2 = om + (3 * self.g / (2 * self.length) * np.sin(th) + 3.0 / (self.m * self.length**2) * u) * self.dt
        om2 = np.clip(om2, -self.max_speed, self.max_speed)
        return np.stack([th + om2 * self.dt, om2], axis=-1)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Training pairs: inputs [theta, omega, u], targets the state change."""
        x = np.stack([rng.uniform(-np.pi, np.pi, n), rng.uniform(-self.max_speed, self.max_speed, n)], axis=1)
        u = rng.uniform(-self.max_torque, self.max_torque, size=(n, 1))
        return np.concatenate([x, u], axis=1), self.step(x, u) - x
