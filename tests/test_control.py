import numpy as np
import pytest
import torch

from sparsekit.control.dynamics import IDENTITY, OFF, RELU, GatedMLP, fit_dynamics, mse, sparsify
from sparsekit.control.milp import has_feasible_point, interval_bounds, plan_milp, rollout
from sparsekit.control.planners import closed_loop, plan_cem, plan_gradient, plan_mppi, rollout_cost
from sparsekit.control.systems import Pendulum, Pusher


def test_pusher_contact_dynamics():
    sim = Pusher()
    s = np.array([0.0, 0.0, 0.2, 0.0])
    free = sim.step(s, [0.0, 0.05])  # moving sideways, no contact
    np.testing.assert_allclose(free, [0.0, 0.05, 0.2, 0.0])
    push = sim.step(s, [0.05, 0.0])  # towards the object: it is pushed to keep contact distance
    assert push[2] == pytest.approx(0.05 + sim.contact)
    assert np.linalg.norm(push[2:] - push[:2]) == pytest.approx(sim.contact)
    clipped = sim.step(s, [1.0, 0.0])
    assert clipped[0] == pytest.approx(sim.max_step)
    x, y = sim.sample(100, np.random.default_rng(0))
    assert x.shape == (100, 4) and y.shape == (100, 2)


def test_pendulum_matches_gymnasium_equations():
    pend = Pendulum()
    s = np.array([0.3, -1.0])
    out = pend.step(s, np.array([1.5]))
    om = -1.0 + (3 * 10 / 2 * np.sin(0.3) + 3 * 1.5) * 0.05
    np.testing.assert_allclose(out, [0.3 + om * 0.05, om])
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.3, -1.0])
    env.step(np.array([1.5], dtype=np.float32))
    np.testing.assert_allclose(env.unwrapped.state, out, rtol=1e-5)


def small_model(seed=0, hidden=8):
    torch.manual_seed(seed)
    m = GatedMLP(4, 2, hidden)
    with torch.no_grad():
        m.kind.copy_(torch.tensor([RELU, RELU, RELU, IDENTITY, IDENTITY, OFF, RELU, IDENTITY][:hidden]))
    return m


def test_folding_identity_neurons_is_exact():
    m = small_model()
    m.set_normalization(torch.randn(100, 4) * 3 + 1, torch.randn(100, 2) * 0.1)
    z = torch.randn(50, 4)
    f = m.folded()
    assert f.n_relu == 4
    np.testing.assert_allclose(f(z.double().numpy()), m(z).detach().double().numpy(), rtol=1e-5, atol=1e-6)


def test_interval_bounds_are_sound():
    m = small_model(1).folded()
    rng = np.random.default_rng(0)
    r0 = np.array([0.1, -0.05])
    _, pre = interval_bounds(m, r0, -0.05 * np.ones(2), 0.05 * np.ones(2), 4)
    for _ in range(200):
        acts = rng.uniform(-0.05, 0.05, size=(4, 2))
        _, _, pres = rollout(m, r0, np.zeros(2), acts)
        for (lo, hi), a in zip(pre, pres):
            assert (a >= lo - 1e-9).all() and (a <= hi + 1e-9).all()


