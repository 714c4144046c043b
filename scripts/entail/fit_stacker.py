"""Fit the stacked grader (agent/grading/stacked.py) on the project's graded interview answers.

    python scripts/entail/fit_stacker.py            # -> agent/grading/entail_model/stacked.json
    python scripts/entail/fit_stacker.py --report   # only print the shipped model's figures (or --report FILE)
    python scripts/entail/fit_stacker.py --grades-cache /tmp/grades.pkl   # a second fit skips the grading
    python scripts/entail/fit_stacker.py --grades-cache /tmp/grades.pkl --hold-out-round answers_round4.jsonl

Data: every ``*.jsonl`` in data/graded_answers/ (written and graded for this purpose; see its README), split by
the bank question's topic (``split_of``); each round of it was written by other writers. The train and dev answers
that speak_graded_answers.py spoke and transcribed (data/graded_answers/heard/) are fitted on too, graded as their
typed answers, so that a spoken answer is graded as what was meant (``load_heard``). The model is chosen over
the train and dev topics by leaving one round out at a time: fitted on the other rounds (scikit-learn), how well
does it rank the left-out round's answers (mean Spearman over rounds)? Candidates: ridge regressions and
gradient-boosted trees (HistGradientBoostingRegressor) of a few sizes, free or monotone in the graders' scores;
a richer model must beat a simpler one clearly. The choice is refitted on the train and dev topics and graded
once on the test topics, printed beside each grader alone and the answer length alone, per round of writing.
Least squares draws the grades toward the mean; a monotone calibration fitted on the left-out rounds' predictions
gives back the grades' scale (their percentiles mapped onto the grades', or the mean grade of answers predicted
alike: whichever errs less on each round left out, its map fitted on the other rounds). Three stackers are
fitted: one that also reads the graded answers to the same question as anchors (agent/grading/anchors.py; each
answer's anchors are the other rounds' answers, never its own round's), shipped with anchors.npz; one without them,
for the user's own questions; and one for a rubric derived from a reference answer (agent/grading/adhoc.py), fitted
on every answer graded against both its bank rubric and the rubric derived from its question's reference answer.
``--hold-out-round`` leaves one round out of the fit and of the anchors and reports that round: how the stacker
grades writers it has not seen.
Deterministic: fixed seeds, no sampling.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pickle
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "data" / "graded_answers"
OUT = ROOT / "agent" / "grading" / "entail_model" / "stacked.json"
HEARD = DATA / "heard" / "heard.jsonl"  # graded answers spoken and transcribed (speak_graded_answers.py)
# the graders the stacker joins. All three: the embedding grader alone, and with the contrastive one, ranked the
# graded answers' train and dev topics as well in cross-validation (0.861 and 0.858 against 0.856) and the test
# topics nearly as well, but the interview answers the project only checks against fell from 0.66 to 0.58 without
# the cross-encoder, a gap this data did not show.
PARTS = ("embedding", "contrastive", "entail")
# candidates, simplest first (a monotone model before a free one of the same size): (name, kind, parameters).
# "monotone": the grade may only rise with a grader's score, covered share and credit and with the anchors'
# grades, and only fall with a misconception or adversarial flag and with how much closer a sentence comes to other
# writers' wrong claims than to their correct ones (scikit-learn's monotonic_cst)
CANDIDATES = [("ridge alpha 1", "ridge", {"alpha": 1.0}), ("ridge alpha 10", "ridge", {"alpha": 10.0})] + [
    (f"trees {n}x depth {d}, leaf {leaf}{', monotone' if mono else ''}", "trees",
     {"max_iter": n, "max_depth": d, "min_samples_leaf": leaf, "learning_rate": 0.05, "monotone": mono})
    for n in (200, 400) for d in (2, 3, 4) for leaf in (10, 30) for mono in (True, False)]


# the kinds of graded answer that state an error (graded at most 2) and that game the grader (at most 1)
MISCONCEPTION_KINDS = ("misconception", "misconception_rubric", "misconception_other", "misconception_plain",
                       "error_unlisted", "misconception_subtle", "mechanism_confused", "spoken_misconception",
                       "misconception_core", "misconception_reasoned", "misconception_hedged", "wrong_detail",
                       "misconception_then_right", "spoken_error", "error_number_or_name", "error_reversed",
                       "spoken_misconception_passing", "core_mechanism_wrong", "wrong_quantity", "short_misconception",
                       "right_then_wrong_conclusion", "misconception_stated", "error_confident")
GAMING_KINDS = ("gaming", "adversarial", "hollow", "off_question", "buzz_sentences", "keyword_string")
CALIBRATION_KNOTS = 101  # percentiles 0, 1, ..., 100 of the out-of-fold predictions and of the grades


CALIBRATIONS = ("isotonic", "quantile")  # the first one wins a tie


def calibration(method: str, pred, truth):
    """A monotone map from predictions to grades, as knots (x, y) read by linear interpolation (held at the ends):
    ``"isotonic"``, the mean grade of answers predicted alike (scikit-learn's IsotonicRegression, read at the
    predictions' percentiles and given a slight rise so that no two predictions tie); ``"quantile"``, the
    predictions' percentiles mapped onto the grades' (the grades' spread, not their mean given the prediction)."""
    import numpy as np

    qs = np.linspace(0.0, 1.0, CALIBRATION_KNOTS)
    x = np.quantile(pred, qs)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=5.0, out_of_bounds="clip").fit(pred, truth)
        return x, iso.predict(x) + np.linspace(0.0, 0.02, len(x))
    # grades come in half points: each is read as spread evenly over its half-point step, so that the map has
    # no flat runs (a flat run would give every answer in it the same grade)
    spread = np.clip((np.asarray(truth)[:, None] + np.linspace(-0.25, 0.25, 11)[None, :]).ravel(), 0.0, 5.0)
    return x, np.quantile(spread, qs)


def rho_of_cal(pred, truth, rounds) -> float:
    """The mean over rounds of the Spearman of each round's predictions."""
    import numpy as np
    from scipy.stats import spearmanr

    return float(np.mean([spearmanr(pred[rounds == h], truth[rounds == h]).statistic for h in sorted(set(rounds))]))


def split_of(topic: str) -> str:
    """A topic's split, by a hash of its name: about 20% test, 15% dev, the rest train."""
    h = int(hashlib.sha1(topic.encode("utf-8")).hexdigest(), 16) % 20
    return "test" if h < 4 else "dev" if h < 7 else "train"


def load(paths: list[Path] | None = None) -> list[dict]:
    """The graded answers of every ``*.jsonl`` in data/graded_answers/ (or of ``paths``), each with its file, line,
    topic and split."""
    from agent.bank import default_bank

    bank = default_bank()
    rows = []
    for path in sorted(DATA.glob("*.jsonl")) if paths is None else paths:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.strip():
                r = json.loads(line)
                r["file"], r["line"] = path.name, n
                r["topic"] = bank.question(r["id"]).topic
                r["split"] = split_of(r["topic"])
                rows.append(r)
    return rows


def load_heard(real: list[dict]) -> list[dict]:
    """The graded answers that speak_graded_answers.py spoke and transcribed as the app does: each a copy of its
    typed answer's row with what was heard as the answer and the same grade (the grade is of what was meant), so
    that the stacker learns to read a transcript's lost and misheard words as the answer's writer meant them.
    Fitted on and scored in the choice of model, never anchors (an anchor is what a writer wrote); a copy stays in
    its typed answer's round when a round is left out. Train and dev topics only."""
    if not HEARD.is_file():
        return []
    by_line = {(r["file"], r["line"]): r for r in real}
    out = []
    for n, line in enumerate(HEARD.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        h = json.loads(line)
        src = by_line.get((h["file"], h["line"]))
        if src is None or src["id"] != h["id"] or src["grade"] != h["grade"] or src["split"] == "test":
            raise SystemExit(f"{HEARD.relative_to(ROOT)} line {n}: {h['file']} line {h['line']} is not a train or dev "
                             f"answer to {h['id']!r} graded {h['grade']}: the graded answers changed since it was "
                             "spoken; remove the line and run scripts/entail/speak_graded_answers.py again")
        out.append(dict(src, answer=h["heard"], heard=True, voice=h["voice"]))
    return out


def term_lists(rows: list[dict]) -> list[dict]:
    """Generated gaming answers for the fit: half the train and dev answers graded 3 or more (chosen by a hash),
    each turned into a run of its own content words (shuffled, 8-14 of them, by spaces or commas), graded 0. A
    run of the right terms sits close to good answers of its question (anchors, cosine), so without such rows the
    stacker has few examples of an answer that names everything and says nothing. Never in the test topics,
    never anchors."""
    import random

    from agent.grading import text as tx

    out = []
    for r in rows:
        h = int(hashlib.sha1(r["answer"].encode("utf-8")).hexdigest(), 16)
        if r["split"] == "test" or r["grade"] < 3 or h % 2:
            continue
        rng = random.Random(h)
        terms = list(dict.fromkeys(tx.content_words(r["answer"])))
        rng.shuffle(terms)
        terms = terms[: rng.randint(8, 14)]
        if len(terms) < 4:
            continue
        answer = (", " if h % 4 == 0 else " ").join(terms)
        out.append(dict(r, kind="term_list_generated", answer=answer, grade=0.0, generated=True))
    return out


def grade_rows(rows: list[dict], parts: tuple[str, ...] = PARTS, cache: dict[str, dict[str, object]] | None = None,
               save: Callable[[], None] | None = None, save_every_s: float = 600.0) -> dict[str, list]:
    """Each of ``parts`` grades every row's answer to its bank question. With ``cache`` (grader key -> answer key
    -> Grade, see :func:`cached_grades`) only the answers it lacks are graded, and they are added to it as they
    come; ``save`` (when given) is called after each ``save_every_s`` seconds of grading, so a run that is stopped
    keeps what it graded."""
    from agent.bank import default_bank
    from agent.grading.base import get_scorer

    bank = default_bank()
    pairs = {(r["id"], r.get("rubric", "bank")): question_and_rubric(bank, r) for r in rows}
    rubric_json = {k: rubric.model_dump_json() for k, (_q, rubric) in pairs.items()}
    out = {}
    for name in parts:
        scorer = get_scorer(name)
        have = {} if cache is None else cache.setdefault(_grader_key(scorer), {})
        keys = [_answer_key(r, rubric_json[r["id"], r.get("rubric", "bank")]) for r in rows]
        todo = list(dict.fromkeys(k for k in keys if k not in have))
        if todo:
            t0 = time.perf_counter()
            by_key = dict(zip(keys, rows, strict=True))
            items = [(*pairs[by_key[k]["id"], by_key[k].get("rubric", "bank")], by_key[k]["answer"]) for k in todo]
            saved_at = t0
            for i in range(0, len(items), 64):
                have.update(zip(todo[i : i + 64], scorer.score_many(items[i : i + 64]), strict=True))
                if save is not None and time.perf_counter() - saved_at > save_every_s and i + 64 < len(items):
                    save()
                    saved_at = time.perf_counter()
                    print(f"  {name}: {i + 64} of {len(items)} answers graded, kept", flush=True)
            print(f"  graded {len(items)} answers with {name} in {time.perf_counter() - t0:.0f} s", flush=True)
        out[name] = [have[k] for k in keys]
    return out


def shipped_grades(rows: list[dict], grader: str = "stacked",
                   cache: dict[str, dict[str, object]] | None = None) -> list[float]:
    """``grader``'s grades of graded rows (their answers, to their bank questions). The shipped stacked grader
    reads the graded answers as anchors: each answer's come from the other rounds only (as in the fit), or it
    would find itself among them. ``cache`` is :func:`grade_rows`'s: a grader already run on these rows (alone or
    as a part of the stacked grader) is not run again."""
    if grader != "stacked":
        return [g.score for g in grade_rows(rows, (grader,), cache)[grader]]
    from agent.grading.anchors import embed, embed_sentences, get_anchors
    from agent.grading.stacked import Stacker, features

    st, anchors = Stacker(), get_anchors()
    grades = grade_rows(rows, tuple(st.parts), cache)
    answers = [r["answer"] for r in rows]
    vecs, sents = embed(answers), embed_sentences(answers)
    return [st.predict({**features({p: grades[p][i] for p in st.parts}, r["answer"]),
                        **(anchors.features(r["id"], vecs[i], exclude_round=r["file"], sentences=sents[i])
                           if anchors else {})})
            for i, r in enumerate(rows)]


def question_and_rubric(bank, row: dict):
    """The question and rubric a row is graded against: its bank question's rubric, or (``"rubric": "reference"``)
    the rubric ``viva score --reference`` derives from the question's reference answer, as for a question of the
    user's own (agent/grading/adhoc.py)."""
    from agent.grading.adhoc import adhoc_rubric

    q = bank.question(row["id"])
    if row.get("rubric", "bank") == "reference":
        return adhoc_rubric(q.prompt, q.model_answer)
    return q, bank.rubrics[row["id"]]


def _grader_key(scorer) -> str:
    return f"{scorer.name} {scorer.version} {scorer.model_name}"


def _answer_key(row: dict, rubric_json: str) -> str:
    """An answer to a question, graded against this rubric (a changed rubric grades it again)."""
    return hashlib.sha1(json.dumps([row["id"], row["answer"], rubric_json]).encode("utf-8")).hexdigest()


def cached_grades(rows: list[dict], cache: str | None) -> dict[str, list]:
    """:func:`grade_rows` of ``rows``, with the grades kept in the pickle ``cache`` (when given) per grader (its name,
    version and model) and answer: a second fit grades only the answers (or graders) that are new, and a fit stopped
    while grading keeps what it graded (written every ten minutes of grading)."""
    path = Path(cache) if cache else None
    saved: dict = {}
    if path is not None and path.exists():
        loaded = pickle.loads(path.read_bytes())  # a file this function wrote
        saved = loaded.get("per_grader", {}) if isinstance(loaded, dict) else {}
    before = {k: len(v) for k, v in saved.items()}

    def save() -> None:
        assert path is not None
        part = path.with_name(path.name + ".part")
        part.write_bytes(pickle.dumps({"per_grader": saved}))
        part.replace(path)  # a run stopped while writing leaves the last whole file

    grades = grade_rows(rows, cache=saved, save=save if path is not None else None)
    if path is not None and {k: len(v) for k, v in saved.items()} != before:
        save()
    elif path is not None:
        print(f"  grades from {path}")
    return grades


def same_arrays(path: Path, arrays: dict) -> bool:
    """Whether the .npz at ``path`` holds exactly ``arrays`` (a rewritten file differs in its zip dates alone)."""
    import numpy as np

    if not path.is_file():
        return False
    with np.load(path) as old:
        return set(old.files) == set(arrays) and all(
            old[k].dtype == np.asarray(v).dtype and np.array_equal(old[k], v) for k, v in arrays.items())


def report(rows: list[dict], pred: list[float]) -> dict:
    from scipy.stats import spearmanr

    true = [r["grade"] for r in rows]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r, p in zip(rows, pred, strict=True):
        by_kind[r["kind"]].append(p - r["grade"])
    mis = [p for r, p in zip(rows, pred, strict=True) if r["kind"] in MISCONCEPTION_KINDS]
    gaming = [p for r, p in zip(rows, pred, strict=True) if r["kind"] in GAMING_KINDS]
    return {"answers": len(rows), "spearman": round(float(spearmanr(pred, true).statistic), 4),
            "mae": round(sum(abs(p - t) for p, t in zip(pred, true, strict=True)) / len(rows), 3),
            "bias_by_kind": {k: round(sum(v) / len(v), 2) for k, v in sorted(by_kind.items())},
            "misconception_le_2": round(sum(p <= 2 for p in mis) / len(mis), 3) if mis else None,
            "gaming_le_1": round(sum(p <= 1 for p in gaming) / len(gaming), 3) if gaming else None}


def monotone(name: str) -> int:
    """The direction a feature may move the grade in a monotone model: +1, -1, or 0 (free)."""
    if name.endswith(("_score", "_covered", "_credit")) or name in ("anc_top1_grade", "anc_knn5", "anc_soft"):
        return 1
    return -1 if name.endswith(("_misconception", "_adversarial")) or name.startswith("anc_sent_err") else 0


def fit_model(kind: str, params: dict, x, y, names: list[str]):
    """One candidate fitted with scikit-learn: a ridge regression on standardised features (with its mean and
    scale) or HistGradientBoostingRegressor (monotone in the features :func:`monotone` names, if asked)."""
    if kind == "ridge":
        from sklearn.linear_model import Ridge

        mean, scale = x.mean(0), x.std(0) + 1e-9
        return Ridge(alpha=params["alpha"]).fit((x - mean) / scale, y), mean, scale
    from sklearn.ensemble import HistGradientBoostingRegressor

    p = {k: v for k, v in params.items() if k != "monotone"}
    if params.get("monotone"):
        p["monotonic_cst"] = [monotone(n) for n in names]
    return HistGradientBoostingRegressor(random_state=0, early_stopping=False, **p).fit(x, y), None, None


def predict_model(fitted, x):
    """What :func:`fit_model`'s model predicts for the rows of ``x`` (before calibration and caps)."""
    m, mean, scale = fitted
    return m.predict(x if mean is None else (x - mean) / scale)


def fit(kind: str, params: dict, x, y, names: list[str], parts: tuple[str, ...] = PARTS) -> dict:
    """Fit one candidate; returns its weights in stacked.json's form (without parts and caps)."""
    import numpy as np

    m, mean, scale = fit_model(kind, params, x, y, names)
    if kind == "ridge":
        return {"model": "ridge", "features": names, "mean": [round(float(v), 6) for v in mean],
                "scale": [round(float(v), 6) for v in scale], "coef": [round(float(v), 6) for v in m.coef_],
                "intercept": round(float(m.intercept_), 6), "alpha": params["alpha"]}
    trees = []
    for (pred,) in m._predictors:  # one tree per boosting round (single-output regression)
        nodes = pred.nodes
        if np.any(nodes["is_categorical"]):
            raise SystemExit("categorical splits are not supported")
        trees.append({"feature": [int(v) for v in nodes["feature_idx"]],
                      "threshold": [float(v) for v in nodes["num_threshold"]],
                      "left": [int(v) for v in nodes["left"]], "right": [int(v) for v in nodes["right"]],
                      "leaf": [int(v) for v in nodes["is_leaf"]], "value": [float(v) for v in nodes["value"]]})
    w = {"model": "trees", "features": names, "baseline": float(np.ravel(m._baseline_prediction)[0]),
         "trees": trees, "params": params}
    # the exported trees must predict exactly what scikit-learn does
    from agent.grading.stacked import Stacker

    st = Stacker(OUT, dict(w, parts=list(parts)))
    mine = np.array([st.raw(dict(zip(names, row, strict=True))) for row in x[:200]])
    if not np.allclose(mine, m.predict(x[:200]), atol=1e-6):
        raise SystemExit("exported trees disagree with scikit-learn")
    return w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", nargs="?", const=str(OUT), metavar="STACKED_JSON",
                    help="only print the test topics' figures of the shipped model (or of another stacked.json)")
    ap.add_argument("--grades-cache", metavar="PATH", help="keep the graders' grades in PATH (pickle) and reuse "
                    "them when it exists and matches the data: a second fit skips the grading")
    ap.add_argument("--hold-out-round", metavar="FILE", help="fit without one round of graded answers (e.g. "
                    "answers_round4.jsonl), its answers neither fitted on nor used as anchors, and report how the "
                    "stacker grades that round's answers (writers it has not seen); writes nothing")
    ap.add_argument("--without-heard", action="store_true", help="fit on the typed answers only, not on their "
                    "spoken and transcribed copies (data/graded_answers/heard/): the fit before them, to compare")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VIVA_GRADER_PRECISION", "float32")  # the same cross-encoder figures on any CPU
    import numpy as np
    from scipy.stats import spearmanr

    from agent.grading import anchors
    from agent.grading.embedding import ADVERSARIAL_CAP, MISCONCEPTION_CAP
    from agent.grading.stacked import Stacker, features

    t_start = time.perf_counter()
    real = load()
    held = args.hold_out_round
    if held and held not in {r["file"] for r in real}:
        sys.exit(f"--hold-out-round: no graded answers in {held!r}")
    heard = [] if args.without_heard else [r for r in load_heard(real) if r["file"] != held]
    rows = real + heard + term_lists([r for r in real if r["file"] != held])
    n_bank = len(rows)  # rows graded against their bank question's rubric; then the same against the reference's
    rows += [dict(r, rubric="reference") for r in rows[:n_bank]]
    split = {s: [i for i, r in enumerate(rows) if r["split"] == s] for s in ("train", "dev", "test")}
    print("answers per split:", {s: sum(1 for i in v if i < len(real)) for s, v in split.items()},
          "topics:", {s: len({rows[i]["topic"] for i in v}) for s, v in split.items()},
          "spoken and transcribed copies (train and dev):", len(heard),
          "generated term lists (train and dev):", n_bank - len(real) - len(heard),
          "; each also graded against its question's reference answer")
    grades = cached_grades(rows, args.grades_cache)
    fs = [features({p: grades[p][i] for p in PARTS}, r["answer"]) for i, r in enumerate(rows)]
    # the graded answers as anchors (agent/grading/anchors.py): each answer's features read from the other rounds'
    # answers to its question only, so the stacker learns what anchors written by someone else say. A rubric
    # derived from a reference answer stands for a question of the user's own: no anchors
    # the real answers are embedded apart from their copies and the term lists: a batch pads its texts alike, so
    # their vectors (all that anchors.npz keeps) stay the same while they do
    t0 = time.perf_counter()
    texts = [[r["answer"] for r in rows[: len(real)]], [r["answer"] for r in rows[len(real) : n_bank]]]
    vectors = np.concatenate([anchors.embed(t) for t in texts if t])
    print(f"  embedded {n_bank} answers in {time.perf_counter() - t0:.0f} s", flush=True)
    anchor_data = {"vectors": vectors[: len(real)].astype(np.float16),
                   "grades": np.array([r["grade"] for r in real], np.float32),
                   "questions": np.array([r["id"] for r in real]), "rounds": np.array([r["file"] for r in real])}
    # the sentence anchors: every sentence of the correct answers (label 0: graded 3.5 or more, not gaming) and, of
    # each answer that states an error (label 1), the one sentence least like any correct answer's to the same
    # question: most of an error answer's sentences are correct, and only its wrong claim should count as one
    t0 = time.perf_counter()
    sentences = [v for t in texts if t for v in anchors.embed_sentences(t)]
    print(f"  embedded {sum(map(len, sentences))} sentences in {time.perf_counter() - t0:.0f} s", flush=True)
    label = [1 if r["kind"] in MISCONCEPTION_KINDS else 0 if r["kind"] not in GAMING_KINDS and r["grade"] >= 3.5
             else -1 for r in real]
    correct_of: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(real):
        if label[i] == 0:
            correct_of[r["id"]].append(i)
    picked = {}  # answer row -> the rows of its sentences kept
    for i, r in enumerate(real):
        if label[i] == 0:
            picked[i] = np.arange(len(sentences[i]))
        elif label[i] == 1 and correct_of[r["id"]] and len(sentences[i]):
            ok = np.concatenate([sentences[j] for j in correct_of[r["id"]]])
            picked[i] = np.array([int(np.argmin((sentences[i] @ ok.T).max(axis=1)))])
    keep_rows = sorted(picked)
    anchor_data["sent_vectors"] = np.concatenate([
        np.round(sentences[i][picked[i]] * anchors.SENTENCE_SCALE).astype(np.int8) for i in keep_rows])
    anchor_data["sent_answer"] = np.concatenate([np.full(len(picked[i]), i, np.int32) for i in keep_rows])
    anchor_data["sent_label"] = np.concatenate([np.full(len(picked[i]), label[i], np.int8) for i in keep_rows])
    rounds = sorted({r["file"] for r in real} - {held})

    def anchor_features(without: set[str]) -> list[dict[str, float]]:
        """Each bank row's anchor features, read from the graded answers of the rounds not in ``without`` nor the
        row's own."""
        keep = np.array([r["file"] not in without for r in real])
        rows_kept = np.cumsum(keep) - 1  # an answer's row among those kept
        sent_keep = keep[anchor_data["sent_answer"]]
        own = anchors.Anchors(data={
            **{k: v[keep] for k, v in anchor_data.items() if not k.startswith("sent_")},
            "sent_vectors": anchor_data["sent_vectors"][sent_keep], "sent_label": anchor_data["sent_label"][sent_keep],
            "sent_answer": rows_kept[anchor_data["sent_answer"][sent_keep]]})
        return [own.features(r["id"], vectors[i], exclude_round=r["file"], sentences=sentences[i])
                for i, r in enumerate(rows[:n_bank])]

    anc_final = anchor_features({held})
    # leave one round out: the model that grades round h's answers never saw h's answers, nor read them as anchors
    anc_without = {h: anchor_features({held, h}) for h in rounds}
    all_names = sorted({k for f in fs for k in f} | {k for f in anc_final for k in f})
    y = np.array([r["grade"] for r in rows], dtype=float)

    def matrix(names: list[str], anc: list[dict[str, float]]) -> np.ndarray:
        merged = ({**f, **anc[i]} if i < n_bank else f for i, f in enumerate(fs))
        return np.array([[m.get(n, 0.0) for n in names] for m in merged])

    def full(i: int) -> dict[str, float]:
        """Row ``i``'s features as the shipped grader reads them."""
        return {**fs[i], **(anc_final[i] if i < n_bank else {})}

    # real answers only (term lists are generated from train and dev answers)
    te = [i for i in split["test"] if i < len(real)]
    te_ref = [i for i in split["test"] if i >= n_bank and not rows[i].get("generated")]
    test = [rows[i] for i in te]

    def test_figures(st: Stacker) -> dict:
        figs = {"stacked": report(test, [st.predict(full(i)) for i in te])}
        if st.fallback is not None:
            figs["stacked, no anchors (a question of the user's own)"] = report(
                test, [st.fallback.predict(fs[i]) for i in te])
        figs["stacked, rubric from the reference answer"] = report(
            [rows[i] for i in te_ref], [st.predict(fs[i], from_reference=True) for i in te_ref])
        for name in PARTS:
            figs[name] = report(test, [grades[name][i].score for i in te])
        figs["length alone (Spearman only)"] = {"spearman": round(float(spearmanr(
            [math.log1p(len(r["answer"].split())) for r in test], [r["grade"] for r in test]).statistic), 4)}
        for f in sorted({r["file"] for r in test}):
            idx = [i for i in te if rows[i]["file"] == f]
            figs[f"stacked, {f} only"] = report([rows[i] for i in idx], [st.predict(full(i)) for i in idx])
        return figs

    if args.report:
        for k, v in test_figures(Stacker(Path(args.report))).items():
            print(f"test topics, {k}: {json.dumps(v)}")
        return 0

    def fit_variant(variant: str, use: Callable[[str], bool], rows_ok: Callable[[int], bool],
                    judged: Callable[[int], bool]) -> dict:
        """Choose, fit and calibrate one stacker on the features ``use`` keeps, over the train and dev rows
        ``rows_ok`` keeps. The choice leaves one round of writers out at a time: fitted on the other rounds, how
        well does a candidate rank the left-out round's real answers that ``judged`` keeps (Spearman, the mean
        over rounds)? Writers the model has not seen are what it will grade."""
        fit_idx = np.array([i for i in split["train"] + split["dev"] if rows[i]["file"] != held and rows_ok(i)])
        names = [n for n in all_names if use(n)]
        x_final = matrix(names, anc_final)
        x_out = {h: matrix(names, anc_without[h]) for h in rounds} if any(n.startswith("anc_") for n in names) \
            else dict.fromkeys(rounds, x_final)
        file_of = np.array([rows[i]["file"] for i in fit_idx])
        scored = np.array([judged(i) and not rows[i].get("generated") for i in fit_idx])
        done: dict[str, np.ndarray] = {}

        def out_of_round(kind: str, params: dict, caps_from: list[str]) -> np.ndarray:
            """Each kept row's prediction by the candidate fitted without its round (scikit-learn's predict, which
            :func:`fit` checks the exported model against; the caps of :meth:`Stacker.predict`)."""
            key = json.dumps([kind, params, caps_from], sort_keys=True)
            if key not in done:
                out = np.zeros(len(fit_idx))
                for h in rounds:
                    a, b = fit_idx[file_of != h], fit_idx[(file_of == h) & scored]
                    if len(b):
                        out[(file_of == h) & scored] = predict_model(
                            fit_model(kind, params, x_out[h][a], y[a], names), x_out[h][b])
                for p in caps_from:
                    adv = np.array([bool(fs[i].get(f"{p}_adversarial")) for i in fit_idx])
                    mis = np.array([bool(fs[i].get(f"{p}_misconception")) for i in fit_idx])
                    out = np.where(adv, np.minimum(out, ADVERSARIAL_CAP), out)
                    out = np.where(mis, np.minimum(out, MISCONCEPTION_CAP), out)
                done[key] = np.clip(out, 0.0, 5.0)
            return done[key]

        def rho_of(pred: np.ndarray) -> float:
            """The mean over rounds of the Spearman of each left-out round's predictions."""
            return float(np.mean([spearmanr(pred[(file_of == h) & scored], y[fit_idx][(file_of == h) & scored])
                                  .statistic for h in rounds if ((file_of == h) & scored).any()]))

        best = None
        for label, kind, params in CANDIDATES:
            rho = rho_of(out_of_round(kind, params, []))
            print(f"  {variant}: {label}: Spearman {rho:.3f} on the round left out", flush=True)
            if best is None or rho > best[0] + 2e-3:  # a richer model must beat a simpler one clearly
                best = (rho, label, kind, params)
        rho, label, kind, params = best
        print(f"{variant}: chosen {label} (Spearman {rho:.3f} on the round left out)")
        # whose caps (adversarial at 1, misconception at 2) hold the fitted grade: chosen the same way
        best_caps = (rho, [])
        for caps_from in [[p] for p in PARTS] + [list(PARTS)]:
            rho_c = rho_of(out_of_round(kind, params, caps_from))
            print(f"  {variant}: caps of {caps_from}: Spearman {rho_c:.3f} on the round left out")
            if rho_c > best_caps[0] + 2e-3:
                best_caps = (rho_c, caps_from)
        print(f"{variant}: chosen caps {best_caps[1] or 'none'}")
        weights = {"parts": list(PARTS), **fit(kind, params, x_final[fit_idx], y[fit_idx], names),
                   "caps_from": best_caps[1], "chosen": label, "round_left_out_spearman": round(rho, 4),
                   "fitted_on": "data/graded_answers, train and dev topics; chosen by the mean Spearman on a round of "
                                "writers left out of the fit (and of the anchors), each round in turn"}
        # the calibration: a monotone map from the model's output to a grade (so the ranking stays the model's),
        # fitted on the predictions for the left-out rounds. Least squares draws the grades toward the mean on
        # writers the model has not seen; which map corrects that best is chosen the same way, by the mean
        # absolute error on each round left out, its map fitted on the other rounds' predictions
        oof = out_of_round(kind, params, [])[scored]
        truth, oof_round = y[fit_idx][scored], file_of[scored]
        kinds = np.array([rows[i]["kind"] for i in fit_idx])[scored]
        cross = {}
        for method in CALIBRATIONS:
            got = np.zeros(len(oof))
            for h in rounds:
                at = oof_round == h
                if at.any():
                    got[at] = np.clip(np.interp(oof[at], *calibration(method, oof[~at], truth[~at])), 0.0, 5.0)
            bias = [abs(float(np.mean(got[kinds == k] - truth[kinds == k]))) for k in sorted(set(kinds))]
            cross[method] = float(np.mean(np.abs(got - truth)))
            print(f"  {variant}: calibration {method}: MAE {cross[method]:.3f}, mean |bias| per kind "
                  f"{np.mean(bias):.3f}, Spearman {rho_of_cal(got, truth, oof_round):.3f} on the round left out")
        method = min(CALIBRATIONS, key=lambda m: cross[m] - (1e-3 if m == CALIBRATIONS[0] else 0.0))
        print(f"{variant}: chosen calibration {method}")
        cx, cy = calibration(method, oof, truth)
        weights["calibration"] = {"x": [round(float(v), 5) for v in cx], "y": [round(float(v), 5) for v in cy],
                                  "method": method, "round_left_out_mae": round(cross[method], 4),
                                  "fitted_on": "predictions for the rounds left out, train and dev topics"}
        return weights

    def bank(i: int) -> bool:
        return i < n_bank

    # the anchored model grades bank questions; the second one a question of the user's own with a rubric of its
    # own; the third one a rubric derived from a reference answer (viva score --reference, viva eval), fitted on
    # both kinds of rubric and chosen by how it grades with the derived one
    weights = fit_variant("with anchors", lambda n: True, bank, bank)
    plain = fit_variant("no anchors", lambda n: not n.startswith("anc_"), bank, bank)
    ref = fit_variant("reference rubric", lambda n: not n.startswith("anc_"), lambda i: True, lambda i: not bank(i))
    weights["no_anchors"] = {k: v for k, v in plain.items() if k != "parts"}
    weights["reference"] = {k: v for k, v in ref.items() if k != "parts"}
    st = Stacker(OUT, weights)
    if held:
        out = [i for i, r in enumerate(rows[:n_bank]) if r["file"] == held and not r.get("generated")]
        for label, idx in (("all topics", out), ("test topics", [i for i in out if rows[i]["split"] == "test"])):
            for name, pred in (("stacked", lambda i: st.predict(full(i))),
                               ("stacked, no anchors", lambda i: st.fallback.predict(fs[i])),
                               ("stacked, rubric from the reference", lambda i: st.predict(fs[i + n_bank], True))):
                print(f"{held}, held out, {label}, {name}: "
                      f"{json.dumps(report([rows[i] for i in idx], [pred(i) for i in idx]))}")
        return 0
    figs = test_figures(st)
    for k, v in figs.items():
        print(f"test topics, {k}: {json.dumps(v)}")
    weights["test"] = figs
    OUT.write_text(json.dumps(weights, separators=(",", ":")) + "\n", "utf-8")
    if same_arrays(anchors.ANCHORS, anchor_data):
        print(f"{anchors.ANCHORS.relative_to(ROOT)}: the same anchors, left as it is")
    else:
        np.savez_compressed(anchors.ANCHORS, **anchor_data)
        print(f"wrote {anchors.ANCHORS.relative_to(ROOT)} ({anchors.ANCHORS.stat().st_size / 1024:.0f} KB)")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KB) in {time.perf_counter() - t_start:.0f} s")
    return 0

if __name__ == "__main__":
    sys.exit(main())
