"""Session reports: Markdown and one self-contained HTML file (inline CSS and SVG, no scripts, no links out).

The HTML holds two charts drawn as inline SVG, grades per concept and speaking pace over time, then every
turn: the question, the answer with the evidence for each concept highlighted, the verdicts, the
misconceptions, the follow-up reason and the voice insights. Everything is escaped; nothing is fetched.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.grade_view import GradeView, grade_view, markdown_lines, md_cell
from agent.grade_view import judge_line as judge_line  # still importable from here
from agent.models import Section, SessionInfo, Turn

if TYPE_CHECKING:
    from agent.bank import Bank
    from agent.store import Goal, Store

CREDIT = {"covered": 1.0, "partial": 0.5, "missing": 0.0}
COLOURS = {"covered": "#2e7d32", "partial": "#f9a825", "missing": "#c62828"}


@dataclass
class ConceptRow:
    key: str  # "<question>:<concept>"
    question_id: str
    concept_id: str
    name: str
    credits: list[float] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(self.credits) / len(self.credits) if self.credits else 0.0


@dataclass
class PacePoint:
    turn: int  # 1-based
    t: float  # seconds since the first spoken answer began (talk time, answers laid end to end)
    wpm: float


@dataclass
class ReportData:
    session: SessionInfo
    turns: list[Turn]
    concepts: list[ConceptRow]
    pace: list[PacePoint]
    goal: Goal | None = None
    generated_at: datetime | None = None
    sections: dict[str, Section] = field(default_factory=dict)  # the bank's section titles and descriptions
    views: dict[int, GradeView] = field(default_factory=dict)  # per turn index (with the bank's rubrics)

    def view(self, turn: Turn) -> GradeView:
        """The grade of ``turn`` as every front end shows it (built without a rubric when none was given)."""
        got = self.views.get(turn.index)
        return got if got is not None else grade_view(turn.grade, turn)

    def section_label(self, tag: str) -> str:
        info = self.sections.get(tag)
        return f"{tag}: {info.title}" if info is not None and info.title != tag else tag

    @property
    def sections_seen(self) -> list[tuple[str, Section | None]]:
        """The sections the session's answers came from, in the order first met, with their titles."""
        out: list[str] = []
        for t in self.turns:
            if t.section and t.section not in out:
                out.append(t.section)
        return [(tag, self.sections.get(tag)) for tag in out]

    @property
    def mean_grade(self) -> float | None:
        return sum(t.grade.score for t in self.turns) / len(self.turns) if self.turns else None


def build(store: Store, session_id: str, bank: Bank | None = None) -> ReportData:
    from agent.store import _now

    sid = store.resolve(session_id)
    info = store.session(sid)
    turns = store.turns(sid)
    from agent.review import rubric_of

    views = {t.index: grade_view(t.grade, t, rubric_of(bank, t.question_id)) for t in turns}
    return ReportData(session=info, turns=turns, concepts=concept_rows(turns), pace=pace_points(turns),
                      goal=store.goal(bank), generated_at=_now(),
                      sections=dict(bank.section_info) if bank is not None else {}, views=views)


def concept_rows(turns: list[Turn]) -> list[ConceptRow]:
    rows: OrderedDict[str, ConceptRow] = OrderedDict()
    for t in turns:
        qid = t.parent_id or t.question_id
        for v in t.grade.verdicts:
            key = f"{qid}:{v.concept_id}"
            row = rows.setdefault(key, ConceptRow(key, qid, v.concept_id, v.name))
            row.credits.append(CREDIT.get(v.verdict, 0.0))
            row.verdicts.append(v.verdict)
    return list(rows.values())


def pace_points(turns: list[Turn]) -> list[PacePoint]:
    """Words per minute over the session's spoken answers, laid end to end on one time axis."""
    out: list[PacePoint] = []
    offset = 0.0
    for t in turns:
        ins = t.insights or {}
        windows = ins.get("wpm_over_time") or []
        if windows:
            for w in windows:
                t0, t1, wpm = (float(x) for x in w[:3])
                out.append(PacePoint(t.index + 1, offset + (t0 + t1) / 2, wpm))
            offset += max(float(windows[-1][1]), float(ins.get("duration_s") or 0.0))
        elif ins.get("wpm"):
            dur = float(ins.get("duration_s") or ins.get("talk_time_s") or 0.0)
            out.append(PacePoint(t.index + 1, offset + dur / 2, float(ins["wpm"])))
            offset += dur
    return out


