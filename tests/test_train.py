"""The one training loop: budgets, evaluation points, early stopping, and evaluate() against torch."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sparsekit.data import Split
from sparsekit.train import FitResult, evaluate, fit, train_epochs


def tiny_split(n=64, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(3 * n, d, generator=g), torch.randint(0, classes, (3 * n,), generator=g)
    return Split(x[:n], y[:n], x[n:2 * n], y[n:2 * n], x[2 * n:], y[2 * n:], num_classes=classes)


def test_evaluate_matches_cross_entropy_and_argmax():
    data = tiny_split()
    net = nn.Linear(5, 3)
    for bs in (1, 7, 4096):
        loss, acc = evaluate(net, data.x_test, data.y_test, batch_size=bs)
        with torch.no_grad():
            out = net(data.x_test)
        assert loss == pytest.approx(F.cross_entropy(out, data.y_test).item(), rel=1e-5)
        assert acc == pytest.approx((out.argmax(1) == data.y_test).float().mean().item())
    net.train()
    evaluate(net, data.x_test, data.y_test)
    assert net.training  # the mode is restored


def test_steps_budget_and_evaluation_points():
    data = tiny_split()
    net = nn.Linear(5, 3)
    seen = []
    res = fit(net, torch.optim.SGD(net.parameters(), 0.1), data, steps=11, batch_size=10, eval_every=4,
              generator=torch.Generator().manual_seed(0), on_step=seen.append)
    assert seen == list(range(1, 12))
    assert res.steps == [4, 8, 11]  # every 4 steps, and the last step
    # 64 examples, batches of 10 with the last incomplete one dropped: 6 steps a pass
    assert len(res.epoch_loss) == 2


def test_epochs_budget_keeps_the_last_small_batch():
    x, y = torch.randn(25, 5), torch.randint(0, 3, (25,))
    net = nn.Linear(5, 3)
    steps = []
    losses = train_epochs(net, torch.optim.SGD(net.parameters(), 0.1), x, y, 3, 10,
                          on_step=lambda step: steps.append(step))
    assert len(losses) == 3 and len(steps) == 9  # 10 + 10 + 5 per pass


def test_early_stopping_on_hand_set_validation_losses():
    data = tiny_split()
    net = nn.Linear(5, 3)
    val = iter([1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6])  # best at the 2nd evaluation, then 3 worse ones
    res = fit(net, torch.optim.SGD(net.parameters(), 0.01), data, steps=100, batch_size=8, eval_every=2,
              evaluator=lambda m: (next(val), 0.5, 0.5), patience=3)
    assert res.stopped_early
    assert res.steps == [2, 4, 6, 8, 10]
    assert res.early_stop_step == 4 and res.best_index == 1


def test_fit_result_bookkeeping():
    r = FitResult(steps=[10, 20, 30], val_loss=[0.5, 0.3, 0.3], val_acc=[0.1, 0.2, 0.3], test_acc=[0.4, 0.6, 0.7])
    assert r.early_stop_step == 20 and r.early_stop_test_acc == 0.6  # first of the tied minima
    assert r.final_test_acc == 0.7 and r.summary()["best_val_acc"] == 0.3


def test_fit_refuses_bad_budgets():
    data = tiny_split()
    net = nn.Linear(5, 3)
    opt = torch.optim.SGD(net.parameters(), 0.1)
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        fit(net, opt, data, batch_size=4)
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        fit(net, opt, data, steps=3, epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        fit(net, opt, data, steps=0, batch_size=4)
    with pytest.raises(ValueError, match="batch_size is needed"):
        fit(net, opt, data, steps=3)
    with pytest.raises(ValueError, match="patience"):
        fit(net, opt, data, steps=3, batch_size=4, patience=2)
    with pytest.raises(ValueError, match="yielded no batch"):
        fit(net, opt, data, steps=3, batch_size=1000)
    with pytest.raises(TypeError, match="data must be a Split"):
        fit(net, opt, [1, 2], steps=3)
