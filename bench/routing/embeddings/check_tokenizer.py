"""Check that compare.py's numpy-only embedder gives model2vec's own vectors.

python bench/routing/embeddings/check_tokenizer.py   (after distill.py; needs model2vec)
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2]))

from compare import StaticEmbedder, load_questions  # noqa: E402
from model2vec import StaticModel  # noqa: E402

ROOT = HERE.parents[2] / "tests" / "data" / "routing"


def main() -> None:
    texts = [q["text"] for q in load_questions()]
    with open(ROOT / "audit.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts += [t for t in row["strengths"].split(";") + row["needs"].split(";") if t]
    texts += ["Ça va? naïve café — “quotes” 22% £5k Y9/Y10 EHCP's", "", "日本語 text", "x" * 150]
    ref = StaticModel.from_pretrained(str(HERE / "model" / "model2vec"))
    mine_st = StaticEmbedder.load(str(HERE / "model" / "model2vec"))
    mine_np = StaticEmbedder.load(str(HERE / "model" / "static"))
    bad = 0
    for t in texts:
        a = ref.tokenize([t])[0]
        b = mine_st.tokenizer.ids(t)
        if a != b:
            bad += 1
            print("DIFF", repr(t), a[:20], b[:20])
    r = ref.encode(texts).astype(np.float32)
    for m in (mine_st, mine_np):
        e = m.encode(texts)
        print(
            "texts", len(texts), "token mismatches", bad, "max |diff| vs model2vec.encode", float(np.abs(r - e).max())
        )


if __name__ == "__main__":
    main()
