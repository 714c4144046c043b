"""`viva eval` on small JSONL files written here (labels and scores, bank ids, malformed lines)."""

from __future__ import annotations

import json

import pytest

from agent.cli import main

pytestmark = pytest.mark.slow

Q1 = "Why does a bulb in a series circuit go out when another bulb in the circuit is removed?"
R1 = ["Removing a bulb opens the circuit, so there is no closed path and no current flows."]
Q2 = "What happens to the volume of water when it freezes?"
R2 = ["The water expands, so its volume increases when it freezes."]
LABELLED = [
    (Q1, R1, "Taking a bulb out breaks the circuit, so no current can flow to the other bulb.", "correct"),
    (Q1, R1, "The circuit becomes open and there is no complete path for the current.", "correct"),
    (Q1, R1, "Because the other bulb uses up all the battery.", "incorrect"),
    (Q1, R1, "The bulb is too bright.", "incorrect"),
    (Q2, R2, "It expands and takes up more space, so the volume gets bigger.", "correct"),
    (Q2, R2, "Its volume increases because ice expands.", "correct"),
    (Q2, R2, "The water gets colder.", "incorrect"),
    (Q2, R2, "The volume decreases because it becomes solid.", "incorrect"),
]


def _write(path, rows) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def _labelled(dataset="toy"):
    return [{"question": q, "reference_answers": r, "student_answer": a, "label": lab, "dataset": dataset,
             "id": i} for i, (q, r, a, lab) in enumerate(LABELLED)]


def test_eval_labels_json_and_predictions(tmp_path, capsys):
    f = _write(tmp_path / "toy.jsonl", _labelled())
    pred = tmp_path / "pred.jsonl"
    assert main(["eval", f, "--json", "--predictions", str(pred)]) == 0
    s = json.loads(capsys.readouterr().out)
    d = s["datasets"]["toy"]
    assert s["n"] == 8 and d["n_labelled"] == 8
    assert d["roc_auc"] >= 0.75
    assert 0.5 <= d["best_accuracy"] <= 1.0
    rows = [json.loads(x) for x in pred.read_text().splitlines()]
    assert len(rows) == 8 and {"grade", "label", "line"} <= set(rows[0])


def test_eval_scores_and_per_dataset_breakdown(tmp_path, capsys):
    rows = []
    for i, (q, r, a, lab) in enumerate(LABELLED):
        rows.append({"question": q, "reference_answer": r[0], "answer": a, "score": 2 if lab == "correct" else 0,
                     "max_score": 2, "dataset": "first" if i < 4 else "second"})
    f = _write(tmp_path / "scores.jsonl", rows)
    assert main(["eval", f, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert set(s["datasets"]) == {"all", "first", "second"}
    a = s["datasets"]["all"]
    for k in ("pearson", "spearman", "rmse", "qwk"):
        assert a[k] is not None
    assert a["spearman"] > 0.3 and 0 <= a["rmse"] <= 2


def test_eval_table_output(tmp_path, capsys):
    f = _write(tmp_path / "toy.jsonl", _labelled())
    assert main(["eval", f, "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "roc_auc" in out and "toy" in out


def test_eval_threshold_failure_exit_1(tmp_path, capsys):
    f = _write(tmp_path / "toy.jsonl", _labelled())
    assert main(["eval", f, "--json", "--min-auc", "1.01"]) == 1
    assert "below --min-auc" in capsys.readouterr().err


def test_eval_bank_question_id_uses_bank_rubric(tmp_path, capsys):
    from agent.bank import default_bank

    q = default_bank().question("clm-loss")
    rows = [{"question": q.prompt, "reference_answer": q.model_answer, "question_id": "clm-loss",
             "student_answer": a, "score": s, "max_score": 5}
            for a, s in [(q.model_answer, 5), ("It's a loss.", 1), ("I don't know", 0)]]
    f = _write(tmp_path / "bank.jsonl", rows)
    pred = tmp_path / "p.jsonl"
    assert main(["eval", f, "--json", "--predictions", str(pred)]) == 0
    out = [json.loads(x) for x in pred.read_text().splitlines()]
    assert out[0]["covered"] and set(out[0]["covered"]) <= {c.id for c in default_bank().rubric("clm-loss").concepts}
    assert out[0]["grade"] >= 4.0 > 1.0 >= max(out[1]["grade"], out[2]["grade"])


def test_eval_malformed_line_and_skip_bad(tmp_path, capsys):
    rows = [json.dumps(r) for r in _labelled()[:4]]
    rows.insert(2, "{not json")
    rows.insert(4, json.dumps({"question": "Q", "reference_answer": "R", "student_answer": "A"}))  # no label
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["eval", str(f), "--json"]) == 2
    assert "bad.jsonl:3" in capsys.readouterr().err
    assert main(["eval", str(f), "--json", "--skip-bad"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n"] == 4 and s["skipped"] == 2


def test_eval_missing_file_and_bad_utf8(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "none.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    f = tmp_path / "x.jsonl"
    f.write_bytes(json.dumps(_labelled()[0]).encode() + b"\n\xff\n")
    assert main(["eval", str(f)]) == 2
    assert "x.jsonl:2: not valid UTF-8" in capsys.readouterr().err


def test_eval_dataset_filter_and_empty_result(tmp_path, capsys):
    f = _write(tmp_path / "toy.jsonl", _labelled("alpha"))
    assert main(["eval", f, "--json", "--dataset", "beta"]) == 2
    assert "no usable lines" in capsys.readouterr().err
