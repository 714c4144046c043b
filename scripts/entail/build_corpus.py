"""Build the entailment corpus: (rubric statement, answer unit) pairs labelled
unrelated / partly / states / contradicts, split by topic into train / dev / test.

    python scripts/entail/build_corpus.py            # -> data/entail/pairs/{train,dev,test}.jsonl
    python scripts/entail/build_corpus.py --stats    # counts per split, label and source only

Inputs (all written by the project, see data/entail/README.md):
  data/entail/written/*.jsonl   hand-written concepts: a statement, a misconception and labelled sentences
  data/entail/speech.jsonl      the same sentences spoken by two TTS voices and transcribed by Whisper
                                (scripts/entail/speech_roundtrip.py makes it; optional)

Everything is deterministic for a given input (seeded by text), so a rerun gives the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "entail"
LABELS = ["unrelated", "partly", "states", "contradicts"]
SPLIT_SHARE = {"test": 0.15, "dev": 0.15}  # of topics; the rest is train

FILLERS = ["um", "uh", "so", "like", "you know", "i mean", "basically", "right", "so basically", "uh, so"]
STOP = set("""a an the and or but if then so than that this these those it its is are was were be been being
of to in on at by for with from into as about over under between through during before after not no
do does did can could will would should may might must has have had which who what when where why how
each every all any some more most less least only also just very much many such one two""".split())

NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
             "ten": 10, "twenty": 20, "fifty": 50, "hundred": 100, "half": 50}
NUM_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s*%| percent)?")
AUX_RE = re.compile(r"\b(is|are|was|were|does|do|can|will|should|must|has|have)\b(?! not\b)(?!n't)", re.I)


def seeded(*parts: str) -> random.Random:
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
    return random.Random(int(h, 16))


def split_of(topic: str) -> str:
    """Whole topics go to one split, by a hash of the topic slug (stable when topics are added)."""
    u = int(hashlib.blake2b(topic.encode(), digest_size=8).hexdigest(), 16) / 2**64
    if u < SPLIT_SHARE["test"]:
        return "test"
    if u < SPLIT_SHARE["test"] + SPLIT_SHARE["dev"]:
        return "dev"
    return "train"


def load_concepts() -> list[dict]:
    rows = []
    for f in sorted((DATA / "written").glob("*.jsonl")):
        for line in f.read_text("utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def load_speech() -> dict[str, list[dict]]:
    """Sentence text -> its spoken-and-transcribed versions."""
    out: dict[str, list[dict]] = defaultdict(list)
    p = DATA / "speech.jsonl"
    if p.is_file():
        for line in p.read_text("utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                out[r["text"]].append(r)
    return out


# --------------------------------------------------------------------------- perturbations


def swap_number(text: str, rng: random.Random) -> str | None:
    """The same sentence with one quantity changed (a digit run or a number word)."""
    m = list(NUM_RE.finditer(text))
    if m:
        x = rng.choice(m)
        v = float(x.group(1))
        choices = [v * 2, v * 3, v / 2, v + 10, max(0.0, v - 5), v * 10] if v else [1, 5, 50]
        new = rng.choice([c for c in choices if c != v] or [v + 1])
        s = (f"{new:g}" if new != int(new) else str(int(new)))
        return text[: x.start(1)] + s + text[x.end(1):]
    words = re.findall(r"\b\w+\b", text)
    nums = [w for w in words if w.lower() in NUM_WORDS]
    if nums:
        w = rng.choice(nums)
        alt = rng.choice([k for k in NUM_WORDS if NUM_WORDS[k] != NUM_WORDS[w.lower()]])
        return re.sub(rf"\b{re.escape(w)}\b", alt, text, count=1)
    return None


def negate(text: str) -> str | None:
    """Insert a negation after the first auxiliary verb ("is" -> "is not", "can" -> "cannot")."""
    m = AUX_RE.search(text)
    if not m:
        return None
    aux = m.group(1)
    rep = "cannot" if aux.lower() == "can" else f"{aux} not"
    return text[: m.start()] + rep + text[m.end():]


def spoken(text: str, rng: random.Random) -> str:
    """A transcript-like version: lower case, no final stop, fillers and one repeated word."""
    words = text.rstrip(".!").split()
    out = []
    for i, w in enumerate(words):
        if i and rng.random() < 0.12:
            out.append(rng.choice(FILLERS) + ",")
        out.append(w)
        if rng.random() < 0.05 and w.isalpha():
            out.append(w)
    s = " ".join(out).lower()
    return (rng.choice(["um ", "so ", "uh ", "well ", ""]) + s).strip()


def buzzwords(text: str, rng: random.Random) -> str | None:
    ws = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9-]+", text) if w.lower() not in STOP and len(w) > 2]
    ws = list(dict.fromkeys(ws))
    if len(ws) < 3:
        return None
    rng.shuffle(ws)
    return ", ".join(ws[: rng.randint(3, min(7, len(ws)))])


def term_run(text: str, rng: random.Random) -> str | None:
    """Content words of ``text`` run together without commas, one of them said twice (a typed or spoken list
    of terms)."""
    ws = list(dict.fromkeys(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9-]+", text)
                            if w.lower() not in STOP and len(w) > 2))
    if len(ws) < 4:
        return None
    rng.shuffle(ws)
    ws = ws[: rng.randint(4, min(10, len(ws)))]
    ws.insert(rng.randrange(len(ws) + 1), rng.choice(ws))
    return " ".join(ws)


# --------------------------------------------------------------------------- pairs


CLAUSE_SPLIT = re.compile(r";\s+|,\s+(?:so|because|which is why|while)\s+")


def statement_clauses(statement: str) -> list[str]:
    """The clauses of a statement that joins two or more claims, each a sentence of four words or more."""
    parts = [p.strip(" .") for p in CLAUSE_SPLIT.split(statement)]
    parts = [p[0].upper() + p[1:] + "." for p in parts if len(p.split()) >= 4]
    return parts if len(parts) >= 2 else []


def pairs_for(c: dict, topic_peers: list[dict], others: list[dict], speech: dict[str, list[dict]],
              contrast: bool = False, contrast_label: str = "contradicts", clauses: bool = False) -> list[dict]:
    """One concept's pairs. ``contrast`` (``--contrast-pairs``, an experiment the shipped model was not trained
    with) adds its stating sentences against its misconception (labelled ``contrast_label``, or left out with
    "none"), term runs and more negations; ``clauses`` (``--clause-pairs``, another) each clause of a two-claim
    statement against the statement, as partly."""
    S, M = c["statement"], c["misconception"]
    against_m = c["states"] if contrast and contrast_label != "none" else []  # stating sentences vs misconception
    rng = seeded(c["id"])
    out: list[dict] = []

    def add(a: str, b: str, label: str, source: str) -> None:
        out.append({"a": a, "b": b, "label": label, "source": source, "concept": c["id"], "topic": c["topic"]})

    for s in c["states"]:
        add(S, s, "states", "written")
    for s in c["partly"]:
        add(S, s, "partly", "written")
    for s in c["contradicts"]:
        add(S, s, "contradicts", "written")
    for s in c["mentions"]:
        add(S, s, "unrelated", "written:mentions")
    for s in c["misconception_states"]:
        add(S, s, "contradicts", "written:misconception")
        add(M, s, "states", "written:misconception")
    for s in c["misconception_rejects"]:
        add(S, s, "states", "written:rejects-misconception")
        add(M, s, "contradicts", "written:rejects-misconception")
    add(M, c["mentions"][0], "unrelated", "written:mentions")
    if contrast:
        # a correct statement of the concept does not state its misconception: the misconception contradicts
        # the statement, so whatever states the statement contradicts the misconception
        for s in against_m:
            add(M, s, contrast_label, "states-vs-misconception")
    if clauses:
        # one clause of a statement that joins two claims says part of it ("targets are the inputs shifted by one"
        # against "...; the loss is averaged over every position"): close to the statement and still not all of it
        for part in statement_clauses(S):
            add(S, part, "partly", "statement-clause")
    # the question itself (a restatement earns nothing)
    add(S, c["question"], "unrelated", "restated-question")
    # hard negatives: what another concept of the same topic states
    peers = [p for p in topic_peers if p["id"] != c["id"]]
    for p in rng.sample(peers, min(3, len(peers))):
        add(S, rng.choice(p["states"][:2] + p["states"][3:]), "unrelated", "other-concept-same-topic")
    if peers:
        p = rng.choice(peers)
        add(M, rng.choice(p["states"]), "unrelated", "other-concept-same-topic")
    if others:
        o = rng.choice(others)
        add(S, rng.choice(o["states"]), "unrelated", "other-topic")
    # systematic perturbations of what states it
    b = buzzwords(S, rng)
    if b:
        add(S, b, "unrelated", "buzzword-list")
    if contrast:
        # term lists as people type or say them: a stating sentence's terms mixed with a sibling concept's, a
        # term repeated, no commas; and the misconception's own terms against it
        if peers:
            b = term_run(c["states"][0] + " " + rng.choice(peers)["statement"], rng)
            if b:
                add(S, b, "unrelated", "buzzword-list")
        b = term_run(M, rng)
        if b:
            add(M, b, "unrelated", "buzzword-list")
    for s in c["states"]:
        sw = swap_number(s, rng)
        if sw and sw != s:
            add(S, sw, "contradicts", "swapped-number")
            break
    # negations of one stating sentence (three with the contrast pairs: one per concept left a negated sentence
    # read as stating it once those pairs taught that an on-topic sentence can contradict a claim)
    for s in c["states"][: 3 if contrast else 1]:
        ng = negate(s)
        if ng:
            add(S, ng, "contradicts", "negated")
    # several sentences at once: the stating sentence among others still states it; a misconception
    # beside its correction states both
    add(S, f"{c['mentions'][1]} {c['states'][3]}", "states", "two-sentences")
    add(S, f"{c['partly'][0]} {c['mentions'][0]}", "partly", "two-sentences")
    add(M, f"{c['states'][0]} {c['misconception_states'][0]}", "states", "two-sentences")
    # spoken style, synthesised by text rules
    for s, lab in ((c["states"][1], "states"), (c["contradicts"][0], "contradicts"), (c["partly"][1], "partly")):
        add(S, spoken(s, rng), lab, "spoken-text")
    add(M, spoken(c["misconception_states"][0], rng), "states", "spoken-text")
    # spoken for real: two voices, transcribed by Whisper
    for s, lab, a in ([(x, "states", S) for x in c["states"]] + [(x, "contradicts", S) for x in c["contradicts"]]
                      + [(x, "partly", S) for x in c["partly"]] + [(x, "states", M) for x in c["misconception_states"]]
                      + [(x, "contradicts", M) for x in c["misconception_rejects"]]
                      + [(x, contrast_label, M) for x in against_m[:2]]):
        for r in speech.get(s, []):
            if r["transcript"].strip() and r["transcript"].strip().lower() != s.strip().lower():
                add(a, r["transcript"].strip(), lab, f"speech:{r['voice']}")
    return out


def build(contrast: bool = False, contrast_label: str = "contradicts", clauses: bool = False) -> dict[str, list[dict]]:
    concepts = load_concepts()
    speech = load_speech()
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for c in concepts:
        by_topic[c["topic"]].append(c)
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for topic, cs in sorted(by_topic.items()):
        sp = split_of(topic)
        others = [c for t, v in by_topic.items() if t != topic and split_of(t) == sp for c in v]
        for c in cs:
            splits[sp] += pairs_for(c, cs, others, speech, contrast, contrast_label, clauses)
    seen = set()
    for sp in splits:
        uniq = []
        for r in splits[sp]:
            k = (r["a"], r["b"])
            if k not in seen:
                seen.add(k)
                uniq.append(r)
        seeded(sp).shuffle(uniq)
        splits[sp] = uniq
    return splits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stats", action="store_true", help="print counts only")
    ap.add_argument("--out", type=Path, default=DATA / "pairs")
    ap.add_argument("--contrast-pairs", action="store_true",
                    help="add each concept's stating sentences against its misconception (labelled by "
                    "--contrast-label), term runs and negations of three stating sentences. Not in the shipped "
                    "model's corpus: the models trained with them and their held-out figures are in "
                    "data/entail/README.md")
    ap.add_argument("--contrast-label", choices=("contradicts", "unrelated", "none"), default="contradicts",
                    help="with --contrast-pairs: the label of a stating sentence against its concept's misconception "
                    "(contradicts: what the logic says; unrelated: 'does not state it', what the grader asks; none: "
                    "leave those pairs out and keep only the term runs and negations)")
    ap.add_argument("--clause-pairs", action="store_true",
                    help="add each clause of a statement that joins two claims against the statement (partly). Not in "
                    "the shipped model's corpus; figures in data/entail/README.md")
    args = ap.parse_args(argv)
    splits = build(args.contrast_pairs, args.contrast_label, args.clause_pairs)
    concepts = load_concepts()
    topics = Counter(split_of(c["topic"]) for c in {c["topic"]: c for c in concepts}.values())
    print(f"{len(concepts)} concepts, {sum(topics.values())} topics "
          f"(train {topics['train']}, dev {topics['dev']}, test {topics['test']})")
    for sp, rows in splits.items():
        lab = Counter(r["label"] for r in rows)
        print(f"{sp:5s} {len(rows):6d} pairs  " + "  ".join(f"{k} {lab[k]}" for k in LABELS))
    src = Counter(r["source"].split(":")[0] for rows in splits.values() for r in rows)
    print("sources: " + ", ".join(f"{k} {v}" for k, v in src.most_common()))
    if not args.stats:
        args.out.mkdir(parents=True, exist_ok=True)
        for sp, rows in splits.items():
            with open(args.out / f"{sp}.jsonl", "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"wrote {args.out}/{{train,dev,test}}.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
