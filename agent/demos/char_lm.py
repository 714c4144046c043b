"""A tiny character-level causal language model, trained in seconds.

Everything a large model does in miniature: a causal transformer reads characters, is trained with
next-character cross-entropy, and samples text one character at a time. Within a few hundred steps its
loss falls below the unigram entropy (the best a model can do without looking at context), and its
held-out perplexity says how many characters it is still torn between on text it never trained on.
"""

from __future__ import annotations

import math

from agent.demos._base import Check, DemoResult, Table, check, fmt, fresh_seed

TITLE = "A tiny character-level causal LM"
CONCEPTS = ["char-lm-training", "held-out-perplexity", "sampling"]
QUESTIONS = ["clm-loss"]

CONTEXT, DIM, HEADS, LAYERS = 16, 32, 4, 1

CORPUS = """\
A language model reads text one token at a time and learns to guess the next one. At the start of training
it knows nothing, so every character is equally likely, and the loss is the logarithm of the size of the
alphabet. Soon it learns which letters are common and which are rare, and the loss falls to the entropy of
the letter counts. Then it begins to use the context: after a q comes a u, after a full stop comes a space
and then a capital letter, and a word that has started tends to finish the way it finished before. The loss
keeps falling as the model learns longer and longer patterns. It learns spelling before grammar, and grammar
before meaning. A model with more parameters, trained on more text, keeps improving for longer, and the
improvement follows a smooth curve when it is plotted against the amount of compute that was spent. The
training signal is free: every position in every sentence is an example, because the next character is
always there to be checked. Nobody has to label anything. This is why language models can be trained on so
much text, and why the same simple objective, predicting what comes next, turns out to teach so much. When
the model is used to write, it samples a character from its prediction, appends it to the context, and
predicts again. A low temperature makes it cautious and repetitive; a high temperature makes it adventurous
and careless. The model never sees the future while it is trained, because a causal mask hides every later
position from every earlier one. If the mask were missing, the model could simply read the answer, the loss
would fall to nearly zero, and it would learn nothing that helps it write. Held-out text tells us whether
the model has learned the language or only memorised the page: the loss on sentences it has never seen is
the honest number, and its exponential, the perplexity, is the number of characters the model is still
choosing between at each step. A perfect model would have a perplexity of one; a model that guesses
uniformly would have a perplexity equal to the size of the alphabet. Real models live in between, and the
distance from the bottom is what more data and more parameters buy.
"""


def encode(text: str, vocab: list[str], device: str):
    import torch

    return torch.tensor([vocab.index(c) for c in text], device=device)


def make_model(vocab_size: int, device: str):
    from torch import nn

    class CharLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab_size, DIM), nn.Embedding(CONTEXT, DIM)
            layer = nn.TransformerEncoderLayer(DIM, HEADS, 4 * DIM, dropout=0.0, batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
            self.head = nn.Linear(DIM, vocab_size)

        def forward(self, ids):
            import torch

            T = ids.size(1)
            x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))
            mask = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device)
            return self.head(self.blocks(x, mask=mask, is_causal=True))

    return CharLM().to(device)


def batches(data, batch: int, device: str):
    """Random windows of CONTEXT + 1 characters: inputs and their next-character targets."""
    import torch

    starts = torch.randint(0, len(data) - CONTEXT - 1, (batch,), device=device)
    idx = starts.unsqueeze(1) + torch.arange(CONTEXT + 1, device=device)
    win = data[idx]
    return win[:, :-1], win[:, 1:]


def eval_loss(model, data) -> float:
    """Mean next-character loss over non-overlapping windows of held-out text."""
    import torch
    import torch.nn.functional as F

    n = (len(data) - 1) // CONTEXT
    x = data[: n * CONTEXT].view(n, CONTEXT)
    y = data[1 : n * CONTEXT + 1].view(n, CONTEXT)
    with torch.no_grad():
        return F.cross_entropy(model(x).transpose(1, 2), y).item()


def unigram_entropy(data, vocab_size: int) -> float:
    import torch

    p = torch.bincount(data, minlength=vocab_size).double()
    p = p[p > 0] / p.sum()
    return -(p * p.log()).sum().item()


