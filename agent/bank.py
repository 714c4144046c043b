"""Load and validate the question bank (questions/*.yaml) and its rubrics (rubrics/*.yaml).

Every problem is reported as ``file:line: field: message`` so a rubric author can go straight to it.
The packaged bank is read through importlib.resources, so a non-editable install works; extra bank
folders (a user's own questions) can be added with the ``bank_dirs`` setting.

A file holds one item (a mapping) or several (a sequence of mappings).
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.models import Concept, Question, Rubric, Section

#: the file in a questions/ folder that names the sections (it is not a question)
SECTIONS_FILE = "sections.yaml"

log = logging.getLogger(__name__)


class BankError(Exception):
    """One or more problems in bank files. ``problems`` holds them all; str() lists them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UnknownQuestion(KeyError):
    def __init__(self, qid: str, suggestions: list[str]):
        self.qid = qid
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else " Run `viva bank list` to see the ids."
        super().__init__(f"unknown question id {qid!r}.{hint}")

    def __str__(self) -> str:  # KeyError quotes its argument otherwise
        return self.args[0]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str
    level: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        fld = f" {self.field}:" if self.field else ""
        return f"{where}:{fld} {self.message}"


@dataclass
class Origin:
    """Where an item was read from: the file and its YAML node (for line look-ups). An item read from
    the parse cache has no node until a line is asked for; then its file's text is parsed again."""

    file: str
    node: Any
    text: str | None = None  # the file's text, kept when ``node`` is None
    base: tuple = ()  # the item's place in the file (an index when the file holds a list)

    def line(self, path: Iterable[str | int] = ()) -> int | None:
        if self.node is None and self.text is not None:
            node = parse_yaml(self.text, self.file)
            for part in self.base:
                node = node[part]
            self.node = node
        return locate(self.node, path)


def locate(node: Any, path: Iterable[str | int]) -> int | None:
    """1-based line of ``path`` inside a ruamel node; the deepest existing parent when it is absent."""
    lc = getattr(node, "lc", None)
    line = lc.line if lc is not None else None
    for part in path:
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
                line = lc.item(part)[0]
            elif isinstance(node, dict) and part in node:
                line = lc.key(part)[0]
            else:
                break
            node = node[part]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return None if line is None else line + 1


