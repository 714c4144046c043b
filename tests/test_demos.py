"""The PyTorch concept demos: every demo's checks pass on fresh random inputs, every run produces a result,
the checks can fail when the code they guard is broken, and `viva demo` behaves."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.demos import DemoResult, demo_names, load, resolve_device

DEMOS_DIR = Path(__file__).resolve().parent.parent / "agent" / "demos"

EXPECTED = [
    "attention", "causal_mask", "ce_gradient", "char_lm", "cross_entropy_stability", "electra", "emergence_metric",
    "in_context_copying", "infonce", "label_smoothing_temperature", "large_vocab_softmax", "mixture_of_denoisers",
    "mlm_masking", "moe_load_balancing", "multi_token_prediction", "next_token_data", "nsp_pairs", "padding_mask",
    "perplexity", "positions", "prefix_lm", "scaling_laws", "self_supervised_labels", "sft_prompt_mask",
    "span_corruption", "z_loss",
]
# Demos that train a model: slower, still run in CI.
TRAINING = {"char_lm", "in_context_copying", "moe_load_balancing", "scaling_laws", "z_loss"}


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in TRAINING else n for n in names]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_demo_is_present() -> None:
    assert demo_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_metadata_and_signatures(name: str) -> None:
    mod = load(name)
    assert isinstance(mod.TITLE, str) and mod.TITLE
    assert mod.CONCEPTS and all(isinstance(c, str) and c == c.lower() and " " not in c for c in mod.CONCEPTS)
    assert all(isinstance(q, str) for q in mod.QUESTIONS)
    assert mod.__doc__ and len(mod.__doc__) > 80, "the module docstring is the demo's explanation"
    assert list(inspect.signature(mod.run).parameters) == ["device"]
    assert inspect.signature(mod.run).parameters["device"].default == "cpu"
    assert list(inspect.signature(mod.verify).parameters) == ["device", "seed"]


def test_demos_import_without_torch() -> None:
    code = ("import sys, agent.demos as d\n"
            "for n in d.demo_names(): d.load(n)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


FACTORIES = {"randn", "rand", "randint", "zeros", "ones", "full", "arange", "tensor", "empty", "eye", "randperm",
             "linspace", "logspace"}


def _factory_calls_without_device(tree: ast.AST) -> list[int]:
    """Line numbers of torch.<factory>(...) calls that name no device, unless the value is turned into a
    Python number (int(...), float(...), .item(), .tolist()) or moved with .to(...)."""
    parents = {ch: node for node in ast.walk(tree) for ch in ast.iter_child_nodes(node)}
    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FACTORIES
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
            continue
        if any(k.arg == "device" for k in node.keywords):
            continue
        cur, ok = node, False
        while True:
            p = parents.get(cur)
            if isinstance(p, ast.Attribute) and p.attr in ("to", "tolist", "item"):
                ok = True
            elif isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id in ("int", "float"):
                ok = True
            elif isinstance(p, ast.Attribute) or (isinstance(p, ast.Call) and p.func is cur):
                cur = p
                continue
            break
        if not ok:
            bad.append(node.lineno)
    return bad


def test_tensors_are_created_on_the_given_device() -> None:
    """No GPU in CI, so the CUDA path is kept correct by construction: every tensor factory names a device."""
    problems = {}
    for path in sorted(DEMOS_DIR.glob("*.py")):
        bad = _factory_calls_without_device(ast.parse(path.read_text(encoding="utf-8")))
        if bad:
            problems[path.name] = bad
    assert problems == {}


def test_device_lint_catches_a_missing_device() -> None:
    tree = ast.parse("import torch\nx = torch.randn(3, 4)\ny = torch.zeros(2, device=d)\nn = int(torch.randint(1, 5, (1,)))\n")
    assert _factory_calls_without_device(tree) == [2]


@pytest.mark.parametrize("name", _params(EXPECTED))
def test_checks_pass_on_fresh_inputs(name: str) -> None:
    from agent.demos import verify_demo

    checks, seed, _ = verify_demo(name, "cpu")
    assert len(checks) >= 3, "a demo verifies at least three properties"
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    assert not failed, f"seed {seed}: {failed}"
    assert len({c.name for c in checks}) == len(checks)


@pytest.mark.parametrize("name", _params(EXPECTED))
def test_run_returns_a_result(name: str) -> None:
    from agent.demos import run_demo

    result, seconds = run_demo(name, "cpu")
    assert isinstance(result, DemoResult) and result.device == "cpu"
    assert len(result.narration.split()) >= 25
    assert result.numbers or result.tables
    for t in result.tables:
        assert t.rows and all(len(r) == len(t.columns) for r in t.rows), t.title
    back = DemoResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.narration == result.narration and len(back.tables) == len(result.tables)


def test_training_runs_are_deterministic() -> None:
    from agent.demos import run_demo

    a, _ = run_demo("z_loss", "cpu")
    b, _ = run_demo("z_loss", "cpu")
    assert a.to_dict() == b.to_dict()


def test_checks_draw_fresh_inputs_and_a_seed_reproduces_them() -> None:
    mod = load("attention")
    first = [c.detail for c in mod.verify("cpu", seed=1)]
    again = [c.detail for c in mod.verify("cpu", seed=1)]
    other = [c.detail for c in mod.verify("cpu", seed=2)]
    assert first == again
    assert first != other


# ---------------------------------------------------------------- the checks can fail


def _failed(name: str, monkeypatch: pytest.MonkeyPatch, attr: str, broken) -> list[str]:
    mod = load(name)
    monkeypatch.setattr(mod, attr, broken)
    return [c.name for c in mod.verify("cpu", seed=123) if not c.passed]


def test_broken_nll_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = load("next_token_data")
    summed = lambda logits, targets: -logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).sum()  # noqa: E731
    assert "F.cross_entropy == mean of -log_softmax gathered at the target" in _failed(
        "next_token_data", monkeypatch, "nll_by_hand", summed)
    assert mod.nll_by_hand is summed


def test_pads_in_the_mean_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.nn.functional as F

    def mean_with_pads(logits, labels):
        return F.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0))

    assert "ignore_index=-100 == mask-weighted mean" in _failed("padding_mask", monkeypatch, "loss_masked_mean",
                                                               mean_with_pads)


def test_attention_without_causal_mask_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = load("attention").attention
    failed = _failed("attention", monkeypatch, "attention", lambda q, k, v, causal=False: original(q, k, v))
    assert "... with the causal flag" in failed
    assert "multi-head by hand == nn.MultiheadAttention" in failed


def test_wrong_ce_gradient_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = _failed("ce_gradient", monkeypatch, "analytic_grad", lambda z, y: z.softmax(-1))
    assert "autograd (sum) == softmax - onehot" in failed


def test_absolute_positions_fail_the_rope_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def additive(x, positions):  # an absolute scheme: scores depend on m and n, not only on m - n
        return x + 0.01 * positions.to(x.dtype).unsqueeze(-1)

    assert "RoPE: score(q at m, k at n) == score(q at m+s, k at n+s)" in _failed("positions", monkeypatch, "rope",
                                                                                 additive)


def test_a_leaky_mask_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = load("causal_mask")
    original = mod.tiny_transformer

    def leaky(device):
        model = original(device)
        forward = model.forward
        model.forward = lambda ids, causal=True: forward(ids, False)
        return model

    assert "with the mask, earlier logits do not change" in _failed("causal_mask", monkeypatch, "tiny_transformer", leaky)


def test_wrong_masking_rate_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = load("mlm_masking").mask_tokens
    failed = _failed("mlm_masking", monkeypatch, "mask_tokens", lambda ids, v, rate=0.15: original(ids, v, 0.25))
    assert "15% of the ordinary tokens are selected" in failed


def test_lost_closing_sentinel_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = load("span_corruption").corrupt

    def no_closing(tokens, mask):
        inputs, target = original(tokens, mask)
        return inputs, target[:-1]

    assert "one sentinel per span in the input; the target has them plus a closing one" in _failed(
        "span_corruption", monkeypatch, "corrupt", no_closing)


def test_unnormalised_infonce_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    import torch.nn.functional as F

    def raw(a, b, tau):
        return F.cross_entropy(a @ b.T / tau, torch.arange(len(a), device=a.device))

    assert "InfoNCE == cross-entropy over the similarity matrix, by hand" in _failed("infonce", monkeypatch, "infonce", raw)


# ---------------------------------------------------------------- devices and errors


def test_resolve_device() -> None:
    import torch

    from agent.errors import UserError

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="cpu, cuda or auto"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_unknown_demo_names_the_closest() -> None:
    from agent.errors import UserError

    with pytest.raises(UserError, match="did you mean 'attention'"):
        load("atention")


def test_a_crashing_demo_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.demos import report

    mod = load("prefix_lm")

    def boom(device="cpu", seed=None):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(mod, "verify", boom)
    rep = report("prefix_lm", "cpu", do_run=False)
    assert not rep.passed and "RuntimeError: shape mismatch" in rep.error


def test_declared_questions_exist_in_the_bank(bank) -> None:
    missing = {n: [q for q in load(n).QUESTIONS if q not in bank.questions] for n in EXPECTED}
    assert {n: qs for n, qs in missing.items() if qs} == {}


def test_lookups_for_the_app() -> None:
    from agent.demos import demos_for_question, info, source

    assert "next_token_data" in demos_for_question("clm-loss")
    assert demos_for_question("no-such-question") == []
    assert source("causal_mask") == (DEMOS_DIR / "causal_mask.py").read_text(encoding="utf-8")
    i = info("causal_mask")
    assert i.title == load("causal_mask").TITLE and i.path.name == "causal_mask.py"


def test_rubric_demo_links_resolve(bank) -> None:
    linked = {c.demo for r in bank.rubrics.values() for c in r.concepts if c.demo}
    assert linked <= set(EXPECTED)


# ---------------------------------------------------------------- CLI


def viva(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", "demo", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "COLUMNS": "200"})


def test_cli_list_json() -> None:
    out = viva("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == sorted(EXPECTED)
    assert all(r["title"] and r["concepts"] for r in rows)


def test_cli_show_prints_the_source() -> None:
    out = viva("show", "attention", "--plain")
    assert out.returncode == 0
    assert out.stdout == (DEMOS_DIR / "attention.py").read_text(encoding="utf-8")


def test_cli_unknown_demo_is_bad_input() -> None:
    out = viva("run", "atention")
    assert out.returncode == 2
    assert "did you mean 'attention'" in out.stderr


def test_cli_run_prints_narration_and_checks() -> None:
    out = viva("run", "prefix_lm", "--device", "cpu", "--seed", "7")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bidirectional" in out.stdout
    assert out.stdout.count("PASS") == len(load("prefix_lm").verify("cpu", seed=7))
    assert "FAIL" not in out.stdout and "seed 7" in out.stdout


def test_cli_verify_several_as_json() -> None:
    out = viva("verify", "positions", "nsp_pairs", "--device", "cpu", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True
    assert [d["name"] for d in data["demos"]] == ["positions", "nsp_pairs"]
    assert all(d["checks"] and d["verify_s"] is not None for d in data["demos"])


@pytest.mark.slow
def test_cli_time_limit_stops_a_slow_demo() -> None:
    # in_context_copying trains for about 1.7 s on a 2-core CPU once torch is warm (the slowest demo), char_lm
    # about 0.5 s: too close to the limit to be sure to overrun it
    out = viva("verify", "in_context_copying", "attention", "--device", "cpu", "--timeout", "0.5", "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert "timed out after 0.5 s" in data["demos"][0]["error"]
    # the next demo still runs, in a fresh process
    assert data["demos"][1]["name"] == "attention" and data["demos"][1]["passed"] is True


def test_cli_cuda_without_a_gpu_is_bad_input() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = viva("run", "attention", "--device", "cuda")
    assert out.returncode == 2
    assert "no CUDA GPU" in out.stderr


def test_a_dying_child_is_reported_with_what_it_printed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The runner both front ends use: a child that dies yields its printed lines (stdout and stderr) as
    Output, then the demo's report with the exit code and the end of its stderr."""
    from agent.demos import _runner

    child = tmp_path / "child.sh"
    child.write_text("#!/bin/sh\necho 'plain stdout'\necho 'boom on stderr' >&2\nexit 3\n")
    child.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(child))
    events = list(_runner.events(["causal_mask"], "cpu", timeout=None))
    assert {e.line for e in events if isinstance(e, _runner.Output)} == {"plain stdout", "boom on stderr"}
    last = events[-1]
    assert isinstance(last, _runner.Finished) and not last.report.passed
    assert last.report.error == "the demo process exited with code 3:\nboom on stderr"


def test_cli_exit_code_is_1_when_a_check_fails(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import agent.demos._runner as runner
    from agent.cli import main
    from agent.demos import Check, RunReport

    def fake(names, device, **kw):
        yield RunReport(name=names[0], device="cpu", checks=[Check("holds", True), Check("breaks", False, "x")],
                        seed=5, verify_s=0.1)

    monkeypatch.setattr(runner, "run_in_child", fake)
    assert main(["demo", "verify", "attention"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "breaks" in out and "--seed 5" in out
