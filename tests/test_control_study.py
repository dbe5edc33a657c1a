"""sparsekit.studies.sparse_dynamics_mpc: tasks, the from-scratch baseline, growth fits, selection, and
rules that can fail."""

import numpy as np
import pandas as pd
import pytest

from sparsekit.control.systems import Pendulum, Pusher
from sparsekit.studies import sparse_dynamics_mpc as study


@pytest.mark.parametrize("kind,lo,hi", [("behind", 0, 60), ("side", 90, 135)])
def test_push_task_angles(kind, lo, hi):
    rng = np.random.default_rng(0)
    for _ in range(50):
        state, goal = study.push_task(rng, kind)
        p, o = state[:2], state[2:]
        assert np.linalg.norm(p - o) == pytest.approx(0.18)
        assert 0.15 - 1e-9 <= np.linalg.norm(goal - o) <= 0.25 + 1e-9
        away = (o - goal) / np.linalg.norm(o - goal)  # the side opposite the goal
        angle = np.degrees(np.arccos(np.clip(away @ ((p - o) / 0.18), -1, 1)))
        assert lo - 1e-6 <= angle <= hi + 1e-6
    with pytest.raises(ValueError, match="kind"):
        study.push_task(rng, "front")


def test_from_scratch_has_k_relus_and_a_linear_skip():
    m = study.from_scratch(4, 2, 5, hidden=16)
    assert m.n_relu() == 5 and m.folded().n_relu == 5
    assert np.abs(m.folded().a).sum() > 0  # the identity neurons fold into A z + c
    with pytest.raises(ValueError, match="relus"):
        study.from_scratch(4, 2, 17, hidden=16)


def test_growth_fits_tell_exponential_from_power_law():
    k = np.array([2, 4, 6, 8, 12])
    exp = study.growth_fits(k, 0.01 * 1.5**k)
    assert exp["factor_per_relu"] == pytest.approx(1.5) and exp["exp_r2"] == pytest.approx(1.0)
    assert exp["power_r2"] < exp["exp_r2"]
    power = study.growth_fits(k, 0.01 * k**3.0)
    assert power["power"] == pytest.approx(3.0) and power["power_r2"] == pytest.approx(1.0)
    assert power["exp_r2"] < power["power_r2"]
    with pytest.raises(ValueError, match="at least 3"):
        study.growth_fits([2, 4], [0.1, 0.2])


def test_select_relus_picks_the_best_validated_count_that_solves_in_time():
    val = {2: 9.0, 4: 5.0, 8: 2.0, 16: 1.0}
    solve = {2: 0.01, 4: 0.05, 8: 0.4, 16: 9.0}
    assert study.select_relus(val, solve, budget_s=1.0) == 8
    assert study.select_relus(val, solve, budget_s=0.5) == 4
    with pytest.raises(ValueError, match="no ReLU count"):
        study.select_relus(val, solve, budget_s=0.01)


def test_closed_loops_runs_every_planner_on_every_task():
    sim = Pusher()
    tasks = [study.push_task(np.random.default_rng(i)) for i in range(2)]
    planners = {"still": lambda s, w, g: (np.zeros((3, 2)), 0.0),
                "towards": lambda s, w, g: (np.tile(np.clip(s[2:] - s[:2], -0.05, 0.05), (3, 1)), 0.0)}
    rows, trajs = study.closed_loops(sim.step, planners, tasks, steps=3, keep=1, seed=7)
    assert len(rows) == 4 and set(rows.planner) == set(planners) and (rows.seed == 7).all()
    assert set(trajs) == {(0, "still"), (0, "towards")}
    still = rows[rows.planner == "still"]
    assert np.allclose(still.final_distance, [np.linalg.norm(t[0][2:] - t[1]) for t in tasks])


def test_model_family_trains_and_tabulates():
    fam = study.model_family(Pendulum(), n_data=400, seed=0, budgets=[8, 4], epochs=2, relax=1, tune=1,
                             scratch_at=[4], hidden=16, n_val=100)
    assert set(fam["sparse"]) == {8, 4} and set(fam["scratch"]) == {4}
    assert fam["sparse"][4].n_relu() == 4 and fam["scratch"][4].n_relu() == 4
    e = fam["errors"]
    assert len(e) == 3 and np.allclose(e.ratio_to_dense, e.val_mse / e.dense_mse)
    with pytest.raises(ValueError, match="scratch_at"):
        study.model_family(Pendulum(), 200, 0, [8, 4], 1, 1, 1, scratch_at=[6], hidden=16, n_val=50)


def test_beats_everywhere():
    assert study.beats_everywhere({"a": [1.5, 1.6, 1.55], "b": [2.0, 2.1, 1.9]}).verdict == "reproduced"
    assert study.beats_everywhere({"a": [1.5, 1.6, 1.55], "b": [1.0, 1.1, 1.05]}).verdict == "not reproduced"
    assert study.beats_everywhere({"a": [1.5, 1.6, 1.55], "b": [1.0, 2.5, 1.5]}).verdict == "inconclusive"
    with pytest.raises(ValueError, match="setting"):
        study.beats_everywhere({})


def _loops(diffs_by_seed):
    rows = []
    for seed, diffs in diffs_by_seed.items():
        for i, d in enumerate(diffs):
            rows += [dict(seed=seed, start=i, planner="mip", final_distance=0.1),
                     dict(seed=seed, start=i, planner="cem", final_distance=0.1 + d)]
    return pd.DataFrame(rows)


def test_gains_over_each_planner():
    loops = _loops({0: [0.1, 0.2, 0.15], 1: [0.12, 0.18, 0.3]})
    assert study.gains_over(loops, "mip", ["cem"]).verdict == "reproduced"
    assert study.gains_over(_loops({0: [-0.1, -0.2, -0.15], 1: [-0.1, -0.3, -0.2]}), "mip", ["cem"]).verdict \
        == "not reproduced"
    assert study.gains_over(_loops({0: [0.1, -0.2, 0.15], 1: [-0.1, 0.3, -0.05]}), "mip", ["cem"]).verdict \
        == "inconclusive"
    assert list(study.paired_gain(loops, "mip", "cem")) == pytest.approx([0.1, 0.2, 0.15, 0.12, 0.18, 0.3])
    with pytest.raises(ValueError, match="both be in"):
        study.gains_over(_loops({0: [0.1]}), "mip", ["mppi"])
    with pytest.raises(ValueError, match="columns"):
        study.paired_gain(pd.DataFrame({"seed": [0]}), "mip", "cem")


def test_u_shaped_rule_can_fail():
    u = pd.DataFrame({2: [0.5, 0.6, 0.55], 4: [0.2, 0.25, 0.22], 8: [0.3, 0.35, 0.31]})
    assert study.u_shaped(u).verdict == "reproduced"
    falling = pd.DataFrame({2: [0.5, 0.6], 4: [0.4, 0.45], 8: [0.3, 0.35]})
    assert study.u_shaped(falling).verdict == "not reproduced"
    noisy = pd.DataFrame({2: [0.5, 0.1, 0.6], 4: [0.3, 0.3, 0.3], 8: [0.6, 0.1, 0.5]})  # mean U, spread too wide
    assert study.u_shaped(noisy).verdict == "inconclusive"
    with pytest.raises(ValueError, match="at least 3"):
        study.u_shaped(pd.DataFrame({2: [0.1, 0.2], 4: [0.1, 0.2]}))
