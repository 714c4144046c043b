"""Span corruption (T5): drop random spans, put one sentinel in the input per dropped span, and make the
target the dropped spans, each introduced by its sentinel.

With a corruption rate of 15% and a mean span length of 3, the input keeps ~85% of the tokens plus a
sentinel per span and the target is short (~15% of the tokens plus the sentinels), so the
encoder-decoder trains cheaply. Input and target together rebuild the original text exactly.
"""

from __future__ import annotations

import random

from agent.demos._base import Check, DemoResult, Table, check, fresh_seed

TITLE = "Span corruption (T5): sentinels in the input, spans in the target"
CONCEPTS = ["sentinel-tokens", "mean-span-length"]
QUESTIONS = ["span-corruption", "span-corruption-example", "denoising-autoencoding", "pretraining-tasks",
    "qf-t5-objective", "ssl-other-tasks"]

TEXT = ("Thank you for inviting me to your party last week . The music was loud but the food was great and "
        "we stayed until midnight talking about old times . Next month it is our turn , so keep the second "
        "Saturday free and bring your brother if he is in town .")


def sentinel(k: int) -> str:
    return f"<extra_id_{k}>"


def random_segmentation(n_items: int, n_segments: int, rng: random.Random) -> list[int]:
    """Split n_items into n_segments non-empty parts, uniformly at random (lengths sum to n_items)."""
    cuts = sorted(rng.sample(range(1, n_items), n_segments - 1))
    bounds = [0, *cuts, n_items]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def noise_mask(length: int, rate: float, mean_span: float, rng: random.Random) -> list[bool]:
    """T5's random_spans_noise_mask: round(length * rate) noise tokens in round(noise / mean_span) spans,
    interleaved with non-noise spans, starting with non-noise."""
    n_noise = min(max(round(length * rate), 1), length - 1)
    n_spans = max(round(n_noise / mean_span), 1)
    n_spans = min(n_spans, n_noise, length - n_noise)
    noise_lens = random_segmentation(n_noise, n_spans, rng)
    keep_lens = random_segmentation(length - n_noise, n_spans, rng)
    mask: list[bool] = []
    for keep, noise in zip(keep_lens, noise_lens, strict=True):
        mask += [False] * keep + [True] * noise
    return mask


def corrupt(tokens: list, mask: list[bool]) -> tuple[list, list]:
    """Input: each noise span -> one sentinel. Target: sentinel, span tokens, ..., closing sentinel."""
    inputs, target, k = [], [], 0
    for i, (tok, is_noise) in enumerate(zip(tokens, mask, strict=True)):
        starts_span = is_noise and (i == 0 or not mask[i - 1])
        if starts_span:
            inputs.append(sentinel(k))
            target.append(sentinel(k))
            k += 1
        (target if is_noise else inputs).append(tok)
    target.append(sentinel(k))
    return inputs, target


def rebuild(inputs: list, target: list) -> list:
    """Put each sentinel's span from the target back in place of that sentinel in the input."""
    spans, current = {}, None
    for tok in target:
        if isinstance(tok, str) and tok.startswith("<extra_id_"):
            current = tok
            spans[current] = []
        else:
            spans[current].append(tok)
    out = []
    for tok in inputs:
        out += spans[tok] if tok in spans else [tok]
    return out


def spans_of(mask: list[bool]) -> list[int]:
    lens, run = [], 0
    for m in [*mask, False]:
        if m:
            run += 1
        elif run:
            lens.append(run)
            run = 0
    return lens


def run(device: str = "cpu") -> DemoResult:
    rng = random.Random(1)
    tokens = TEXT.split()
    mask = noise_mask(len(tokens), 0.15, 3.0, rng)
    inputs, target = corrupt(tokens, mask)
    many = [noise_mask(512, 0.15, 3.0, rng) for _ in range(200)]
    lens = [n for m in many for n in spans_of(m)]
    return DemoResult(
        narration=(
            f"{len(tokens)} words, 15% corrupted in spans of mean length 3. Each dropped span becomes one "
            "sentinel in the input; the target lists the spans, each after its sentinel, and ends with a closing "
            f"sentinel. The input has {len(inputs)} tokens and the target only {len(target)}. Over 200 sequences "
            f"of 512 tokens the noise rate is {sum(map(sum, many)) / (512 * 200):.4f} and the mean span length "
            f"{sum(lens) / len(lens):.2f}. Rebuilding from input and target gives back the original exactly."
        ),
        numbers={"input": " ".join(inputs), "target": " ".join(target)},
        tables=[Table("lengths", ["original", "input", "target"], [[len(tokens), len(inputs), len(target)]])],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    seed = fresh_seed(seed)
    rng = random.Random(seed)
    rate, mu = rng.uniform(0.1, 0.5), rng.choice([2.0, 3.0, 5.0, 8.0])
    ok_rebuild, ok_sentinels, noise, total, lens = True, True, 0, 0, []
    for _ in range(300):
        n = rng.randint(20, 600)
        tokens = [rng.randrange(32000) for _ in range(n)]
        mask = noise_mask(n, rate, mu, rng)
        inputs, target = corrupt(tokens, mask)
        ok_rebuild &= rebuild(inputs, target) == tokens
        n_sent = sum(isinstance(t, str) for t in inputs)
        ok_sentinels &= n_sent == len(spans_of(mask)) == sum(isinstance(t, str) for t in target) - 1
        noise, total, lens = noise + sum(mask), total + n, lens + spans_of(mask)
    return [
        check("input + target rebuild the original", ok_rebuild, "300 random sequences"),
        check("one sentinel per span in the input; the target has them plus a closing one", ok_sentinels, ""),
        check("corruption rate as asked", abs(noise / total - rate) < 0.01, f"{noise / total:.4f} vs {rate:.4f}"),
        check("mean span length as asked", abs(sum(lens) / len(lens) - mu) < 0.1 * mu,
              f"{sum(lens) / len(lens):.3f} vs {mu}"),
    ]
