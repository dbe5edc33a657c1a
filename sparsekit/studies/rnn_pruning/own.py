"""Notebook 02's experiments on networks we train ourselves, and their rules.

- :func:`study_data`, :func:`negatives_profile`, :func:`first_failure`: the thesis's strings and our
  one-edit negatives, and how easy a set's negatives are; :func:`last_two_guess`: the classifier
  that sees only a string's last two symbols (what a plain cell computes at "100%" h2h);
- :func:`own_study`: one (cell, seed) of the pruning study on a base model we train - on the
  thesis's strings or on our one-edit negatives - with the thesis's optimiser (Adam, lr 1e-3,
  batch 32, gradient norm clipped at 5), pruned by its rule at every level and mode, and retrained
  with the mask fixed where the rules need it, with the controls (an exact-count mask, the
  thesis's padded read, a fresh initialisation with the same mask);
- :func:`length_study`: R1 against the number of training passes;
- the rules, each a small function a unit test feeds counter-examples: :func:`keeps_base` (R1),
  :func:`falls_and_recovers` (R2), :func:`gated_contrast` (R3, R8, R9),
  :func:`longer_training_tolerates` (R10), :func:`recovers_not_relearns` (X2),
  :func:`no_more_than_last_two` (X3). R0 and R5 are in :mod:`sparsekit.studies.rnn_pruning.thesis`,
  the graph networks' (R4, R6, R7) in :mod:`sparsekit.studies.rnn_pruning.graphs`.

The job functions take plain arguments and load their own data, so
:func:`sparsekit.utils.parallel_map` can run them on two one-thread processes.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch

from sparsekit.checks import has_columns
from sparsekit.data.reber import ALPHABET, FINAL, TRANSITIONS, encode, make_reber
from sparsekit.prune import Pruner
from sparsekit.rnn import CELLS, RNNClassifier, accuracy, train_sequences
from sparsekit.seeds import derive_seed, seeded
from sparsekit.verdicts import Decision, decide, decide_every

from .data import load_thesis_reber
from .thesis import LEVELS, padded_accuracy, thesis_masks

__all__ = ["DATASETS", "THESIS_BATCH", "THESIS_LR", "THESIS_CLIP", "VARIANTS", "first_failure", "negatives_profile",
           "study_data", "last_two_guess", "own_study", "length_study", "largest_drops", "keeps_base",
           "training_length_drops", "longer_training_tolerates", "falls_and_recovers", "recovers_not_relearns",
           "gated_contrast", "no_more_than_last_two"]

DATASETS = ("thesis", "one_edit")
THESIS_BATCH, THESIS_LR, THESIS_CLIP = 32, 1e-3, 5.0
GATED, PLAIN = ("gru", "lstm"), ("rnn_tanh", "rnn_relu")


@functools.lru_cache(maxsize=3)
def _one_edit(seed: int, n_train: int, n_test: int):
    """Our one-edit data, drawn once per process (drawing distinct valid strings is slow)."""
    return make_reber(n_train, n_test, seed=seed)


def study_data(name: str, seed: int = 0, n_train: int | None = None, n_test: int | None = None):
    """``(x_train, len_train, y_train, x_test, len_test, y_test)``: the thesis's 18,750 / 6,250
    strings (``"thesis"``) or ours (``"one_edit"``: each invalid string is a valid one with a single
    edit, generated with ``seed``: ``n_train`` / ``n_test`` of them, by default as many as the
    thesis's); ``n_train`` / ``n_test`` keep the first strings."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    data = load_thesis_reber() if name == "thesis" else _one_edit(seed, n_train or 18_750, n_test or 6_250)
    tr, te = slice(n_train), slice(n_test)
    return (*encode(data.train[tr]), data.y_train[tr], *encode(data.test[te]), data.y_test[te])


def first_failure(s: str) -> int:
    """The position of the first symbol of ``s`` that no string of the grammar has there, given
    what precedes it (``len(s)`` when every symbol fits but the string stops early, -1 for a valid
    string): an acceptor reading left to right rejects ``s`` at this symbol."""
    if not s or s[0] != "B":
        return 0
    state = 0
    for i, ch in enumerate(s[1:], start=1):
        if ch == "E" and state == FINAL:
            return -1 if i == len(s) - 1 else i + 1
        state = TRANSITIONS.get(state, {}).get(ch)
        if state is None:
            return i
    return len(s)


def _majority_guess(values_train, y_train, values_test, default: int | None = None) -> np.ndarray:
    """For each test value, the majority label of the training strings with that value (a one-feature
    classifier); a value never seen gets ``default`` (None: the overall majority)."""
    table = pd.DataFrame({"f": list(values_train), "y": [int(y) for y in y_train]})
    majority = table.groupby("f").y.mean().round().astype(int)
    default = int(round(table.y.mean())) if default is None else default
    return np.array([majority.get(v, default) for v in values_test])


def negatives_profile(train: list[str], y_train, test: list[str], y_test) -> dict[str, float]:
    """How easy a data set's invalid strings are: the share that an acceptor rejects within their
    first 3 symbols, the share holding a letter outside the grammar's alphabet, and the test
    accuracy of a classifier that sees only the length, of one that sees only the last symbol and
    of one that sees the last two (each value's majority label on the training strings; values it
    never saw get the overall majority)."""
    if len(train) != len(y_train) or len(test) != len(y_test):
        raise ValueError("strings and labels differ in length")
    neg = [t for t, y in zip(train, y_train) if not int(y)]
    if not neg:
        raise ValueError("the training strings hold no invalid string")
    truth = np.asarray([int(y) for y in y_test])

    def one_feature(feature) -> float:
        guess = _majority_guess([feature(t) for t in train], y_train, [feature(t) for t in test])
        return float(np.mean(guess == truth))

    return dict(fail_within_3=float(np.mean([0 <= first_failure(t) < 3 for t in neg])),
                foreign_letters=float(np.mean([any(c not in ALPHABET for c in t) for t in neg])),
                length_only_accuracy=one_feature(len), last_symbol_accuracy=one_feature(lambda t: t[-1:]),
                last_two_accuracy=one_feature(lambda t: t[-2:]))


def _test(model, data, seed: int) -> float:
    """Test accuracy: read at each string's last symbol, or (``read="padded_end"``) the thesis's test,
    shuffled batches of 32 (order ``seed``) each read at its last padded step."""
    if model.read == "padded_end":
        return padded_accuracy(model, *data[3:], seed=seed)
    return accuracy(model, *data[3:])


def _retrain(model, masks, data, epochs: int, seed: int):
    """Retrain ``model`` with ``masks`` fixed (a fresh Adam, as the thesis did); accuracy after each epoch."""
    xtr, ltr, ytr, xte, lte, yte = data
    pruner = Pruner(model, list(masks), masks)
    opt = pruner.attach(torch.optim.Adam(model.parameters(), lr=THESIS_LR))
    gen = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(epochs):
        train_sequences(model, opt, xtr, ltr, ytr, 1, THESIS_BATCH, gen, clip_grad=THESIS_CLIP)
        accs.append(_test(model, data, seed))
    pruner.detach()
    return accs


def _train_base(cell: str, seed: int, data, epochs: int, read: str = "last") -> RNNClassifier:
    xtr, ltr, ytr = data[:3]
    with seeded(seed):
        model = RNNClassifier(cell, read=read)
    opt = torch.optim.Adam(model.parameters(), lr=THESIS_LR)
    train_sequences(model, opt, xtr, ltr, ytr, epochs, THESIS_BATCH, torch.Generator().manual_seed(seed),
                    clip_grad=THESIS_CLIP)
    return model


VARIANTS = ("pruned", "exact", "padded", "fresh")


def last_two_guess(x_train: torch.Tensor, len_train: torch.Tensor, y_train, x_test: torch.Tensor,
                   len_test: torch.Tensor) -> np.ndarray:
    """The comparator of R3's plain cells: for each test string, the majority label of the training
    strings that end in the same two symbols (encoded strings, ``sparsekit.data.reber.encode``)."""
    def last_two(x, lengths):
        rows = torch.arange(len(x))
        return list(zip(x[rows, (lengths - 2).clamp(min=0)].tolist(), x[rows, lengths - 1].tolist()))

    return _majority_guess(last_two(x_train, len_train), y_train, last_two(x_test, len_test))


@torch.no_grad()
def _predictions(model, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + 1024], lengths[i : i + 1024]).argmax(-1) for i in range(0, len(x), 1024)])