def train(device: str, steps: int = 250, batch: int = 32):
    import torch
    import torch.nn.functional as F

    vocab = sorted(set(CORPUS))
    data = encode(CORPUS, vocab, device)
    split = int(0.9 * len(data))
    train_data, held_out = data[:split], data[split:]
    model = make_model(len(vocab), device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    history = []
    for step in range(steps + 1):
        x, y = batches(train_data, batch, device)
        loss = F.cross_entropy(model(x).transpose(1, 2), y)
        if step % 50 == 0:
            history.append((step, loss.item()))
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, vocab, train_data, held_out, history


def sample(model, vocab: list[str], prompt: str, n: int, temperature: float, device: str) -> str:
    import torch

    ids = encode(prompt, vocab, device).unsqueeze(0)
    with torch.no_grad():
        for _ in range(n):
            logits = model(ids[:, -CONTEXT:])[0, -1] / temperature
            nxt = torch.multinomial(logits.softmax(-1), 1)
            ids = torch.cat([ids, nxt.unsqueeze(0)], dim=1)
    return "".join(vocab[i] for i in ids[0].tolist())


def run(device: str = "cpu") -> DemoResult:
    fresh_seed(0)
    model, vocab, train_data, held_out, history = train(device)
    h_uni = unigram_entropy(train_data, len(vocab))
    held = eval_loss(model, held_out)
    text = sample(model, vocab, "The model ", 120, 0.8, device)
    return DemoResult(
        narration=(
            f"{len(CORPUS):,} characters, {len(vocab)} distinct; 90% to train on, 10% held out. A "
            f"{LAYERS}-layer causal transformer (context {CONTEXT}) starts at {history[0][1]:.2f} nats (log V = "
            f"{math.log(len(vocab)):.2f}), passes the "
            f"unigram entropy ({h_uni:.2f}) and ends at {history[-1][1]:.2f} on training windows after "
            f"{history[-1][0]} steps. On held-out text the loss is {held:.2f}: perplexity "
            f"{math.exp(held):.1f} characters (uniform would be {len(vocab)}). A sample at temperature 0.8 "
            f"(prompt 'The model '): {text!r}. It has learned spelling-level patterns, not meaning."
        ),
        numbers={"log V": fmt(math.log(len(vocab))), "unigram entropy": fmt(h_uni), "train loss": fmt(history[-1][1]),
                 "held-out loss": fmt(held), "held-out perplexity": fmt(math.exp(held))},
        tables=[Table("training loss", ["step", "loss"], [[s, fmt(v)] for s, v in history])],
    )


def verify(device: str = "cpu", seed: int | None = None) -> list[Check]:
    import torch

    fresh_seed(seed)
    vocab = sorted(set(CORPUS))
    data = encode(CORPUS, vocab, device)
    x, y = batches(data, 8, device)
    checks = [check("windows: targets are inputs shifted by one character", bool((x[:, 1:] == y[:, :-1]).all()), "")]
    model = make_model(len(vocab), device)
    j = int(torch.randint(1, CONTEXT, (1,)))
    other = x.clone()
    other[:, j] = (other[:, j] + 1) % len(vocab)
    with torch.no_grad():
        gap = (model(x)[:, :j] - model(other)[:, :j]).abs().max().item()
    checks.append(check("causal: earlier predictions ignore a changed later character", gap < 1e-5, f"{gap:.2e}"))
    untrained = eval_loss(model, data)
    model, vocab, train_data, held_out, history = train(device, steps=150)
    h_uni = unigram_entropy(train_data, len(vocab))
    held = eval_loss(model, held_out)
    checks.append(check("after training, held-out loss is below the unigram entropy (and the untrained loss)",
                        held < h_uni < untrained, f"held-out {held:.3f} vs unigram {h_uni:.3f}, untrained "
                        f"{untrained:.3f} (held-out perplexity {math.exp(held):.1f})"))
    text = sample(model, vocab, "The ", 40, 1.0, device)
    checks.append(check("sampling extends the prompt with known characters", text.startswith("The ")
                        and len(text) == 44 and set(text) <= set(vocab), repr(text)))
    return checks
