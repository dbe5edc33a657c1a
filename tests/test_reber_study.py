"""Notebook 02's study code: the negatives' profile against hand counts, the rules R1-R4/R6 fed
counter-examples (each must be able to say "not reproduced"), the thesis's graphs against its own
results table, the retraining of its pruned models, and the process-parallel map."""

import numpy as np
import pandas as pd
import pytest
import torch

from sparsekit.data.reber import accepts, make_reber
from sparsekit.rnn import CELLS, RNNClassifier, graph_properties
from sparsekit.studies.rnn_pruning import own as rs
from sparsekit.studies.rnn_pruning.data import load_thesis_graphs, load_thesis_structure
from sparsekit.studies.rnn_pruning.thesis import recovery_agrees, retrain_like_thesis, thesis_masks
from sparsekit.utils import parallel_map


def test_first_failure_on_hand_cases():
    assert rs.first_failure("BTSXSE") == -1  # valid
    assert rs.first_failure("TB") == 0  # must start with B
    assert rs.first_failure("BTXA") == 3  # A is no letter of the grammar
    assert rs.first_failure("BTSX") == 4  # every symbol fits, the string stops early
    assert rs.first_failure("BTXSEE") == 5  # goes on after the final E
    data = make_reber(200, 10, seed=1)
    for s, y in zip(data.train, data.y_train):
        assert (rs.first_failure(s) == -1) == accepts(s) == bool(y)


