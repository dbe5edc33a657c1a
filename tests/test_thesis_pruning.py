"""The thesis's artefacts, its model in our class (against a step-by-step oracle of its equations),
its pruning rule (against numpy) and its padded-batch evaluation."""

import numpy as np
import pytest
import torch

from sparsekit.masks import percentile_masks
from sparsekit.rnn import CELLS, RNNClassifier, recurrent_weights
from sparsekit.studies.rnn_pruning import data as thesis
from sparsekit.studies.rnn_pruning.thesis import LEVELS, padded_batch_accuracy, prune_like_thesis, thesis_row_agrees

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}


def thesis_like_state_dict(cell, vocab=128, embed=6, hidden=5, layers=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {"embedding.weight": torch.randn(vocab, embed, generator=g)}
    for layer in range(layers):
        n_in = embed if layer == 0 else hidden
        p = f"recurrent.recurrent_layers.{layer}."
        gs = GATES[cell] * hidden
        sd[p + "weight_ih"] = torch.randn(gs, n_in, generator=g) * 0.5
        sd[p + "weight_hh"] = torch.randn(gs, hidden, generator=g) * 0.5
        sd[p + "bias_ih"] = torch.randn(gs, generator=g) * 0.1
        sd[p + "bias_hh"] = torch.randn(gs, generator=g) * 0.1
        sd[p + "mask_i2h"] = torch.rand(gs, n_in, generator=g) > 0.3
        sd[p + "mask_h2h"] = torch.ones(gs, hidden, dtype=torch.bool)
    sd["out.weight"] = torch.randn(2, hidden, generator=g)
    sd["out.bias"] = torch.randn(2, generator=g)
    return sd


def thesis_forward(sd, cell, x):
    """The thesis's equations step by step (sparse.py / layer.py of its code): a Python loop over
    time and layers, weights times masks, the output read at the last (padded) step."""
    h_in = sd["embedding.weight"][x]  # (B, T, E)
    layers = sorted({int(k.split(".")[2]) for k in sd if k.startswith("recurrent")})
    for layer in layers:
        p = f"recurrent.recurrent_layers.{layer}."
        w_ih = sd[p + "weight_ih"] * sd[p + "mask_i2h"]
        w_hh = sd[p + "weight_hh"] * sd[p + "mask_h2h"]
        hidden = w_hh.shape[1]
        h = torch.zeros(x.shape[0], hidden)
        c = torch.zeros_like(h)
        outs = []
        for t in range(x.shape[1]):
            ig = h_in[:, t] @ w_ih.T + sd[p + "bias_ih"]
            hg = h @ w_hh.T + sd[p + "bias_hh"]
            if cell == "rnn_tanh":
                h = torch.tanh(ig + hg)
            elif cell == "rnn_relu":
                h = torch.relu(ig + hg)
            elif cell == "gru":
                ir, ii, inew = ig.chunk(3, 1)
                hr, hi, hnew = hg.chunk(3, 1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(ii + hi)
                n = torch.tanh(inew + r * hnew)
                h = n + z * (h - n)
            else:
                i, f, gg, o = (ig + hg).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
                h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        h_in = torch.stack(outs, 1)
    return h_in[:, -1] @ sd["out.weight"].T + sd["out.bias"]


@pytest.mark.parametrize("cell", CELLS)
def test_our_model_computes_the_thesis_equations(cell):
    sd = thesis_like_state_dict(cell, seed=CELLS.index(cell))
    model = RNNClassifier.from_thesis(sd, cell)
    x = torch.randint(1, 128, (4, 9))
    x[0, 6:] = 0  # a padded string
    lengths = torch.tensor([6, 9, 9, 9])
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths), thesis_forward(sd, cell, x), rtol=1e-5, atol=1e-5)


def test_from_thesis_refuses_other_state_dicts():
    with pytest.raises(ValueError, match="thesis's model"):
        RNNClassifier.from_thesis({"weight": torch.zeros(2, 2)}, "gru")
    with pytest.raises(ValueError, match="gate block"):
        RNNClassifier.from_thesis(thesis_like_state_dict("gru"), "lstm")
    with pytest.raises(ValueError, match="read"):
        RNNClassifier("gru", read="middle")


@pytest.mark.parametrize("percent", [0, 10, 37.5, 50, 90, 100])
def test_percentile_masks_follow_numpy(percent):
    g = torch.Generator().manual_seed(1)
    ws = {"a": torch.randn(7, 5, generator=g), "b": torch.randn(3, 11, generator=g)}
    ws["a"][0, :3] = 0.25  # ties
    ws["b"][0, :2] = -0.25
    masks = percentile_masks(ws, percent)
    pooled = np.concatenate([w.abs().flatten().numpy() for w in ws.values()])
    thr = np.percentile(pooled, percent)
    for n, w in ws.items():
        np.testing.assert_array_equal(masks[n].numpy(), ~(w.abs().numpy() < thr))
    kept = sum(int(m.sum()) for m in masks.values())
    if percent == 100:
        assert kept >= 1  # the largest weight survives "100%"
    if percent == 0:
        assert kept == pooled.size
    with pytest.raises(ValueError, match="percent"):
        percentile_masks(ws, 101)


