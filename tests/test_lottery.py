"""sparsekit.studies.lottery_tickets: the study's rows, the paired gaps, and the claim rules of notebook 01 fed
counter-examples (each rule must be able to say "not reproduced")."""

import numpy as np
import pandas as pd
import pytest
import torch

from sparsekit.data.split import Split
from sparsekit.models import ResidualMLP
from sparsekit.studies.lottery_tickets import (
    capped_runs,
    imp_trainer,
    paired_gap,
    rounds_between,
    study_frame,
    ticket_study,
)
from sparsekit.verdicts import decide


def rows(values: dict[tuple[str, int], list[float]], density=None, column="test acc %") -> pd.DataFrame:
    """A study table from {(arm, round): per-seed values}."""
    density = density or {0: 1.0, 1: 0.8, 2: 0.64, 3: 0.512}
    out = []
    for (arm, rnd), vals in values.items():
        for seed, v in enumerate(vals):
            out.append(dict(seed=seed, arm=arm, round=rnd, density=density[rnd], **{column: v}))
    return pd.DataFrame(out)


def test_paired_gap_matches_a_hand_computation():
    df = rows({("dense", 0): [90.0, 91.0, 92.0], ("ticket", 1): [91.0, 91.0, 95.0], ("ticket", 2): [93.0, 90.0, 92.0]})
    got = paired_gap(df, "ticket", "dense", "test acc %", [1, 2])
    want = np.array([(1 + 3) / 2, (0 - 1) / 2, (3 + 0) / 2])
    np.testing.assert_allclose(got.to_numpy(), want)
    assert list(got.index) == [0, 1, 2]


def test_paired_gap_is_paired_not_pooled():
    # seed 2 is a better seed for both arms; pairing removes it, pooling would not
    df = rows({("ticket", 1): [80.0, 81.0, 95.0], ("reinit", 1): [79.0, 80.0, 94.0]})
    assert paired_gap(df, "ticket", "reinit", "test acc %", [1]).tolist() == [1.0, 1.0, 1.0]


def test_paired_gap_refuses_missing_runs_and_bad_names():
    df = rows({("dense", 0): [90.0, 91.0], ("ticket", 1): [91.0, 92.0]})
    with pytest.raises(ValueError, match="no 'test acc %' for"):
        paired_gap(df, "ticket", "dense", "test acc %", [1, 2])
    with pytest.raises(ValueError, match="unknown arm"):
        paired_gap(df, "tickets", "dense", "test acc %", [1])
    with pytest.raises(KeyError, match="no column"):
        paired_gap(df, "ticket", "dense", "accuracy", [1])
    with pytest.raises(ValueError, match="rounds is empty"):
        paired_gap(df, "ticket", "dense", "test acc %", [])


def test_rounds_between_uses_the_ticket_density():
    df = rows({("ticket", r): [1.0] for r in (1, 2, 3)})
    assert rounds_between(df, 0.5, 0.7) == [2, 3]
    assert rounds_between(df, 0.1, 0.2) == []
    with pytest.raises(ValueError, match="lo <= hi"):
        rounds_between(df, 20, 10)


# ---- the rules of notebook 01: the same data shape, a result the paper would not claim -> not reproduced


def rule_at_least(df, a, b, value, rounds, bar):
    return decide(paired_gap(df, a, b, value, rounds), bar).verdict


def test_L1_L5_rule_fails_when_the_ticket_is_only_level_with_dense():
    dense = [94.5, 94.3, 94.7]
    level = rows({("dense", 0): dense, ("ticket", 2): [94.6, 94.1, 94.8], ("ticket", 3): [94.4, 94.4, 94.6]})
    assert rule_at_least(level, "ticket", "dense", "test acc %", [2, 3], 0) == "inconclusive"
    above = rows({("dense", 0): dense, ("ticket", 2): [95.1, 95.0, 95.3], ("ticket", 3): [95.0, 94.9, 95.2]})
    assert rule_at_least(above, "ticket", "dense", "test acc %", [2, 3], 0) == "reproduced"
    below = rows({("dense", 0): dense, ("ticket", 2): [93.1, 93.0, 93.3], ("ticket", 3): [93.0, 92.9, 93.2]})
    assert rule_at_least(below, "ticket", "dense", "test acc %", [2, 3], 0) == "not reproduced"


def test_L2_rule_fails_when_one_seed_reverses():
    df = rows({("ticket", 3): [94.0, 93.0, 94.0], ("reinit", 3): [92.0, 95.5, 92.5]})
    assert rule_at_least(df, "ticket", "reinit", "test acc %", [3], 0) == "inconclusive"