def test_negatives_profile_on_a_hand_made_set():
    train = ["BTSXSE", "BTSXXTVVE", "AB", "BTXZ", "BP"]
    y = [1, 1, 0, 0, 0]
    prof = rs.negatives_profile(train, y, ["BTSXSE", "AB", "QQQQQQ"], [1, 0, 1])
    assert prof["fail_within_3"] == pytest.approx(2 / 3)  # AB at 0, BP at 2 (stops early: 2 < 3), BTXZ at 3
    assert prof["foreign_letters"] == pytest.approx(2 / 3)  # AB, BTXZ
    # lengths 6 -> valid, 2 -> invalid; length 6 "QQQQQQ" is guessed valid: all three right
    assert prof["length_only_accuracy"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no invalid string"):
        rs.negatives_profile(["BTSXSE"], [1], ["BTSXSE"], [1])


def own_rows(drop=0.0, fall=0.3, back=0.0, gated=0.99, plain=0.52, seeds=(0, 1, 2)):
    rows = []
    for s in seeds:
        for c in CELLS:
            base = 0.99
            key = dict(seed=s, cell=c, base=base)
            rows.append(dict(key, kind="none", prune=0, epoch=0, acc=base))
            for p in (10, 30, 60, 70):
                rows.append(dict(key, kind="both", prune=p, epoch=0, acc=base - (drop if p == 60 else 0.0)))
            rows.append(dict(key, kind="both", prune=90, epoch=0, acc=base - fall))
            rows.append(dict(key, kind="both", prune=90, epoch=1, acc=base - back))
            after = gated if c in ("gru", "lstm") else plain
            rows.append(dict(key, kind="h2h", prune=100, epoch=0, acc=0.5))
            rows.append(dict(key, kind="h2h", prune=100, epoch=1, acc=after))
    return pd.DataFrame(rows)


V = lambda pair: pair[0].verdict  # noqa: E731


def test_rule_r1_can_fail():
    assert V(rs.keeps_base(own_rows())) == "reproduced"
    dec, worst = rs.keeps_base(own_rows(drop=0.011))
    assert dec.verdict == "not reproduced" and worst.max() == pytest.approx(0.011)
    assert V(rs.keeps_base(own_rows(drop=0.0099))) == "reproduced"
    noisy = own_rows()
    at60 = (noisy.kind == "both") & (noisy.prune == 60) & (noisy.cell == "gru")
    noisy.loc[at60, "acc"] -= np.array([0.0, 0.02, 0.0])  # one seed of one cell drops 2 points
    assert V(rs.keeps_base(noisy)) == "inconclusive"
    with pytest.raises(ValueError, match="lacks the columns"):
        rs.keeps_base(own_rows().drop(columns="base"))


def test_rule_r2_can_fail():
    assert V(rs.falls_and_recovers(own_rows())) == "reproduced"
    assert V(rs.falls_and_recovers(own_rows(fall=0.005))) == "not reproduced"  # nothing fell
    assert V(rs.falls_and_recovers(own_rows(back=0.03))) == "not reproduced"  # not back within 2 points
    one_slow = own_rows()
    one_slow.loc[(one_slow.kind == "both") & (one_slow.epoch == 1) & (one_slow.seed == 2) & (one_slow.cell == "gru"),
                 "acc"] = 0.9
    assert V(rs.falls_and_recovers(one_slow)) == "inconclusive"  # one seed of nine points: K=3 cannot tell


def test_rule_r3_can_fail():
    assert V(rs.gated_contrast(own_rows())) == "reproduced"
    assert V(rs.gated_contrast(own_rows(gated=0.94))) == "not reproduced"
    assert V(rs.gated_contrast(own_rows(plain=0.61))) == "not reproduced"
    with pytest.raises(ValueError, match="rnn_relu"):
        rs.gated_contrast(own_rows()[lambda d: d.cell != "rnn_relu"])


def graphs_table(slope_src=0.02, slope_clo=-6.0, ws_gain=0.05, n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for kind in ("ba", "ws"):
        for _ in range(n):
            src = rng.integers(1, 10)
            clo = rng.uniform(0, 0.02)
            acc = 0.8 + slope_src * src + slope_clo * clo + (ws_gain if kind == "ws" else 0) + rng.normal(0, 0.01)
            rows.append(dict(kind=kind, source_nodes=src, closeness_var=clo, acc=acc))
    return pd.DataFrame(rows)


def test_rule_r4_can_fail():
    assert V(rs.graph_trends(graphs_table(), n_boot=300)) == "reproduced"
    assert V(rs.graph_trends(graphs_table(ws_gain=-0.05), n_boot=300)) == "not reproduced"
    assert V(rs.graph_trends(graphs_table(slope_src=0.0, ws_gain=0.0), n_boot=300)) in ("inconclusive",
                                                                                       "not reproduced")
    assert V(rs.graph_trends(graphs_table(slope_clo=6.0), n_boot=300)) == "not reproduced"
    ok, est = rs.graph_trends(graphs_table(), n_boot=300)
    assert est["ws_minus_ba"][1] <= est["ws_minus_ba"][0] <= est["ws_minus_ba"][2]
    with pytest.raises(ValueError, match="at least 3 graphs"):
        rs.graph_trends(graphs_table(n=2), n_boot=10)


def test_our_construction_gives_the_thesis_graph_table():
    for cell in ("gru", "rnn_tanh"):
        table = rs.thesis_graph_table(cell)
        assert len(table) == 200 and table.same.all(), table[~table.same][["graph", "graph_nr"]]
        assert set(table.kind) == {"ba", "ws"}
    graphs = load_thesis_graphs("lstm")
    row = load_thesis_structure("lstm").iloc[7]
    mine = graph_properties(graphs[f"{row.graph}_{int(row.graph_nr)}"])
    assert mine["closeness_var"] == pytest.approx(row.closeness_var, rel=1e-9)  # ddof=1, as the thesis
    assert mine["density"] == pytest.approx(row.density, rel=1e-9)  # of the DAG
    with pytest.raises(ValueError, match="cell must be one of"):
        load_thesis_graphs("transformer")


def test_thesis_masks_pool_the_selected_kind():
    model = RNNClassifier("gru", hidden=4, num_layers=2, embed=3)
    masks = thesis_masks(model, 50, "h2h")
    assert sorted(masks) == ["rnn.weight_hh_l0", "rnn.weight_hh_l1"]
    pooled = torch.cat([p.detach().abs().flatten() for n, p in model.named_parameters() if n in masks])
    tau = np.percentile(pooled.numpy(), 50)
    for n, m in masks.items():
        assert torch.equal(m, dict(model.named_parameters())[n].detach().abs() >= float(tau))
    with pytest.raises(ValueError, match="kind must be one of"):
        thesis_masks(model, 50, "hidden")


def test_retraining_the_thesis_model_keeps_its_mask_and_logs_each_epoch():
    rows = retrain_like_thesis("rnn_tanh", "h2h", 100, epochs=1, seed=0, shuffles=(0,))
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["thesis"] == pytest.approx(0.49424, abs=1e-4)  # its log's epoch-0 row
    assert all(0 <= r["ours"] <= 1 for r in rows)
    with pytest.raises(ValueError, match="no rows"):
        retrain_like_thesis("rnn_tanh", "h2h", 95)
    table = pd.DataFrame(rows)
    assert recovery_agrees(table.assign(ours_min=table.thesis, ours_max=table.thesis)).all()
    assert not recovery_agrees(table.assign(ours_min=table.thesis + 0.031, ours_max=table.thesis + 0.05)).any()


def test_own_study_rows_cover_every_level_and_keep_masks():
    rows = pd.DataFrame(rs.own_study("rnn_relu", 0, "one_edit", 1, (("h2h", 100, 1),), n_train=64, n_test=32,
                                     levels=(50, 100)))
    assert set(rows.kind) == {"none", "i2h", "h2h", "both"}
    assert len(rows[rows.epoch == 0]) == 1 + 3 * 2
    assert rows[(rows.epoch == 1)].prune.tolist() == [100]
    with pytest.raises(ValueError, match="name must be one of"):
        rs.study_data("imdb")


def _square(a, b):
    return a * a + b


def test_parallel_map_keeps_order_on_one_or_two_processes():
    jobs = [(i, 1) for i in range(5)]
    assert parallel_map(_square, jobs, workers=1, show_progress=False) == [1, 2, 5, 10, 17]
    assert parallel_map(_square, jobs, workers=2, show_progress=False) == [1, 2, 5, 10, 17]
    threads = torch.get_num_threads()
    parallel_map(_square, jobs[:1], workers=1, show_progress=False)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        parallel_map(_square, jobs, workers=0)


def test_kept_weight_study_repeats_the_r3_model():
    rows = pd.DataFrame(rs.own_study("rnn_tanh", 1, "thesis", 1, (("h2h", 100, 1),), n_train=96, n_test=48,
                                     levels=(100,)))
    r3 = rows[(rows.kind == "h2h") & (rows.epoch == 1)].acc.item()
    got = rs.kept_weight_study("rnn_tanh", 1, 1, 1, n_train=96, n_test=48)
    assert got["acc"] == pytest.approx(r3)  # the same model as own_study's R3 row
    assert len(got["kept"]) >= 1 and all(name.startswith("rnn.weight_hh_l") for name, *_ in got["kept"])
    assert 0 <= got["same_as_length_only"] <= 1 and 0 <= got["acc_without_kept"] <= 1


def test_parallel_map_runs_costly_jobs_first_and_keeps_order():
    jobs = [(i, 0) for i in range(6)]
    got = parallel_map(_square, jobs, workers=2, show_progress=False, cost=lambda job: job[0] % 3)
    assert got == [i * i for i in range(6)]