def _inside(model, masks, data) -> dict:
    """What a model retrained at 100% h2h computes: the weights its mask keeps, its agreement with
    the last-two-symbols comparator, and its accuracy with the kept weights zeroed too (it leaves
    them zeroed: :func:`own_study` reloads the base model before each retraining)."""
    xtr, ltr, ytr, xte, lte, yte = data
    guess = torch.as_tensor(last_two_guess(xtr, ltr, ytr, xte, lte))
    params = dict(model.named_parameters())
    kept = ", ".join(f"{n}[{r},{c}] = {float(params[n].detach()[r, c]):+.3f}"
                     for n, m in masks.items() for r, c in m.nonzero().tolist())
    out = dict(kept=kept or "none", last_two_acc=float((guess == yte).float().mean()),
               agree_last_two=float((_predictions(model, xte, lte) == guess).float().mean()))
    with torch.no_grad():
        for n in masks:
            params[n].mul_(0)
    out["acc_without_kept"] = _test(model, data, 0)
    return out


def _pruned_accuracy(model, state, data, seed: int, kind: str, percent: float) -> float:
    """Test accuracy of the model ``state`` right after the thesis's rule prunes ``percent`` % of its
    ``kind`` of matrices (``model`` is left pruned)."""
    model.load_state_dict(state)
    masks = thesis_masks(model, percent, kind)
    Pruner(model, list(masks), masks)  # applies the masks
    return _test(model, data, seed)