def test_the_artefacts_load():
    data = thesis.load_thesis_reber()
    assert (len(data.train), len(data.test)) == (18_750, 6_250)
    assert set(data.y_test.tolist()) == {0, 1}
    for cell in CELLS:
        log = thesis.load_thesis_prune_log(cell)
        assert log.kind.value_counts().to_dict() == {"both": 110, "i2h": 110, "h2h": 110, "base": 50}
        assert sorted(log[log.epoch == 0].prune.unique()) == list(LEVELS)
    assert thesis.load_thesis_structure("gru").graph.value_counts().to_dict() == {
        "barabasi_albert": 100, "watts_strogatz": 100}
    with pytest.raises(ValueError, match="cell"):
        thesis.load_thesis_state_dict("transformer")


@pytest.mark.parametrize("kind", ["i2h", "h2h", "both"])
def test_prune_like_thesis_touches_only_its_kind(kind):
    model = RNNClassifier.from_thesis(thesis.load_thesis_state_dict("gru"), "gru")
    pruned, removed = prune_like_thesis(model, 60, kind)
    assert removed == pytest.approx(0.6, abs=0.01)
    before, after = dict(model.named_parameters()), dict(pruned.named_parameters())
    chosen = set(recurrent_weights(model, kind))
    zeros = sum(int((after[n] == 0).sum()) for n in chosen) / sum(after[n].numel() for n in chosen)
    assert zeros == pytest.approx(0.6, abs=0.01)  # one threshold pooled over the layers: 60% of all of them
    for n in before:
        if n in chosen:
            assert (after[n] == 0).float().mean() > 0.3  # each matrix loses its share, not exactly 60%
        else:
            assert torch.equal(before[n], after[n]), n


def test_padded_batches_equal_the_true_last_read_when_nothing_is_padded():
    data = thesis.load_thesis_reber()
    strings, labels = data.test[:300], data.y_test[:300]
    model = RNNClassifier.from_thesis(thesis.load_thesis_state_dict("rnn_tanh"), "rnn_tanh")
    one_by_one = padded_batch_accuracy(model, strings, labels, batch_size=1, seed=None)
    model.read = "last"
    assert padded_batch_accuracy(model, strings, labels, batch_size=64, seed=3) == pytest.approx(one_by_one)
    assert padded_batch_accuracy(model, strings, labels, batch_size=64, seed=4) == pytest.approx(one_by_one)
    with pytest.raises(ValueError, match="differ"):
        padded_batch_accuracy(model, strings, labels[:5])


def test_rule_r0_can_fail():
    import pandas as pd

    t = pd.DataFrame({"thesis": [0.93, 0.60, 0.515], "ours_min": [0.925, 0.55, 0.52], "ours_max": [0.94, 0.58, 0.53]})
    assert thesis_row_agrees(t, 0.01).tolist() == [True, False, True]  # 0.60 is 2 points above 0.58
    assert not thesis_row_agrees(t, 0.01).all()
    assert thesis_row_agrees(t, 0.03).all()
    with pytest.raises(ValueError, match="columns"):
        thesis_row_agrees(t.drop(columns="ours_min"))


def test_one_pass_gives_the_same_answer_as_the_thesis_loop():
    """The shortcut (one forward over all strings, read at each batch's longest length - 1) against
    the thesis's own loop: shuffle, cut into batches, pad each to its longest, read the last step."""
    from sparsekit.data.reber import encode

    data = thesis.load_thesis_reber()
    strings, labels = data.test[:200], data.y_test[:200]
    model = RNNClassifier.from_thesis(thesis.load_thesis_state_dict("gru"), "gru")
    pruned, _ = prune_like_thesis(model, 90, "both")  # a model whose answers depend on the padding
    for seed in (0, 1):
        order = np.random.default_rng(seed).permutation(len(strings))
        correct = 0
        with torch.no_grad():
            for i in range(0, len(order), 32):
                idx = order[i : i + 32]
                x, lengths = encode([strings[j] for j in idx])
                correct += int((pruned(x, lengths).argmax(-1) == labels[torch.as_tensor(idx)]).sum())
        assert padded_batch_accuracy(pruned, strings, labels, 32, seed) == pytest.approx(correct / len(strings))