def _yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _read_text(path: Path | Traversable, display: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BankError([Problem(display, None, "", "file not found")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise BankError([Problem(display, line, "", f"not valid UTF-8 (byte {e.start}); save the file as UTF-8")]) from None


def parse_yaml(text: str, display: str) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(s for s in (e.context, e.problem) if s) or str(e)
        raise BankError([Problem(display, line, "", f"malformed YAML: {msg}")]) from None
    except YAMLError as e:
        raise BankError([Problem(display, None, "", f"malformed YAML: {e}")]) from None


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate(model: type, node: Any, display: str, base: tuple = ()) -> Any:
    try:
        return model.model_validate(_plain(node))
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling)"
            elif err["type"] == "missing":
                msg = "required field is missing"
            problems.append(Problem(display, locate(node, loc), _field_path(base + loc), msg))
        raise BankError(problems) from None


def _plain(node: Any) -> Any:
    """ruamel's commented containers -> plain dicts/lists/str (pydantic is faster on plain data)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _items(doc: Any, display: str) -> Iterator[tuple[Any, tuple]]:
    if doc is None:
        return
    if isinstance(doc, dict):
        yield doc, ()
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            if not isinstance(item, dict):
                raise BankError([Problem(display, locate(doc, [i]), f"[{i}]", "each item must be a mapping")])
            yield item, (i,)
    else:
        raise BankError([Problem(display, 1, "", "expected a mapping (one item) or a list of mappings")])


class _ParseCache:
    """Plain data of YAML files already parsed, keyed by a hash of their text, in the cache folder.

    Parsing with line numbers is most of the time it takes to load the bank; a file whose text has been
    parsed before is validated from this cache instead (its lines are found again only when a message
    needs one). Any problem with the cache file just means parsing again.
    """

    VERSION = "bank-parse-v1"

    MAX_ENTRIES = 2000  # beyond this, entries this load did not use are dropped

    def __init__(self, path: Path | None, entries: dict[str, Any]):
        self.path, self.entries, self.dirty = path, entries, False
        self.used: set[str] = set()

    @classmethod
    def open(cls) -> _ParseCache:
        import json

        try:
            from agent.config import get_settings

            path = Path(get_settings().cache_dir) / "bank" / f"{cls.VERSION}.json"
        except Exception:  # noqa: BLE001 - no settings, no cache
            return cls(None, {})
        try:
            entries = json.loads(path.read_text("utf-8"))
            return cls(path, entries if isinstance(entries, dict) else {})
        except (OSError, ValueError):
            return cls(path, {})

    @staticmethod
    def key(text: str) -> str:
        import hashlib

        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def get(self, text: str) -> Any:
        if self.path is None:
            return None
        k = self.key(text)
        self.used.add(k)
        return self.entries.get(k)

    def put(self, text: str, doc: Any) -> None:
        import json

        if self.path is None:
            return
        plain = _plain(doc)
        try:
            json.dumps(plain)  # only plain JSON data is cached (a YAML date, say, is parsed each time)
        except (TypeError, ValueError):
            return
        self.entries[self.key(text)] = plain
        self.dirty = True

    def save(self) -> None:
        import json
        import os

        if not self.dirty or self.path is None:
            return
        if len(self.entries) > self.MAX_ENTRIES:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.entries), "utf-8")
            os.replace(tmp, self.path)
        except OSError as e:
            log.debug("could not write the bank parse cache (%s)", e)


# --------------------------------------------------------------------------- the bank


@dataclass
class Bank:
    questions: dict[str, Question] = field(default_factory=dict)
    rubrics: dict[str, Rubric] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)  # "question:ID" / "rubric:ID"
    user: set[str] = field(default_factory=set)  # rubric ids read from a user's bank folder (not packaged)
    section_info: dict[str, Section] = field(default_factory=dict)  # section tag -> title and description
    user_sections: set[str] = field(default_factory=set)  # section tags used by a user's questions
    skipped: list[Problem] = field(default_factory=list)  # problems of the user's files left out (skip_bad)

    def skipped_message(self) -> str | None:
        """What to tell the user, once, about left-out files of theirs; None when nothing was left out."""
        if not self.skipped:
            return None
        lines = ["your bank_dirs: left out what did not load (`viva bank check` lists every problem):"]
        lines += [f"  {p}" for p in self.skipped[:5]]
        if len(self.skipped) > 5:
            lines.append(f"  ... and {len(self.skipped) - 5} more")
        return "\n".join(lines)

    def question(self, qid: str) -> Question:
        try:
            return self.questions[qid]
        except KeyError:
            raise UnknownQuestion(qid, self.suggest(qid)) from None

    def rubric(self, qid: str) -> Rubric:
        if qid not in self.rubrics:
            if qid in self.questions:
                raise KeyError(f"question {qid!r} has no rubric; add rubrics/{qid}.yaml")
            raise UnknownQuestion(qid, self.suggest(qid))
        return self.rubrics[qid]

    def suggest(self, qid: str, n: int = 3) -> list[str]:
        ids = list(self.questions)
        close = difflib.get_close_matches(qid, ids, n=n, cutoff=0.5)
        close += [i for i in ids if qid and qid in i and i not in close]
        return close[:n]

    def sections(self) -> list[str]:
        return sorted({q.section for q in self.questions.values()})

    def section_title(self, tag: str) -> str:
        """A section's title ("Causal language modelling"), else the tag itself."""
        info = self.section_info.get(tag)
        return info.title if info is not None else tag

    def section_label(self, tag: str) -> str:
        """'A: Causal language modelling' (or the bare tag for a section without a title)."""
        info = self.section_info.get(tag)
        return f"{tag}: {info.title}" if info is not None and info.title != tag else tag

    def select(self, section: str | None = None, topic: str | None = None) -> list[Question]:
        out = list(self.questions.values())
        if section:
            out = [q for q in out if q.section.lower() == section.lower()]
        if topic:
            out = [q for q in out if topic.lower() in q.topic.lower()]
        return out

    def check(self) -> list[Problem]:
        """Lint the loaded bank. Errors and warnings, each with file and line."""
        return lint(self)


def _resource_files(package: str) -> list[Traversable]:
    root = resources.files(package)
    return sorted((p for p in root.iterdir() if p.name.endswith((".yaml", ".yml")) and p.name != SECTIONS_FILE),
                  key=lambda p: p.name)


def load_sections(path: Path | Traversable, display: str, into: dict[str, Section],
                  origins: dict[str, Origin]) -> None:
    """Read a sections file (``tag: {title, description}``) into ``into``; problems as file:line: field."""
    text = _read_text(path, display)
    doc = parse_yaml(text, display)
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise BankError([Problem(display, 1, "", "expected a mapping: section tag -> {title, description}")])
    problems = []
    for tag, node in doc.items():
        tag = str(tag)
        try:
            info = _validate(Section, node, display, (tag,)) if isinstance(node, dict) else None
        except BankError as e:
            problems.extend(Problem(p.file, p.line, p.field, p.message) for p in e.problems)
            continue
        if info is None:
            problems.append(Problem(display, locate(doc, [tag]), tag, "expected {title: ..., description: ...}"))
            continue
        into[tag] = info  # a user's file may retitle a packaged section
        origins[f"section:{tag}"] = Origin(display, doc)
    if problems:
        raise BankError(problems)


def load_files(question_files: Iterable[tuple[Any, str]], rubric_files: Iterable[tuple[Any, str]]) -> Bank:
    bank, problems = _load_files(question_files, rubric_files)
    if problems:
        raise BankError(problems)
    return bank


def _load_files(question_files: Iterable[tuple[Any, str]],
                rubric_files: Iterable[tuple[Any, str]]) -> tuple[Bank, list[Problem]]:
    """Every item that validates, and every problem (file, line, field) of the rest."""
    bank = Bank()
    problems: list[Problem] = []

    cache = _ParseCache.open()

    def load(files: Iterable[tuple[Any, str]], model: type, key: str, kind: str, store: dict) -> None:
        for path, display in files:
            try:
                text = _read_text(path, display)
                doc = cache.get(text)
                cached = doc is not None
                if cached:
                    try:  # a file read before: validate its cached plain data (no YAML parse)
                        items = [(_validate(model, node, display, base), node, base)
                                 for node, base in _items(doc, display)]
                    except BankError:
                        cached = False  # parsed again below, so that its problems carry lines
                if not cached:
                    doc = parse_yaml(text, display)
                    items = []
                    for node, base in _items(doc, display):
                        try:
                            items.append((_validate(model, node, display, base), node, base))
                        except BankError as e:
                            problems.extend(e.problems)
                    cache.put(text, doc)
                for obj, node, base in items:
                    ident = getattr(obj, key)
                    origin = Origin(display, None, text, base) if cached else Origin(display, node)
                    if ident in store:
                        prev = bank.origins[f"{kind}:{ident}"]
                        problems.append(
                            Problem(display, origin.line([key]), key,
                                    f"duplicate {kind} id {ident!r} (first defined in {prev.file}:{prev.line()})")
                        )
                        continue
                    store[ident] = obj
                    bank.origins[f"{kind}:{ident}"] = origin
            except BankError as e:
                problems.extend(e.problems)

    load(question_files, Question, "id", "question", bank.questions)
    load(rubric_files, Rubric, "question_id", "rubric", bank.rubrics)
    cache.save()
    return bank, problems


def _dir_files(directory: Path) -> list[tuple[Path, str]]:
    return [(p, str(p)) for p in sorted(directory.glob("*.y*ml")) if p.name != SECTIONS_FILE]


def load_bank(extra_dirs: Iterable[Path] = (), packaged: bool = True, skip_bad: bool = False) -> Bank:
    """The packaged bank plus any extra folders, each holding questions/ and rubrics/ subfolders.

    A problem in any file raises ``BankError`` (what `viva bank check` reports). With ``skip_bad``, a file of
    an extra folder that has problems (or a folder that is missing) is left out instead, whole, and its
    problems are kept in ``bank.skipped``: one bad file of the user's must not take the packaged bank down.
    A problem in a packaged file still raises.
    """
    qfiles: list[tuple[Any, str]] = []
    rfiles: list[tuple[Any, str]] = []
    if packaged:
        qfiles += [(p, f"questions/{p.name}") for p in _resource_files("questions")]
        rfiles += [(p, f"rubrics/{p.name}") for p in _resource_files("rubrics")]
    n_packaged_q, n_packaged_r = len(qfiles), len(rfiles)
    extra_dirs = [Path(d).expanduser() for d in extra_dirs]
    skipped: list[Problem] = []
    for d in list(extra_dirs):
        if not d.is_dir():
            missing = Problem(str(d), None, "", "bank folder not found")
            if not skip_bad:
                raise BankError([missing])
            skipped.append(missing)
            extra_dirs.remove(d)
            continue
        qfiles += _dir_files(d / "questions")
        rfiles += _dir_files(d / "rubrics")
    bank, problems = _load_files(qfiles, rfiles)
    section_files: list[tuple[Any, str]] = []
    if packaged:
        section_files.append((resources.files("questions") / SECTIONS_FILE, f"questions/{SECTIONS_FILE}"))
    user_questions = {display for _, display in qfiles[n_packaged_q:]}
    user_files = {display for _, display in rfiles[n_packaged_r:]}
    for d in extra_dirs:
        f = d / "questions" / SECTIONS_FILE
        if f.is_file():
            section_files.append((f, str(f)))
    for i, (path, display) in enumerate(section_files):
        try:
            if packaged and i == 0:
                load_sections(path, display, bank.section_info, bank.origins)
                continue
            into: dict[str, Section] = {}  # a user's sections file counts whole or not at all
            load_sections(path, display, into, bank.origins)
            bank.section_info.update(into)
        except BankError as e:
            problems.extend(e.problems)
    if problems:
        extra = user_questions | user_files | {display for _, display in section_files[1 if packaged else 0:]}
        if not skip_bad or any(p.file not in extra for p in problems):
            raise BankError(problems)
        _drop_files(bank, {p.file for p in problems})
        skipped += problems
    bank.user_sections = {q.section for qid, q in bank.questions.items()
                          if bank.origins[f"question:{qid}"].file in user_questions}
    bank.user = {rid for rid in bank.rubrics if bank.origins[f"rubric:{rid}"].file in user_files}
    if skip_bad:
        # a user's question whose rubric file was left out (or its rubric, without the question) is left out too
        for qid in [q for q in bank.questions if q not in bank.rubrics]:
            origin = bank.origins[f"question:{qid}"]
            if origin.file in user_questions:
                skipped.append(Problem(origin.file, origin.line(["id"]), "id",
                                       f"question {qid!r} left out: its rubric did not load"))
                del bank.questions[qid]
        for rid in [r for r in bank.rubrics if r not in bank.questions and r in bank.user]:
            origin = bank.origins[f"rubric:{rid}"]
            skipped.append(Problem(origin.file, origin.line(["question_id"]), "question_id",
                                   f"rubric {rid!r} left out: its question did not load"))
            del bank.rubrics[rid]
            bank.user.discard(rid)
        bank.user_sections = {q.section for qid, q in bank.questions.items()
                              if bank.origins[f"question:{qid}"].file in user_questions}
    bank.skipped = skipped
    return bank


def _drop_files(bank: Bank, files: set[str]) -> None:
    """Forget every question and rubric read from these files."""
    for key in [k for k, o in bank.origins.items() if o.file in files]:
        kind, _, ident = key.partition(":")
        if kind == "question":
            bank.questions.pop(ident, None)
        elif kind == "rubric":
            bank.rubrics.pop(ident, None)
        del bank.origins[key]


_skip_reporter: Callable[[str], None] | None = None


def set_skip_reporter(report: Callable[[str], None] | None) -> None:
    """Who tells the user about left-out files when ``default_bank()`` loads (the CLI: stderr). Without
    one it is only logged, and the front end reads ``bank.skipped_message()`` itself (the app: a notice)."""
    global _skip_reporter
    _skip_reporter = report


@functools.lru_cache(maxsize=1)
def default_bank() -> Bank:
    """The bank as configured (packaged + settings.bank_dirs), loaded once per process. A bad file in a
    ``bank_dirs`` folder is left out and listed in ``bank.skipped`` (the front end says so, once);
    `viva bank check` loads strictly instead."""
    from agent.config import get_settings

    bank = load_bank(get_settings().bank_dirs, skip_bad=True)
    message = bank.skipped_message()
    if message is not None:
        log.info("%s", message)
        if _skip_reporter is not None:
            _skip_reporter(message)  # default_bank is loaded once per process, so this is said once
    return bank


# --------------------------------------------------------------------------- lint

MIN_EXEMPLARS = 3
MIN_HINTS = 2
MIN_SAMPLES = 5
KIND_CAPS = {"misconception": 2.0, "adversarial": 1.0}  # the grader caps these; so must their bands


def _phrase_re(phrase: str) -> re.Pattern[str] | None:
    words = phrase.strip().split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def concept_phrases(concept: Concept) -> list[str]:
    """The words that name a concept: its terms and aliases, and its name as a whole phrase."""
    return [t for t in (*concept.terms, concept.name) if t.strip()]


def leaked_terms(concept: Concept, text: str | None) -> list[str]:
    """The concept's terms (or its name) that ``text`` contains, ignoring case, as whole words or phrases."""
    if not text:
        return []
    out = []
    for phrase in concept_phrases(concept):
        rx = _phrase_re(phrase)
        if rx is not None and rx.search(text) and phrase not in out:
            out.append(phrase)
    return out


def lint(bank: Bank) -> list[Problem]:
    out: list[Problem] = []

    def err(kind: str, ident: str, path: list, message: str, level: str = "error") -> None:
        origin = bank.origins.get(f"{kind}:{ident}")
        out.append(Problem(origin.file if origin else f"<{kind} {ident}>",
                           origin.line(path) if origin else None, _field_path(tuple(path)), message, level))

    try:
        from agent.demos import demo_names

        demos: set[str] | None = set(demo_names())
    except ImportError:  # pragma: no cover - demos package always present in a full install
        demos = None

    for qid, q in bank.questions.items():
        if q.section not in bank.section_info:
            user = q.section in bank.user_sections
            err("question", qid, ["section"], f"section {q.section!r} has no title; add it to questions/{SECTIONS_FILE} "
                "as {title: ..., description: ...}", "warning" if user else "error")
        rubric = bank.rubrics.get(qid)
        if rubric is None:
            err("question", qid, ["id"], f"question {qid!r} has no rubric (expected rubrics/{qid}.yaml)")
            concept_ids: set[str] = set()
        else:
            concept_ids = {c.id for c in rubric.concepts}
        for i, kc in enumerate(q.key_concepts):
            if rubric is not None and kc not in concept_ids:
                err("question", qid, ["key_concepts", i], f"key concept {kc!r} is not in the rubric's concepts")
        for i, fu in enumerate(q.follow_ups):
            if fu.question is not None:
                if fu.question not in bank.questions:
                    close = difflib.get_close_matches(fu.question, list(bank.questions), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    err("question", qid, ["follow_ups", i, "question"],
                        f"follow-up {fu.question!r} is not a bank question{hint}")
                elif fu.question == qid:
                    err("question", qid, ["follow_ups", i, "question"], "a question cannot follow up itself")
            if rubric is not None and fu.concept not in concept_ids:
                err("question", qid, ["follow_ups", i, "concept"],
                    f"follow-up probes {fu.concept!r}, which is not a concept of this question's rubric")

    for qid, r in bank.rubrics.items():
        if qid not in bank.questions:
            err("rubric", qid, ["question_id"], f"rubric for {qid!r} has no question (expected questions/{qid}.yaml)")
        seen: set[str] = set()
        key = set(bank.questions[qid].key_concepts) if qid in bank.questions else set()
        for i, c in enumerate(r.concepts):
            if c.id in seen:
                err("rubric", qid, ["concepts", i, "id"], f"duplicate concept id {c.id!r}")
            seen.add(c.id)
            if len(c.exemplars) < MIN_EXEMPLARS:
                err("rubric", qid, ["concepts", i, "exemplars"],
                    f"concept {c.id!r} has {len(c.exemplars)} exemplars; write at least {MIN_EXEMPLARS}")
            for j, text in ([("probe", c.probe)] if c.probe else []) + [(k, h) for k, h in enumerate(c.hints)]:
                found = leaked_terms(c, text)
                if found:
                    where = ["concepts", i, "probe"] if j == "probe" else ["concepts", i, "hints", j]
                    what = "probe" if j == "probe" else f"hint {j + 1}"
                    err("rubric", qid, where, f"the {what} of {c.id!r} gives the answer away: it contains "
                        f"{', '.join(repr(t) for t in found)} (a term of the concept); say it without those words")
            if c.id in key:
                level = "warning" if qid in bank.user else "error"
                if not c.probe:
                    err("rubric", qid, ["concepts", i], f"key concept {c.id!r} has no probe; write the question "
                        "an interviewer would ask for it, without naming it", level)
                if len(c.hints) < MIN_HINTS:
                    err("rubric", qid, ["concepts", i, "hints"] if c.hints else ["concepts", i],
                        f"key concept {c.id!r} has {len(c.hints)} hints; write {MIN_HINTS} or 3, vague to specific",
                        level)
            if demos is not None:
                if c.demo is not None and c.demo not in demos:
                    close = difflib.get_close_matches(c.demo, sorted(demos), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    err("rubric", qid, ["concepts", i, "demo"], f"demo {c.demo!r} does not exist{hint}")
                if c.computational and c.demo is None:
                    err("rubric", qid, ["concepts", i, "demo"],
                        f"computational concept {c.id!r} has no demo; link one with 'demo:'")
        mseen: set[str] = set()
        for i, m in enumerate(r.misconceptions):
            if m.id in mseen:
                err("rubric", qid, ["misconceptions", i, "id"], f"duplicate misconception id {m.id!r}")
            mseen.add(m.id)
        if not r.misconceptions:
            err("rubric", qid, ["misconceptions"], "every question needs at least one misconception")
        sseen: set[str] = set()
        for i, s in enumerate(r.samples):
            if s.id in sseen:
                err("rubric", qid, ["samples", i, "id"], f"duplicate sample id {s.id!r}")
            sseen.add(s.id)
            cap = KIND_CAPS.get(s.kind)
            if cap is not None and s.band[1] > cap:
                err("rubric", qid, ["samples", i, "band"],
                    f"a {s.kind} sample is worth at most {cap:g}; its band {list(s.band)} goes above that")
            for fld in ("covered", "missing"):
                for j, cid in enumerate(getattr(s, fld)):
                    if cid not in seen:
                        err("rubric", qid, ["samples", i, fld, j], f"{cid!r} is not a concept of this rubric")
        if len(r.samples) < MIN_SAMPLES:
            err("rubric", qid, ["samples"], f"{len(r.samples)} sample answers; write at least {MIN_SAMPLES}")
    return out
