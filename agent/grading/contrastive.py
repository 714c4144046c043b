"""The embedding grader on an encoder fine-tuned to tell *states* from *only talks about*.

Same pipeline as :mod:`agent.grading.embedding` (sentences and clauses, question-free remainders, evidence,
misconceptions, caps), two things changed:

* the encoder is the bundled all-MiniLM-L6-v2 fine-tuned contrastively on the project's corpus
  (``scripts/entail/train_biencoder.py``): a rubric statement and an answer unit that states it, in any
  words, are close; one that contradicts it, restates the question or lists its terms is far;
* what turns similarity into credit is fitted, not set by hand (``scripts/entail/fit_calibration.py``, on
  the corpus's dev topics; the test topics are reported and never fitted on) and shipped beside the weights
  as ``calibration.json``. Term matches add no credit: the learned similarity already weighs the words.
"""

from __future__ import annotations

import json

from agent.grading.base import register
from agent.grading.cache import TUNED, TUNED_DIR
from agent.grading.embedding import Calibration, EmbeddingScorer

CALIBRATION = TUNED_DIR / "calibration.json"


@register("contrastive")
def _factory() -> ContrastiveScorer:
    return ContrastiveScorer()


def load_calibration(path=CALIBRATION) -> Calibration:
    """The fitted calibration, or a clear error naming the file and the script that writes it."""
    from agent.errors import UserError

    try:
        data = json.loads(path.read_text("utf-8"))
        fields = {k: float(v) for k, v in data["calibration"].items() if k in Calibration.__dataclass_fields__}
        return Calibration(**fields)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path.name}: cannot read the tuned grader's calibration ({e}); reinstall viva, or "
                        "run scripts/entail/fit_calibration.py, or set grader = \"embedding\"") from e


class ContrastiveScorer(EmbeddingScorer):
    name = "contrastive"
    embedding_model = TUNED

    def _load_calibration(self) -> Calibration:
        return load_calibration()
