"""Voice insights on constructed word-timestamp sequences (pure functions)."""

from __future__ import annotations

import pytest

from agent.speech.insights import (
    W,
    compute_insights,
    fillers,
    find_terms,
    hedges,
    pauses,
    talk_time,
    wpm,
    wpm_over_time,
)


def words_at(text: str, start: float = 0.0, step: float = 0.4, dur: float = 0.3) -> list[W]:
    """One word every ``step`` seconds, each ``dur`` long."""
    return [W(round(start + i * step, 3), round(start + i * step + dur, 3), " " + t) for i, t in enumerate(text.split())]


def test_wpm_constant_pace() -> None:
    ws = words_at(" ".join(["word"] * 31), step=0.5)  # 31 words from 0 to 15.3 s
    assert wpm(ws) == pytest.approx(31 / 15.3 * 60, rel=1e-3)
    assert wpm([]) == 0.0
    assert wpm(ws[:1]) == 0.0


def test_wpm_over_time_sees_a_slowdown() -> None:
    fast = words_at(" ".join(["a"] * 40), step=0.25)  # 10 s at 240 wpm
    slow = words_at(" ".join(["b"] * 10), start=10.0, step=1.0)  # 10 s at 60 wpm
    windows = wpm_over_time(fast + slow, window_s=10.0)
    assert len(windows) == 2
    assert windows[0][2] == pytest.approx(240, rel=0.01)
    assert windows[1][2] == pytest.approx(60, rel=0.1)
    assert windows[0][0] == 0.0 and windows[1][0] == 10.0


def test_single_and_multi_word_fillers_with_times() -> None:
    ws = words_at("um so the loss is uh you know the cross entropy I mean sort of averaged")
    hits = fillers(ws)
    assert [h.text for h in hits] == ["um", "uh", "you know", "i mean", "sort of"]
    assert hits[0].start == 0.0
    assert hits[2].start == pytest.approx(6 * 0.4)


def test_like_is_a_filler_only_where_it_is_not_a_verb() -> None:
    verb = words_at("I like this loss and it looks like a softmax")
    assert fillers(verb) == []
    filler = [W(0.0, 0.3, " So,"), W(0.4, 0.6, " like,"), W(0.7, 1.0, " the"), W(1.1, 1.4, " loss")]
    assert [h.text for h in fillers(filler)] == ["like"]
    after_pause = [W(0.0, 0.3, " it"), W(0.4, 0.6, " is"), W(1.2, 1.4, " like"), W(1.5, 1.8, " averaged")]
    assert [h.text for h in fillers(after_pause)] == ["like"]


def test_a_kind_of_loss_is_not_a_filler() -> None:
    assert fillers(words_at("it is a kind of loss")) == []
    assert [h.text for h in fillers(words_at("it is kind of like averaging"))] == ["kind of"]


def test_pauses_over_two_seconds_with_times() -> None:
    ws = [W(0.0, 0.5, " first"), W(0.6, 1.0, " part"), W(3.5, 4.0, " after"), W(4.1, 4.5, " a"),
          W(6.0, 6.4, " gap")]
    ps = pauses(ws)
    assert len(ps) == 1
    assert (ps[0].start, ps[0].end, ps[0].duration) == (1.0, 3.5, 2.5)
    assert pauses(ws, min_s=1.0)[1].duration == 1.5


def test_hedges() -> None:
    ws = words_at("I think it is probably the KL divergence but I'm not sure maybe not")
    assert [h.text for h in hedges(ws)] == ["i think", "probably", "i'm not sure", "maybe"]


def test_talk_time_excludes_long_gaps() -> None:
    ws = [W(0.0, 1.0, " a"), W(1.2, 2.0, " b"), W(5.0, 6.0, " c")]
    assert talk_time(ws) == pytest.approx(6.0 - 3.0)
    assert talk_time([]) == 0.0


@pytest.mark.parametrize(
    ("text", "term", "found"),
    [
        ("we add a Z loss term", "z-loss", True),
        ("the zloss keeps logits small", "z-loss", True),
        ("rope rotates queries", "RoPE", True),
        ("the cross entropy", "cross-entropy", True),
        ("all the logits", "logit", True),
        ("Electra's discriminator", "ELECTRA", True),
        ("a rope-like thing", "perplexity", False),
        ("cross validation", "cross-entropy", False),
        ("the position", "every position", False),
    ],
)
def test_find_terms(text: str, term: str, found: bool) -> None:
    assert (find_terms(text, [term]) == [term]) is found


def test_compute_insights_bundle() -> None:
    ws = words_at("um the perplexity is the exponentiated cross entropy") + [W(8.0, 8.4, " you"), W(8.5, 8.8, " know")]
    ins = compute_insights(ws, terms=["perplexity", "cross-entropy", "KL divergence"], duration=9.0)
    assert ins.words == 10
    assert ins.terms_used == ["perplexity", "cross-entropy"]
    assert ins.terms_missing == ["KL divergence"]
    assert ins.filler_count == 2
    assert len(ins.pauses) == 1 and ins.pauses[0].start == pytest.approx(3.1)
    assert ins.duration_s == 9.0
    d = ins.to_dict()
    assert d["filler_count"] == 2 and d["fillers"][0]["text"] == "um"
    assert "wpm" in ins.summary()
    empty = compute_insights([])
    assert empty.wpm == 0 and empty.words == 0 and empty.fillers == []