def test_L3_rule_fails_when_tickets_stop_later():
    df = rows({("dense", 0): [450, 400, 500], ("ticket", 1): [500, 475, 525], ("ticket", 2): [425, 450, 550]},
              column="early_stop_step")
    assert rule_at_least(df, "dense", "ticket", "early_stop_step", [1, 2], 0) != "reproduced"


def test_L4_rule_needs_its_lower_bound_above_five_points():
    df = rows({("ticket", 3): [64.0, 62.0, 66.0], ("random mask", 3): [58.0, 57.0, 58.5]}, column="max test acc %")
    gap = paired_gap(df, "ticket", "random mask", "max test acc %", [3])  # 6.0, 5.0, 7.5: mean 6.2, sd 1.3
    assert decide(gap, 5).verdict == "inconclusive"  # L = 4.0: the bar of 5 is inside [L, U]
    assert decide(gap, 3.5).verdict == "reproduced"
    assert decide(gap, 9).verdict == "not reproduced"


# ---- a tiny study end to end


def tiny_split(n=200, d=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, :classes].argmax(1))
    return Split(x[:120], y[:120], x[120:160], y[120:160], x[160:], y[160:], name="toy", num_classes=classes)


def test_ticket_study_rows_masks_and_controls():
    data = tiny_split()
    train = imp_trainer(data, seed=0, steps=20, lr=1e-2, batch_size=20, eval_every=10)
    rates = {"fc1.weight": 0.5, "fc2.weight": 0.5, "fc3.weight": 0.5}
    make = lambda: ResidualMLP(num_inputs=12, hidden=8, num_classes=3)
    st = ticket_study(make, train, seed=0, rounds=2, rates=rates, controls_at=[2], rewind_step=5)
    df = study_frame([st])
    assert sorted(df.groupby("arm").size().items()) == [("dense", 1), ("late rewind", 2), ("random mask", 1),
                                                        ("reinit", 1), ("ticket", 2)]
    assert df.loc[df.arm == "ticket", "density"].tolist() == pytest.approx([0.5, 0.25], abs=0.02)
    ctrl = df[df.arm.isin(["reinit", "random mask"])]
    assert (ctrl["density"] == df[(df.arm == "ticket") & (df["round"] == 2)]["density"].iloc[0]).all()
    assert set(df["capped"]) <= {True, False}
    assert (df["capped"] == (df["early_stop_step"] >= 20)).all()  # no patience: capped = minimum at the last step
    assert (df["trained_steps"] == 20).all()
    assert ((df["max test acc %"] >= df["test acc %"]) & (df["max test acc %"] <= 100)).all()
    for n, m in st.imp.masks[2].items():  # the ticket's masks are nested across rounds
        assert not bool((m & ~st.imp.masks[1][n]).any())
    again = ticket_study(make, train, seed=0, rounds=2, rates=rates, controls_at=[2], rewind_step=5)
    pd.testing.assert_frame_equal(df, study_frame([again]))  # seeded: the same rows twice


def test_ticket_study_checks_its_arguments():
    train = imp_trainer(tiny_split(), seed=0, steps=5, lr=1e-2, batch_size=20, eval_every=5)
    make = lambda: ResidualMLP(num_inputs=12, hidden=8, num_classes=3)
    with pytest.raises(ValueError, match="controls_at must name rounds 1..2"):
        ticket_study(make, train, seed=0, rounds=2, rates={"fc1.weight": 0.2}, controls_at=[3])
    with pytest.raises(ValueError, match="controls must be among"):
        ticket_study(make, train, seed=0, rounds=2, rates={"fc1.weight": 0.2}, controls_at=[1], controls=("shuffle",))


# ---- third edition: patience, capped runs, global scope, the new claims' rules


def test_patience_stops_runs_after_their_minimum_and_marks_capped_runs():
    data = tiny_split()
    make = lambda: ResidualMLP(num_inputs=12, hidden=8, num_classes=3)
    rates = {"fc1.weight": 0.5, "fc2.weight": 0.5, "fc3.weight": 0.5}
    patient = imp_trainer(data, seed=0, steps=400, lr=5e-2, batch_size=20, eval_every=5, patience=2)
    df = study_frame([ticket_study(make, patient, seed=0, rounds=1, rates=rates)])
    stopped = df[~df["capped"]]
    assert not stopped.empty  # at lr 5e-2 a 3-class toy problem overfits well before 400 steps
    # a run that stopped early went exactly `patience` evaluations past its minimum
    assert (stopped["trained_steps"] == stopped["early_stop_step"] + 2 * 5).all()
    short = imp_trainer(data, seed=0, steps=5, lr=1e-3, batch_size=20, eval_every=5, patience=50)
    df = study_frame([ticket_study(make, short, seed=0, rounds=1, rates=rates)])
    assert df["capped"].all() and (df["trained_steps"] == 5).all()  # patience could not run out


