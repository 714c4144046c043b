"""Session reports: Markdown and one self-contained HTML file with SVG charts and each turn's evidence."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent import report
from agent.cli import main
from agent.models import ConceptVerdict, Evidence, Grade, MisconceptionHit, Turn
from agent.speech.insights import W, compute_insights
from agent.store import LOSS_SEED, Store

T0 = datetime(2026, 2, 2, 14, 30, tzinfo=timezone.utc)
SVG = "{http://www.w3.org/2000/svg}"


def spoken(text: str, wps: float, t0: float = 0.3) -> list[W]:
    """Word timings for ``text`` spoken at ``wps`` words per second."""
    return [W(t0 + i / wps, t0 + (i + 0.8) / wps, w) for i, w in enumerate(text.split())]


def ev(answer: str, phrase: str) -> Evidence:
    i = answer.index(phrase)
    return Evidence(start=i, end=i + len(phrase), text=phrase)


def make_session(store: Store) -> str:
    sid = store.create_session("mock", {"n_questions": 2, "seed": 1}, session_id="rep0rt00cafe", now=T0).id
    a1 = ("Softmax exponentiates each logit and divides by the sum, so the outputs sum to one. "
          "The largest logit keeps the largest probability. <script>alert(1)</script> & done")
    g1 = Grade(question_id="softmax", score=3.6, display=3.5, grader_version="t", model="m", verdicts=[
        ConceptVerdict(concept_id="normalises", name="turns logits into a distribution", weight=2, verdict="covered",
                       similarity=0.8, evidence=ev(a1, "divides by the sum, so the outputs sum to one")),
        ConceptVerdict(concept_id="order", name="keeps the order", weight=1, verdict="partial", similarity=0.5,
                       evidence=ev(a1, "The largest logit keeps the largest probability.")),
        ConceptVerdict(concept_id="max-trick", name="subtracting the max", weight=1, verdict="missing",
                       similarity=0.1)],
        feedback=["Missing: subtracting the max - shift logits by their maximum for stability."])
    words = spoken(a1, 2.2) + spoken("and that is all", 3.5, t0=40.0)
    ins = compute_insights(words, duration=42.0).to_dict()
    store.add_turn(Turn(session_id=sid, index=0, question_id="softmax", prompt="What does softmax do?", section="A",
                        topic="softmax", seed=LOSS_SEED, answer=a1, source="voice", transcript=a1, grade=g1,
                        insights=ins, choice={"kind": "new-topic", "reason": "opening with softmax"},
                        created_at=T0 + timedelta(minutes=1)))
    a2 = "It squashes every logit on its own, like a sigmoid."
    g2 = Grade(question_id="softmax-probe-max-trick", score=0.8, display=1.0, grader_version="t", model="m",
               verdicts=[ConceptVerdict(concept_id="max-trick", name="subtracting the max", weight=1,
                                        verdict="missing", similarity=0.2)],
               misconceptions=[MisconceptionHit(misconception_id="independent", claim="Softmax squashes each logit "
                                                "independently.", correction="Every output depends on all logits.",
                                                similarity=0.8, evidence=ev(a2, "squashes every logit on its own"))],
               flags=["misconception"])
    store.add_turn(Turn(session_id=sid, index=1, question_id="softmax-probe-max-trick", parent_id="softmax",
                        prompt="One point your answer left out: subtracting the max.", section="A", topic="softmax",
                        seed=LOSS_SEED, answer=a2, grade=g2, cold=False, hinted=True,
                        judge={"ok": True, "model": "judge-test", "grade": 2.0, "effective_grade": 1.0,
                               "feedback": "Softmax couples the outputs."},
                        choice={"kind": "probe", "reason": "you did not mention subtracting the max"},
                        created_at=T0 + timedelta(minutes=3)))
    return sid


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_markdown_report(store: Store) -> None:
    data = report.build(store, make_session(store))
    md = report.render_markdown(data)
    assert md.startswith("# viva session rep0rt00cafe\n")
    assert "- mean grade: 2.20/5" in md and "- cold answers: 1 of 2" in md
    assert "- goal: 1/25 loss questions answered cold (of 40)" in md
    # grades per concept: the follow-up's verdict is counted under its parent question
    assert "| softmax | subtracting the max | 0% | missing, missing |" in md
    assert "| softmax | turns logits into a distribution | 100% | covered |" in md
    assert '- **covered** turns logits into a distribution — "divides by the sum, so the outputs sum to one"' in md
    assert "- **misconception**: Softmax squashes each logit independently." in md
    assert "*follow-up (probe): you did not mention subtracting the max*" in md
    assert "*section A · typed, not cold, hinted*" in md
    assert "- judge (judge-test): 2.0/5, capped to 1.0 by its evidence — Softmax couples the outputs." in md
    assert re.search(r"- answer 1: \d+ wpm \(min \d+, max \d+\)", md)


def test_report_names_the_sections(store: Store, bank) -> None:
    data = report.build(store, make_session(store), bank)
    md = report.render_markdown(data)
    assert "## Sections\n\n- **A: Causal language modelling** — Next-token prediction" in md
    assert "*section A: Causal language modelling · typed, not cold, hinted*" in md
    page = report.render_html(data)
    assert "<h2>Sections</h2><ul><li><b>A: Causal language modelling</b> — " in page


def test_report_carries_the_coaching_with_the_bank(store: Store, bank) -> None:
    from datetime import datetime, timezone

    from agent.models import ConceptVerdict, Grade

    r = bank.rubrics["causal-masking"]
    g = Grade(question_id="causal-masking", score=2.0, display=2.0, grader_version="t", model="t",
              verdicts=[ConceptVerdict(concept_id=c.id, name=c.name, weight=c.weight, similarity=0.5,
                                       verdict="missing" if c.id == "parallel-training" else "covered")
                        for c in r.concepts])
    info = store.create_session("mock", {}, session_id="coach0000001")
    store.add_turn(Turn(session_id=info.id, index=0, question_id="causal-masking", prompt="How?", section="masking",
                        answer="a mask", grade=g, source="voice", created_at=datetime.now(timezone.utc),
                        insights={"wpm": 220, "talk_time_s": 20, "duration_s": 20, "filler_count": 0, "pauses": []}))
    data = report.build(store, info.id, bank)
    md = report.render_markdown(data)
    assert "- a strong answer adds: The mask lets the whole sequence be processed at once" in md
    assert "- delivery: Slow down: 220 words a minute" in md
    assert "<li>The mask lets the whole sequence" in report.render_html(data)


def test_html_report_is_self_contained_with_charts_and_evidence(store: Store, tmp_path: Path) -> None:
    sid = make_session(store)
    md_path, html_path = report.write(store, sid, tmp_path / "out")
    assert md_path.name == f"viva-{sid}.md" and html_path.name == f"viva-{sid}.html"
    page = html_path.read_text(encoding="utf-8")
    p = Tags()
    p.feed(page)
    tags = [t for t, _ in p.tags]
    # one file: no scripts, no external style sheets, images or links
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert not any("src" in a or "href" in a for _, a in p.tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in page  # the answer is escaped
    # charts are valid inline SVG
    svgs = {}
    for m in re.finditer(r"<svg .*?</svg>", page, flags=re.S):
        el = ET.fromstring(m.group(0))
        svgs[el.get("id")] = el
    assert set(svgs) == {"chart-goal", "chart-concepts", "chart-pace"}
    bars = [r for r in svgs["chart-concepts"].iter(f"{SVG}rect") if r.get("class") != "track"]
    assert len(bars) == 3  # softmax's three concepts
    widths = {r.find(f"{SVG}title").text.split(":")[1]: float(r.get("width")) for r in bars}
    assert widths["normalises"] > widths["order"] > widths["max-trick"]
    dots = list(svgs["chart-pace"].iter(f"{SVG}circle"))
    assert len(dots) == len(report.pace_points(store.turns(sid))) >= 3
    assert all("answer 1:" in d.find(f"{SVG}title").text for d in dots)
    # evidence is highlighted in the answer, by verdict
    assert '<mark class="covered" title="turns logits into a distribution">divides by the sum, so the outputs sum ' \
           'to one</mark>' in page
    assert '<mark class="partial"' in page and '<mark class="misconception"' in page
    assert 'class="v-missing">missing</td>' in page
    assert "follow-up (probe): you did not mention subtracting the max" in page
    assert page.count('<section class="turn"') == 2
    assert "judge (judge-test): 2.0/5, capped to 1.0 by its evidence" in page


def test_typed_only_session_says_there_is_no_pace(store: Store) -> None:
    sid = store.create_session("practice", now=T0).id
    g = Grade(question_id="q", score=2.0, display=2.0, grader_version="t", model="m")
    store.add_turn(Turn(session_id=sid, index=0, question_id="q", answer="short", grade=g, created_at=T0))
    page = report.render_html(report.build(store, sid))
    assert "No spoken answers in this session" in page
    assert "No graded concepts in this session." in page
    assert "not finished" in page


def test_pace_points_lay_answers_end_to_end() -> None:
    ins1 = {"wpm": 120, "wpm_over_time": [(0.0, 15.0, 120.0), (15.0, 20.0, 96.0)], "duration_s": 21.0}
    ins2 = {"wpm": 150, "duration_s": 10.0}  # no windows: one point for the whole answer
    g = Grade(question_id="q", score=2.0, display=2.0, grader_version="t", model="m")
    turns = [Turn(session_id="s", index=i, question_id="q", answer="a", grade=g, insights=ins, created_at=T0)
             for i, ins in enumerate([ins1, None, ins2])]
    pts = report.pace_points(turns)
    assert [(p.turn, p.t, p.wpm) for p in pts] == [(1, 7.5, 120.0), (1, 17.5, 96.0), (3, 26.0, 150.0)]


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.config import reset_settings

    monkeypatch.setenv("VIVA_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    with Store() as store:
        sid = make_session(store)
    assert main(["report", sid[:5], "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert f"viva-{sid}.md" in out and f"viva-{sid}.html" in out
    assert (tmp_path / "r" / f"viva-{sid}.html").stat().st_size > 2000
    assert main(["report", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "no session 'nope'" in capsys.readouterr().err