def own_study(cell: str, seed: int, dataset: str = "thesis", base_epochs: int = 1, retrain=(("both", 90, 1),),
              n_train: int | None = None, n_test: int | None = None, levels=LEVELS, read: str = "last") -> list[dict]:
    """One base model of ``cell`` trained for ``base_epochs`` passes over the training strings,
    pruned by the thesis's rule at every level of every mode (accuracy right after: ``epoch`` 0),
    and for each ``(kind, percent, epochs[, variant])`` of ``retrain`` retrained that many passes
    with the mask fixed (the same batch order for every variant of a level). ``variant``:
    ``"pruned"`` (default) the base model pruned by the thesis's rule; ``"exact"`` pruned by an
    exact count instead (100%: no weight left); ``"padded"`` retrained and tested with the thesis's
    padded read; ``"fresh"`` the control - a fresh initialisation with the pruned model's mask.
    The model reads each string's last symbol (``read="last"``) or, as the thesis's did, the last
    padded step of its batch (``"padded_end"``, tested in shuffled batches of 32, order ``seed``).
    One row per measurement; a "pruned" retraining at 100% h2h adds :func:`_inside`'s columns to
    its last row."""
    retrain = [(*r, "pruned") if len(r) == 3 else tuple(r) for r in retrain]
    for r in retrain:
        if r[3] not in VARIANTS:
            raise ValueError(f"a retraining variant must be one of {VARIANTS}, got {r[3]!r}")
    data = study_data(dataset, seed, n_train, n_test)
    model = _train_base(cell, seed, data, base_epochs, read)
    base = _test(model, data, seed)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    key = dict(dataset=dataset, seed=seed, cell=cell, base=base)
    rows = [dict(key, kind="none", prune=0, epoch=0, acc=base, variant="pruned")]
    for kind in ("i2h", "h2h", "both"):
        for percent in levels:
            acc = _pruned_accuracy(model, state, data, seed, kind, percent)
            rows.append(dict(key, kind=kind, prune=percent, epoch=0, acc=acc, variant="pruned"))
    for kind, percent, epochs, variant in retrain:
        model.load_state_dict(state)
        masks = thesis_masks(model, percent, kind, "exact" if variant == "exact" else "percentile")
        net = model
        if variant == "fresh":
            with seeded(derive_seed(seed, "fresh", kind, percent)):
                net = RNNClassifier(cell, read=read)
        net.read = "padded_end" if variant == "padded" else read
        accs = _retrain(net, masks, data, epochs, seed * 1000 + percent)
        rows += [dict(key, kind=kind, prune=percent, epoch=e, acc=a, variant=variant)
                 for e, a in enumerate(accs, start=1)]
        if variant == "pruned" and (kind, percent) == ("h2h", 100) and read == "last":
            rows[-1].update(_inside(net, masks, data))
        model.read = read
    return rows