def test_milp_optimum_beats_random_plans_and_matches_rollout():
    m = small_model(2).folded()
    r0, o0, goal = np.array([0.12, 0.0]), np.array([0.3, 0.2]), np.array([0.45, 0.2])
    lo, hi = -0.05 * np.ones(2), 0.05 * np.ones(2)
    plan = plan_milp(m, r0, o0, goal, 3, lo, hi, time_limit=20)
    assert plan.status == "Optimal" and plan.optimal and plan.feasible and plan.gap == 0.0
    _, os_, _ = rollout(m, r0, o0, plan.actions)
    model_cost = np.abs(os_ - goal).sum()
    assert model_cost == pytest.approx(plan.objective, rel=1e-5, abs=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(300):  # no random plan does better than the proven optimum
        acts = rng.uniform(-0.05, 0.05, size=(3, 2))
        assert np.abs(rollout(m, r0, o0, acts)[1] - goal).sum() >= plan.objective - 1e-6
    warm = plan_milp(m, r0, o0, goal, 3, lo, hi, time_limit=20, warm_actions=plan.actions)
    assert warm.objective == pytest.approx(plan.objective, rel=1e-6, abs=1e-8)


def test_sparsify_reaches_budgets_and_learns():
    sim = Pusher()
    x, y = sim.sample(8000, np.random.default_rng(0))
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    torch.manual_seed(0)
    m = GatedMLP(4, 2, 32).set_normalization(x, y)
    fit_dynamics(m, x, y, 25)
    dense_err = mse(m, x, y)
    assert dense_err < 0.5 * float(y.pow(2).mean())  # it learned something
    models = sparsify(m, x, y, [8, 4], relax_epochs=3, finetune_epochs=3, progress=False)
    assert [models[b].n_relu() for b in (8, 4)] == [8, 4]
    with pytest.raises(ValueError, match="non-increasing"):
        sparsify(m, x, y, [2, 4], progress=False)


def test_planners_reduce_cost_and_closed_loop_runs():
    m = small_model(3)
    r0, o0, goal = np.zeros(2) + 0.12, np.array([0.3, 0.2]), np.array([0.4, 0.3])
    zero = rollout_cost(m, *[torch.tensor(v, dtype=torch.float32).view(1, 2) for v in (r0, o0, goal)],
                        torch.zeros(1, 3, 2)).item()
    rng = np.random.default_rng(0)
    for planner in (plan_cem, plan_mppi, plan_gradient):
        acts = planner(m, r0, o0, goal, 3, 0.05, 0.05, rng=rng)
        assert acts.shape == (3, 2) and np.abs(acts).max() <= 0.05 + 1e-6
        c = rollout_cost(m, *[torch.tensor(v, dtype=torch.float32).view(1, 2) for v in (r0, o0, goal)],
                         torch.tensor(acts, dtype=torch.float32)[None]).item()
        assert c <= zero + 1e-6
    sim = Pusher()
    warms = []

    def plan(state, warm):  # a plan that depends on the state, so the replay below can tell steps apart
        warms.append(warm)
        return np.tile(np.clip(goal - state[2:], -0.02, 0.02), (3, 1)) * np.array([[1.0], [0.5], [0.25]]), 0.0

    res = closed_loop(sim.step, plan, np.array([0, 0, 0.3, 0.0]), goal, 4)
    # oracle: replay the loop by hand on the true system
    state, traj = np.array([0, 0, 0.3, 0.0]), [np.array([0, 0, 0.3, 0.0])]
    for _ in range(4):
        state = sim.step(state, plan(state, None)[0][0])
        traj.append(state)
    np.testing.assert_allclose(res["trajectory"], np.array(traj))
    assert res["final_distance"] == pytest.approx(np.linalg.norm(traj[-1][2:] - goal))
    assert res["cost"] == pytest.approx(sum(np.abs(t[2:] - goal).sum() for t in traj[1:]))
    assert warms[0] is None and np.allclose(warms[1][-1], warms[1][-2])  # shifted plan, last action repeated


def test_quiet_highs_keeps_the_banner_out_of_stdout():
    import subprocess
    import sys

    run = lambda code: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "Running HiGHS" in run("import highspy; highspy.Highs()")  # the banner exists ...
    out = run("from sparsekit.control.milp import quiet_highs; quiet_highs(); quiet_highs(); print('ok')")
    assert "Running HiGHS" not in out and out.strip().endswith("ok")  # ... and quiet_highs keeps it out


def test_only_a_feasible_point_is_a_plan():
    """HiGHS's primal_solution_status: 0 none, 1 an infeasible point, 2 feasible; only 2 may be executed."""
    from types import SimpleNamespace

    assert has_feasible_point(SimpleNamespace(primal_solution_status=2))
    assert not has_feasible_point(SimpleNamespace(primal_solution_status=1))
    assert not has_feasible_point(SimpleNamespace(primal_solution_status=0))
    assert not has_feasible_point(SimpleNamespace())


def test_a_solve_stopped_before_any_incumbent_says_so():
    m = small_model(8).folded()
    r0, o0, goal = np.array([0.12, 0.0]), np.array([0.3, 0.2]), np.array([0.45, 0.2])
    lo, hi = -0.05 * np.ones(2), 0.05 * np.ones(2)
    plan = plan_milp(m, r0, o0, goal, 6, lo, hi, time_limit=1e-6)
    assert plan.status != "Optimal" and not plan.optimal
    if not plan.feasible:  # no incumbent in a microsecond: zero actions, infinite cost and gap
        assert (plan.actions == 0).all() and plan.objective == np.inf and plan.gap == np.inf
    else:  # a heuristic found a point: its gap is reported
        assert plan.gap >= 0