# --------------------------------------------------------------------------- SVG charts


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _svg_open(chart_id: str, width: float, height: float, title: str | None = None) -> str:
    """The opening ``<svg>`` tag every chart shares (and its ``<title>``, when given)."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" id="{chart_id}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">')
    return head + (f"<title>{_esc(title)}</title>" if title is not None else "")


def svg_concepts(rows: list[ConceptRow], width: int = 720) -> str:
    """Horizontal bars: the credit each concept earned in the session (0-100%), coloured by its last verdict."""
    if not rows:
        return _svg_message("No graded concepts in this session.", width)
    bar_h, gap, label_w, top = 18, 6, 300, 24
    plot_w = width - label_w - 60
    height = top + len(rows) * (bar_h + gap) + 24
    parts = [_svg_open("chart-concepts", width, height, "Grades per concept"),
             f'<text x="{label_w}" y="14" class="axis">0%</text>'
             f'<text x="{label_w + plot_w - 24}" y="14" class="axis">100%</text>']
    for i, r in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = max(2.0, plot_w * r.mean)
        colour = COLOURS.get(r.verdicts[-1], "#607d8b") if r.verdicts else "#607d8b"
        label = r.name if len(r.name) <= 44 else r.name[:43] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" class="label">'
                     f'{_esc(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" class="track"/>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                     f'<title>{_esc(r.key)}: {r.mean:.0%} over {len(r.credits)} answer(s)</title></rect>')
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 13}" class="value">{r.mean:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_pace(points: list[PacePoint], width: int = 720, height: int = 220) -> str:
    """Words per minute over the session's spoken answers, with a band for a comfortable pace."""
    if not points:
        return _svg_message("No spoken answers in this session: pace is measured on voice answers.", width,
                            chart_id="chart-pace")
    left, right, top, bottom = 52, 16, 16, 40
    pw, ph = width - left - right, height - top - bottom
    t_max = max(p.t for p in points) or 1.0
    w_max = max(200.0, max(p.wpm for p in points) * 1.1)

    def x(t: float) -> float:
        return left + pw * (t / t_max if t_max else 0.5)

    def y(w: float) -> float:
        return top + ph * (1 - w / w_max)

    parts = [_svg_open("chart-pace", width, height, "Pace over time (words per minute)"),
             f'<rect x="{left}" y="{y(160):.1f}" width="{pw}" height="{y(120) - y(160):.1f}" class="band">'
             '<title>120-160 wpm: a comfortable interview pace</title></rect>',
             f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" class="axisline"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" class="axisline"/>']
    for tick in range(0, int(w_max) + 1, 50):
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="axis">{tick}</text>')
    step = _nice_step(t_max / 5)
    tick = 0.0
    while tick <= t_max + 1e-9:
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top + ph}" x2="{x(tick):.1f}" y2="{top + ph + 4}" '
                     f'class="axisline"/><text x="{x(tick):.1f}" y="{top + ph + 15}" text-anchor="middle" '
                     f'class="axis">{tick:g}</text>')
        tick += step
    parts.append(f'<text x="{left + pw / 2}" y="{height - 2}" text-anchor="middle" class="axis">'
                 'talk time across the session (s)</text>'
                 f'<text x="12" y="{top + ph / 2}" transform="rotate(-90 12 {top + ph / 2})" text-anchor="middle" '
                 'class="axis">words per minute</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(p.t):.1f},{y(p.wpm):.1f}" for i, p in enumerate(points))
    parts.append(f'<path d="{path}" class="line"/>')
    for p in points:
        parts.append(f'<circle cx="{x(p.t):.1f}" cy="{y(p.wpm):.1f}" r="3.5" class="dot">'
                     f'<title>answer {p.turn}: {p.wpm:.0f} wpm at {p.t:.0f}s</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    import math

    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _svg_message(message: str, width: int, chart_id: str = "chart-concepts") -> str:
    return f'{_svg_open(chart_id, width, 40)}<text x="8" y="24" class="label">{_esc(message)}</text></svg>'


def svg_goal(goal: Goal, width: int = 720) -> str:
    """The cold-answer goal as a progress bar with the target marked."""
    left, pw, h = 8, width - 16, 26
    done_w = pw * min(1.0, goal.done / goal.total) if goal.total else 0
    target_x = left + pw * goal.target / goal.total if goal.total else left
    return (_svg_open("chart-goal", width, h + 22, str(goal))
            + f'<rect x="{left}" y="4" width="{pw}" height="{h}" class="track"/>'
            f'<rect x="{left}" y="4" width="{done_w:.1f}" height="{h}" fill="#2e7d32"/>'
            f'<line x1="{target_x:.1f}" y1="0" x2="{target_x:.1f}" y2="{h + 8}" class="target"/>'
            f'<text x="{left}" y="{h + 20}" class="label">{goal.done} answered cold</text>'
            f'<text x="{target_x:.1f}" y="{h + 20}" text-anchor="middle" class="label">goal {goal.target}</text>'
            f'<text x="{left + pw}" y="{h + 20}" text-anchor="end" class="label">{goal.total}</text></svg>')


def _turn_meta(t: Turn) -> list[str]:
    """How the answer was given: its source, cold or not, hinted, model answer shown, which attempt."""
    meta = [t.source, "cold" if t.cold else "not cold"]
    if t.hinted:
        meta.append("hinted")
    if t.model_answer_shown:
        meta.append("model answer shown")
    if t.attempt > 1:
        meta.append(f"attempt {t.attempt}")
    return meta


def _follow_up(t: Turn) -> tuple[str, str] | None:
    """The kind and reason of the follow-up that asked this turn's question (None for a new topic or a review)."""
    if t.choice and t.choice.get("kind") not in (None, "new-topic", "review"):
        return t.choice["kind"], t.choice.get("reason", "")
    return None


# --------------------------------------------------------------------------- Markdown


def render_markdown(data: ReportData) -> str:
    s = data.session
    lines = [f"# viva session {s.id}", ""]
    lines.append(f"- mode: {s.mode}")
    lines.append(f"- started: {s.started_at:%Y-%m-%d %H:%M} UTC"
                 + (f", finished {s.finished_at:%H:%M}" if s.finished_at else " (not finished)"))
    lines.append(f"- answers: {len(data.turns)}")
    if data.mean_grade is not None:
        lines.append(f"- mean grade: {data.mean_grade:.2f}/5")
    cold = sum(1 for t in data.turns if t.cold)
    lines.append(f"- cold answers: {cold} of {len(data.turns)}")
    if data.goal is not None:
        lines.append(f"- goal: {data.goal}")
    if data.sections_seen:
        lines += ["", "## Sections", ""]
        for tag, info in data.sections_seen:
            lines.append(f"- **{data.section_label(tag)}**" + (f" — {info.description}" if info else ""))
    lines += ["", "## Grades per concept", "", "| question | concept | credit | verdicts |", "| --- | --- | --- | --- |"]
    for r in data.concepts:
        lines.append(f"| {r.question_id} | {md_cell(r.name)} | {r.mean:.0%} | {', '.join(r.verdicts)} |")
    lines += ["", "## Pace", ""]
    if data.pace:
        by_turn: dict[int, list[float]] = {}
        for p in data.pace:
            by_turn.setdefault(p.turn, []).append(p.wpm)
        for turn, ws in by_turn.items():
            lines.append(f"- answer {turn}: {sum(ws) / len(ws):.0f} wpm (min {min(ws):.0f}, max {max(ws):.0f})")
    else:
        lines.append("No spoken answers in this session.")
    lines += ["", "## Answers", ""]
    for t in data.turns:
        view = data.view(t)
        lines.append(f"### {t.index + 1}. {t.question_id} ({view.display:g}/5)")
        lines.append("")
        where = f"section {data.section_label(t.section)} · " if t.section else ""
        lines.append(f"*{where}{', '.join(_turn_meta(t))}*")
        follow_up = _follow_up(t)
        if follow_up:
            lines.append(f"*follow-up ({follow_up[0]}): {follow_up[1]}*")
        lines += ["", f"**Q:** {t.prompt}", "", "**Answer:**", ""]
        lines += [f"> {line}" if line else ">" for line in t.answer.splitlines()] or ["> (empty)"]
        lines.append("")
        lines += markdown_lines(view)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;
color:#1d1d1f;background:#fff;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin-bottom:.3em}
.meta{color:#555}.chart{max-width:100%;height:auto;display:block;margin:.5em 0}
.label{font-size:12px;fill:#333}.value,.axis{font-size:11px;fill:#555}.track{fill:#eceff1}
.band{fill:#e8f5e9}.axisline{stroke:#999}.line{fill:none;stroke:#1565c0;stroke-width:2}.dot{fill:#1565c0}
.target{stroke:#000;stroke-dasharray:3 2}
.turn{border:1px solid #e0e0e0;border-radius:8px;padding:.8em 1em;margin:1em 0}
.answer{white-space:pre-wrap;background:#fafafa;border-left:3px solid #90a4ae;padding:.5em .8em}
mark{border-radius:3px;padding:0 2px}
mark.covered{background:#c8e6c9}mark.partial{background:#fff59d}mark.misconception{background:#ffcdd2}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
.v-covered{color:#2e7d32}.v-partial{color:#b28704}.v-missing{color:#c62828}.why{color:#555;font-style:italic}
"""


def highlight(answer: str, view: GradeView) -> str:
    """The answer, escaped, with each evidence span of ``view`` marked (overlaps: the earlier span wins)."""
    spans = [(h.start, h.end, h.kind, h.label) for h in view.highlights]
    out, pos = [], 0
    for start, end, cls, title in spans:
        if start < pos:
            continue
        out.append(_esc(answer[pos:start]))
        out.append(f'<mark class="{cls}" title="{_esc(title)}">{_esc(answer[start:end])}</mark>')
        pos = end
    out.append(_esc(answer[pos:]))
    return "".join(out)


def html_grade(view: GradeView) -> list[str]:
    """The grade below the answer: the concept table, misconceptions, flags, feedback, voice, the judge's line
    and the coaching (the same parts as :func:`agent.grade_view.markdown_lines`)."""
    body = []
    if view.concepts:
        body.append("<table><tr><th>concept</th><th>verdict</th><th>evidence</th></tr>")
        for r in view.concepts:
            body.append(f'<tr><td>{_esc(r.name)}</td><td class="v-{r.verdict}">{r.verdict}</td>'
                        f"<td>{_esc(r.evidence or '')}</td></tr>")
        body.append("</table>")
    for m in view.misconceptions:
        body.append(f"<p><b>{m.state}:</b> {_esc(m.claim)}<br><b>correction:</b> {_esc(m.correction)}</p>")
    if view.flags:
        body.append(f"<p>flags: {_esc(', '.join(view.flags))}</p>")
    if view.feedback:
        body.append("<ul>" + "".join(f"<li>{_esc(f)}</li>" for f in view.feedback) + "</ul>")
    voice = view.voice.summary() if view.voice is not None else []
    if voice:
        body.append(f"<p>voice: {_esc(' · '.join(voice))}</p>")
    if view.repairs:
        body.append(f"<p>transcript: {_esc('; '.join(str(r) for r in view.repairs))}</p>")
    if view.judge:
        body.append(f'<p class="judge">{_esc(view.judge)}</p>')
    if view.coaching.adds:
        body.append("<p><b>A strong answer adds:</b></p><ul>"
                    + "".join(f"<li>{_esc(i.sentence)}</li>" for i in view.coaching.adds) + "</ul>")
    if view.delivery:
        body.append("<p><b>Delivery:</b></p><ol>" + "".join(f"<li>{_esc(text)}</li>" for text in view.delivery)
                    + "</ol>")
    return body


def render_html(data: ReportData) -> str:
    s = data.session
    mean = f"{data.mean_grade:.2f}/5" if data.mean_grade is not None else "no answers"
    cold = sum(1 for t in data.turns if t.cold)
    body = [f"<h1>viva session {_esc(s.id)}</h1>",
            f'<p class="meta">{_esc(s.mode)} · started {s.started_at:%Y-%m-%d %H:%M} UTC · '
            f"{len(data.turns)} answers · mean grade {_esc(mean)} · {cold} cold"
            + ("" if s.finished_at else " · not finished") + "</p>"]
    if data.goal is not None:
        body += ["<h2>Goal</h2>", f"<p>{_esc(str(data.goal))}</p>", svg_goal(data.goal)]
    if data.sections_seen:
        body.append("<h2>Sections</h2><ul>" + "".join(
            f"<li><b>{_esc(data.section_label(tag))}</b>" + (f" — {_esc(info.description)}" if info else "") + "</li>"
            for tag, info in data.sections_seen) + "</ul>")
    body += ["<h2>Grades per concept</h2>", svg_concepts(data.concepts),
             "<h2>Pace over time</h2>", svg_pace(data.pace), "<h2>Answers</h2>"]
    for t in data.turns:
        view = data.view(t)
        body.append(f'<section class="turn" id="turn-{t.index + 1}">')
        body.append(f"<h3>{t.index + 1}. {_esc(t.question_id)} — {view.display:g}/5</h3>")
        where = f"section {data.section_label(t.section)} · " if t.section else ""
        body.append(f'<p class="meta">{_esc(where)}{_esc(", ".join(_turn_meta(t)))} · {t.created_at:%H:%M:%S}</p>')
        follow_up = _follow_up(t)
        if follow_up:
            body.append(f'<p class="why">follow-up ({_esc(follow_up[0])}): {_esc(follow_up[1])}</p>')
        body.append(f"<p><b>Q:</b> {_esc(t.prompt)}</p>")
        body.append(f'<div class="answer">{highlight(t.answer, view) or "<i>(empty)</i>"}</div>')
        body += html_grade(view)
        body.append("</section>")
    title = f"viva session {s.id}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write(store: Store, session_id: str, out_dir: Path | str, bank: Bank | None = None) -> tuple[Path, Path]:
    """Write ``viva-<session>.md`` and ``viva-<session>.html`` into ``out_dir``; returns both paths."""
    data = build(store, session_id, bank)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    md = out / f"viva-{data.session.id}.md"
    page = out / f"viva-{data.session.id}.html"
    md.write_text(render_markdown(data), encoding="utf-8")
    page.write_text(render_html(data), encoding="utf-8")
    return md, page