def test_capped_runs_counts_the_runs_a_comparison_reads():
    df = rows({("dense", 0): [1, 1, 1], ("ticket", 1): [1, 1, 1], ("ticket", 2): [1, 1, 1],
               ("reinit", 2): [1, 1, 1]})
    df["capped"] = False
    df.loc[(df.arm == "dense") & (df.seed == 1), "capped"] = True
    df.loc[(df.arm == "reinit") & (df.seed != 0), "capped"] = True
    df.loc[(df.arm == "ticket") & (df["round"] == 1), "capped"] = True
    assert capped_runs(df, ("ticket", "dense"), [2]) == 1
    assert capped_runs(df, ("ticket", "dense"), [1, 2]) == 4
    assert capped_runs(df, ("ticket", "reinit"), [2]) == 2
    with pytest.raises(ValueError, match="unknown arm"):
        capped_runs(df, ("tickets",), [1])


def test_ticket_study_prunes_globally_with_one_rate():
    train = imp_trainer(tiny_split(), seed=0, steps=10, lr=1e-2, batch_size=20, eval_every=5)
    make = lambda: ResidualMLP(num_inputs=12, hidden=8, num_classes=3)
    rates = {"fc1.weight": 0.4, "fc2.weight": 0.4, "fc3.weight": 0.4}
    st = ticket_study(make, train, seed=0, rounds=2, rates=rates, scope="global")
    total = sum(m.numel() for m in st.imp.masks[0].values())
    kept = [sum(int(m.sum()) for m in masks.values()) for masks in st.imp.masks]
    assert kept[0] == total and kept[1] == total - round(0.4 * total)  # one pooled count, not one per layer
    per_layer = {n: float(m.float().mean()) for n, m in st.imp.masks[2].items()}
    assert len({round(v, 3) for v in per_layer.values()}) > 1  # the layers end at different densities
    with pytest.raises(ValueError, match="one pooled rate"):
        ticket_study(make, train, seed=0, rounds=1, rates={**rates, "fc3.weight": 0.1}, scope="global")
    with pytest.raises(ValueError, match="scope"):
        ticket_study(make, train, seed=0, rounds=1, rates=rates, scope="pooled")


def test_L5_rule_fails_when_reinitialised_runs_are_not_slower():
    slower = rows({("ticket", 3): [300, 350, 275], ("reinit", 3): [700, 600, 650]}, column="early_stop_step")
    assert rule_at_least(slower, "reinit", "ticket", "early_stop_step", [3], 0) == "reproduced"
    faster = rows({("ticket", 3): [300, 350, 275], ("reinit", 3): [250, 300, 225]}, column="early_stop_step")
    assert rule_at_least(faster, "reinit", "ticket", "early_stop_step", [3], 0) == "not reproduced"


def test_L6_L8_rules_fail_when_the_other_arm_is_better():
    late = rows({("ticket", 2): [94.0, 94.2, 93.9], ("late rewind", 2): [93.0, 93.1, 92.8]})
    assert rule_at_least(late, "late rewind", "ticket", "test acc %", [2], 0) == "not reproduced"
    m1d = rows({("ticket", 3): [58.0, 60.0, 59.0], ("reinit", 3): [60.5, 62.0, 61.0]}, column="max test acc %")
    assert rule_at_least(m1d, "ticket", "reinit", "max test acc %", [3], 0) == "not reproduced"


def test_seed_study_builds_the_same_study_from_plain_values(monkeypatch):
    import sparsekit.studies.lottery_tickets as LT

    monkeypatch.setitem(LT.DATASETS, "toy", lambda seed: tiny_split(seed=seed))
    spec = dict(data="toy", model="residual_mlp", model_kw=dict(num_inputs=12, hidden=8, num_classes=3),
                train_kw=dict(steps=10, lr=1e-2, batch_size=20, eval_every=5),
                study_kw=dict(rounds=1, rates={"fc1.weight": 0.5, "fc2.weight": 0.5, "fc3.weight": 0.5},
                              controls_at=[1], controls=("reinit",)))
    got = study_frame([LT.seed_study(3, spec)])
    train = imp_trainer(tiny_split(seed=3), seed=3, steps=10, lr=1e-2, batch_size=20, eval_every=5)
    want = study_frame([ticket_study(lambda: ResidualMLP(num_inputs=12, hidden=8, num_classes=3), train, seed=3,
                                     **spec["study_kw"])])
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(ValueError, match=r"spec\['model'\] must be one of"):
        LT.seed_study(0, {**spec, "model": "resnet"})