def length_study(cell: str, seed: int, lengths=(1, 2, 5, 10), n_train: int | None = None, n_test: int | None = None,
                 levels=(10, 20, 30, 40, 50, 60)) -> list[dict]:
    """R1 against training length: one base model of ``cell`` (the thesis's data and optimiser,
    read at each string's last symbol) trained on, and after each number of passes in ``lengths``
    tested unpruned and right after pruning "both" at each of ``levels`` by the thesis's rule.
    After ``n`` passes it is the base model of :func:`own_study` with ``base_epochs=n``. One row
    per measurement, with ``trained`` the number of passes."""
    lengths = sorted(int(n) for n in lengths)
    if not lengths or lengths[0] < 1:
        raise ValueError(f"lengths must be positive numbers of passes, got {lengths}")
    data = study_data("thesis", seed, n_train, n_test)
    xtr, ltr, ytr = data[:3]
    with seeded(seed):
        model = RNNClassifier(cell)
    opt = torch.optim.Adam(model.parameters(), lr=THESIS_LR)
    gen, done, rows = torch.Generator().manual_seed(seed), 0, []
    for n in lengths:
        if n > done:
            train_sequences(model, opt, xtr, ltr, ytr, n - done, THESIS_BATCH, gen, clip_grad=THESIS_CLIP)
        done = n
        state = {k: v.clone() for k, v in model.state_dict().items()}
        base = _test(model, data, seed)
        key = dict(dataset="thesis", seed=seed, cell=cell, base=base, trained=n, epoch=0)
        rows.append(dict(key, kind="none", prune=0, acc=base))
        rows += [dict(key, kind="both", prune=p, acc=_pruned_accuracy(model, state, data, seed, "both", p))
                 for p in levels]
        model.load_state_dict(state)  # train on from the unpruned model
    return rows


# ---------------------------------------------------------------------------- rules


def largest_drops(rows: pd.DataFrame, max_prune: int = 60) -> pd.Series:
    """Each cell's largest accuracy drop right after pruning "both" at 0 < level <= ``max_prune`` %,
    over seeds and levels (what R1 and X1 report)."""
    return _drops_per_seed(rows, max_prune).groupby(level=0).max()


def _variant(rows: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The rows of one retraining variant (rows without a ``variant`` column are all "pruned")."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return rows[rows.variant == variant] if "variant" in rows else (rows if variant == "pruned" else rows.iloc[:0])


def _drops_per_seed(rows: pd.DataFrame, max_prune: int, by=("cell", "seed")) -> pd.Series:
    has_columns("rows", rows, {"seed", "cell", "kind", "prune", "epoch", "acc", "base"})
    rows = _variant(rows, "pruned")
    low = rows[(rows.kind == "both") & (rows.epoch == 0) & (rows.prune > 0) & (rows.prune <= max_prune)]
    if low.empty:
        raise ValueError(f"rows hold no 'both' measurement at 0 < prune <= {max_prune}")
    return (low.base - low.acc).groupby([low[c] for c in by]).max()


def keeps_base(rows: pd.DataFrame, max_prune: int = 60, margin: float = 0.01) -> tuple[Decision, pd.Series]:
    """R1: right after pruning both kinds at every level up to ``max_prune`` %, each cell keeps its
    base accuracy within ``margin``: per cell, the interval rule on each seed's largest drop (over
    those levels) against ``margin``, "at most"; every cell. Returns the decision and each cell's
    largest drop over seeds and levels."""
    per_seed = _drops_per_seed(rows, max_prune)
    parts = {cell: decide(per_seed.loc[cell].to_numpy(), margin, "at most") for cell in per_seed.index.unique(0)}
    return decide_every(parts), per_seed.groupby(level=0).max()


def training_length_drops(rows: pd.DataFrame, max_prune: int = 60) -> pd.DataFrame:
    """R1's quantity against training length: each seed's largest drop right after pruning "both"
    (up to ``max_prune`` %), one row per (cell, seed), one column per number of passes (rows from
    :func:`length_study`)."""
    has_columns("rows", rows, {"trained"})
    return _drops_per_seed(rows, max_prune, ("cell", "trained", "seed")).unstack("trained")


def longer_training_tolerates(rows: pd.DataFrame, short: int = 1, long: int = 10, max_prune: int = 60,
                              bar: float = 0.01) -> tuple[Decision, pd.DataFrame]:
    """R10: a model trained ``long`` passes loses less right after pruning "both" (up to
    ``max_prune`` %) than the same model after ``short`` passes: the interval rule on each seed's
    largest drop after ``short`` minus after ``long`` passes, at least ``bar``, for each cell in
    ``rows`` (from :func:`length_study`). Returns the decision and :func:`training_length_drops`."""
    drops = training_length_drops(rows, max_prune)
    if short not in drops or long not in drops:
        raise ValueError(f"rows need models trained {short} and {long} passes, got {sorted(drops.columns)}")
    parts = {cell: decide((t[short] - t[long]).to_numpy(), bar) for cell, t in drops.groupby(level=0)}
    return decide_every(parts), drops


def falls_and_recovers(rows: pd.DataFrame, prune: int = 90, kind: str = "both", fall: float = 0.01,
                       back: float = 0.02) -> tuple[Decision, pd.DataFrame]:
    """R2: at ``prune`` % of ``kind`` accuracy falls - the interval rule on base - accuracy right after
    pruning over every (seed, cell), at least ``fall`` - and one retraining epoch brings every cell
    back - per cell, the interval rule on accuracy after it - base, at least ``-back``."""
    has_columns("rows", rows, {"seed", "cell", "kind", "prune", "epoch", "acc", "base"})
    rows = _variant(rows, "pruned")
    sel = rows[(rows.kind == kind) & (rows.prune == prune)]
    table = sel.pivot_table(index=["cell", "seed"], columns="epoch", values="acc").join(
        sel.groupby(["cell", "seed"]).base.first())
    if 0 not in table or 1 not in table:
        raise ValueError(f"rows need epochs 0 and 1 at {kind} {prune}%")
    parts = {"falls": decide((table.base - table[0]).to_numpy(), fall)}
    for cell in table.index.unique(0):
        t = table.loc[cell]
        parts[f"{cell} back"] = decide((t[1] - t.base).to_numpy(), -back)
    return decide_every(parts), table


def _last_epoch(rows: pd.DataFrame, kind: str, prune: int, variant: str) -> pd.DataFrame:
    sel = _variant(rows, variant)
    sel = sel[(sel.kind == kind) & (sel.prune == prune) & (sel.epoch > 0)]
    return sel[sel.epoch == sel.epoch.max()]


def recovers_not_relearns(rows: pd.DataFrame, kind: str = "both", prune: int = 90, bar: float = 0.01,
                          cells=CELLS) -> tuple[Decision, pd.DataFrame]:
    """X2, the control of R2 and R3: after the same retraining, the pruned model beats a fresh
    initialisation with its mask (variant "fresh") by at least ``bar`` - per cell of ``cells``, the
    interval rule on the paired (seed) differences at the last retraining epoch; every cell. If it
    does not, "back to base" may be training from scratch. Returns the decision and the table."""
    has_columns("rows", rows, {"seed", "cell", "kind", "prune", "epoch", "acc"})
    pruned = _last_epoch(rows, kind, prune, "pruned").set_index(["cell", "seed"]).acc
    fresh = _last_epoch(rows, kind, prune, "fresh").set_index(["cell", "seed"]).acc
    table = pd.DataFrame({"pruned": pruned, "fresh": fresh}).dropna()
    absent = set(cells) - set(table.index.unique(0) if len(table) else [])
    if absent:
        raise ValueError(f"rows lack pruned and fresh retraining at {kind} {prune}% for {sorted(absent)}")
    table = table.loc[list(cells)]
    parts = {c: decide((t.pruned - t.fresh).to_numpy(), bar) for c, t in table.groupby(level=0)}
    return decide_every(parts), table


def gated_contrast(rows: pd.DataFrame, prune: int = 100, gated_min: float = 0.95, plain_max: float = 0.60,
                   variant: str = "pruned", cells=CELLS) -> tuple[Decision, pd.DataFrame]:
    """R3 (R8, R9 with ``variant`` "exact" / "padded" on the plain ``cells``): after the last
    retraining epoch at ``prune`` % h2h, GRU and LSTM reach at least ``gated_min`` (per cell, the
    interval rule over seeds), and RNN-Tanh and RNN-ReLU stay at most ``plain_max`` (per cell, on
    each seed's best epoch). Every one of ``cells`` must be present."""
    has_columns("rows", rows, {"seed", "cell", "kind", "prune", "epoch", "acc"})
    sel = _variant(rows, variant)
    sel = sel[(sel.kind == "h2h") & (sel.prune == prune) & (sel.epoch > 0) & sel.cell.isin(cells)]
    absent = set(cells) - set(sel.cell)
    if absent:
        raise ValueError(f"rows lack {variant} retraining at h2h {prune}% for {sorted(absent)}")
    last_rows = sel[sel.epoch == sel.epoch.max()]
    last = last_rows.groupby("cell").acc.agg(["min", "max"])
    best = sel.groupby("cell").acc.max()
    parts = {c: decide(last_rows[last_rows.cell == c].acc.to_numpy(), gated_min) for c in GATED if c in cells}
    best_per_seed = sel.groupby(["cell", "seed"]).acc.max()
    parts.update({c: decide(best_per_seed.loc[c].to_numpy(), plain_max, "at most") for c in PLAIN if c in cells})
    return decide_every(parts), last.assign(best=best)


def no_more_than_last_two(rows: pd.DataFrame, margin: float = 0.01) -> tuple[Decision, pd.DataFrame]:
    """X3: at 100% h2h by the thesis's rule (read at the last symbol), the plain cells compute no
    more than the last two symbols do: per plain cell, the interval rule on each seed's accuracy
    after the last retraining epoch minus the last-two-symbols comparator's, at most ``margin``;
    both cells. Returns the decision and the table (with the share of agreeing predictions)."""
    has_columns("rows", rows, {"seed", "cell", "kind", "prune", "epoch", "acc", "last_two_acc", "agree_last_two"})
    last = _last_epoch(rows, "h2h", 100, "pruned")
    last = last[last.cell.isin(PLAIN) & last.last_two_acc.notna()]
    absent = set(PLAIN) - set(last.cell)
    if absent:
        raise ValueError(f"rows lack the comparator at h2h 100% for {sorted(absent)}")
    table = last.set_index(["cell", "seed"])[["acc", "last_two_acc", "agree_last_two"]]
    parts = {c: decide((t.acc - t.last_two_acc).to_numpy(), margin, "at most") for c, t in table.groupby(level=0)}
    return decide_every(parts), table
