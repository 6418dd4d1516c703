"""Does meaning-level similarity beat the vocabulary matcher? ``python compare.py``.

An optional benchmark beside ``bench.routing.evaluate``: the same 178 labelled questions,
24-school network, held-out split (every third question) and metrics (Success@3, MRR,
abstention on no-provider questions), with the router's text score swapped for others:

  a  BM25 (rank-bm25) over lower-cased word tokens of the strength texts, no vocabulary
  b  cosine similarity of static token embeddings (model2vec-distilled all-MiniLM-L6-v2),
     mean of token vectors, numpy only at run time
  c  the current matcher, untouched (the baseline of ``bench.routing.evaluate``)
  d  the matcher blended with the embedding cosine: (1 - w) * matcher + w * cosine
  e  the matcher, falling back to the embeddings only when the matcher routes to nobody

Everything else is the real router (``Router.plan``): the question's role group, never
the asker's school, one person per school, phase/audit/size factors, the relative cut-off
and the absolute floor below which it abstains. A swapped-in score has its own units, so
its floor (``select.MIN_SCORE``) is chosen on the dev split only (best dev accuracy:
questions routed with a suitable peer in the top three plus no-provider questions
abstained on) and then applied unchanged to the held-out split. Rows marked ``pure`` also
switch the phase/audit/size factors off (text score alone).

The embedding model is a folder written by model2vec's ``save_pretrained`` (model.safetensors
+ tokenizer.json) or the numpy export beside it (vectors.npy + vocab.txt); it is read with
numpy and json alone (a pure-Python BERT WordPiece tokenizer), nothing from a hub. Without
a model the embedding rows are skipped; without rank-bm25 the BM25 rows are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import bench.routing.evaluate  # noqa: F401
except ImportError:  # run as a script: the project's checkout is three folders up
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.routing.evaluate import NOW, Outcome, load_questions, metrics, open_network
from bot.network import store
from bot.routing import select
from bot.routing.matcher import Match
from bot.routing.service import router_of
from bot.routing.strengths import StrengthIndex
from knowledge.text import STOPWORDS

DEFAULT_MODEL = os.environ.get("PEERBOT_STATIC_MODEL", str(Path(__file__).resolve().parent / "model" / "model2vec"))


# --------------------------------------------------------------------------------------
# Static embeddings on numpy alone


def _is_punct(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )  # fmt: skip


class WordPiece:
    """BERT's uncased tokenizer (BertNormalizer + BertPreTokenizer + WordPiece), as in
    ``tokenizers``, for a ``##``-continuation vocabulary."""

    def __init__(self, vocab: dict[str, int], unk: str = "[UNK]", max_chars: int = 100) -> None:
        self.vocab = vocab
        self.unk_id = vocab.get(unk)
        self.max_chars = max_chars
        self._cache: dict[str, list[int]] = {}

    def _normalise(self, text: str) -> str:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD:
                continue
            cat = unicodedata.category(ch)
            if ch in "\t\n\r" or cat == "Zs":
                out.append(" ")
            elif cat.startswith("C"):
                continue
            elif _is_cjk(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out))
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        return text.lower()

    def _pretokenise(self, text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split():
            cur = ""
            for ch in chunk:
                if _is_punct(ch):
                    if cur:
                        words.append(cur)
                        cur = ""
                    words.append(ch)
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def _word(self, word: str) -> list[int]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        ids: list[int] = []
        if len(word) > self.max_chars:
            ids = [self.unk_id] if self.unk_id is not None else []
        else:
            start = 0
            while start < len(word):
                end = len(word)
                found = None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        found = self.vocab[piece]
                        break
                    end -= 1
                if found is None:
                    ids = [self.unk_id] if self.unk_id is not None else []
                    break
                ids.append(found)
                start = end
        if len(self._cache) < 100_000:
            self._cache[word] = ids
        return ids

    def words(self, text: str) -> list[str]:
        return self._pretokenise(self._normalise(text))

    def ids(self, text: str, drop: frozenset[str] = frozenset()) -> list[int]:
        out: list[int] = []
        for w in self.words(text):
            if w in drop:
                continue
            out.extend(i for i in self._word(w) if i != self.unk_id)
        return out


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file read with numpy alone (8-byte header length, JSON header, raw data)."""
    dtypes = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8, "I32": np.int32,
              "I64": np.int64, "U8": np.uint8}  # fmt: skip
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(raw[base + start : base + end], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
    return out


class StaticEmbedder:
    """Token vectors (already SIF-weighted by model2vec) and a WordPiece tokenizer."""

    def __init__(self, vectors: np.ndarray, vocab: dict[str, int], dims: int | None = None) -> None:
        if dims:
            vectors = vectors[:, :dims]  # PCA components come first-most-variance: truncating = fewer PCA dims
        self.vectors = np.ascontiguousarray(vectors)
        self.tokenizer = WordPiece(vocab)
        self.dim = self.vectors.shape[1]

    @classmethod
    def load(cls, folder: str | Path, dims: int | None = None) -> StaticEmbedder:
        folder = Path(folder)
        if (folder / "vectors.npy").exists():
            vectors = np.load(folder / "vectors.npy")
            tokens = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
            vocab = {t: i for i, t in enumerate(tokens) if t}
        else:
            tensors = _read_safetensors(folder / "model.safetensors")
            vectors = tensors["embeddings"]
            if "weights" in tensors or "mapping" in tensors:
                raise ValueError("vocabulary-quantised model2vec models are not supported here")
            tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
            if tok["model"]["type"] != "WordPiece":
                raise ValueError(f"only WordPiece tokenizers are supported, not {tok['model']['type']}")
            vocab = dict(tok["model"]["vocab"])
        return cls(vectors, vocab, dims)

    def encode(self, texts: Sequence[str], drop: frozenset[str] = frozenset()) -> np.ndarray:
        """One L2-normalised float32 row per text (zeros for a text with no known token)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            ids = self.tokenizer.ids(text, drop)
            if ids:
                out[i] = self.vectors[ids].astype(np.float32).mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


# --------------------------------------------------------------------------------------
# Text scores plugged into the router


_TOKEN = re.compile(r"[a-z0-9]+")


def plain_words(text: str) -> list[str]:
    return [w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]


Scorer = Callable[[str, Any], dict[int, float]]  # (question text, analysis) -> {strength item id: score}


class SwappedItems:
    """Stands in for ``StrengthIndex.items`` so that ``Router.plan`` ranks by another score."""

    def __init__(self, base: Any, scorer: Scorer) -> None:
        self.base = base
        self.scorer = scorer
        self.text = ""

    def search(
        self, analysis: Any, *, limit: int = 50, min_score: float = 0.0, explain: bool = True
    ) -> list[Match[int]]:
        scores = self.scorer(self.text, analysis)
        found = [Match(k, s, (), ()) for k, s in scores.items() if s > min_score]
        found.sort(key=lambda m: -m.score)
        return found[:limit]

    def explain(self, analysis: Any, match: Match[int]) -> Match[int]:
        return self.base.explain(analysis, match)


@contextlib.contextmanager
def router_settings(floor: float | None = None, pure: bool = False) -> Iterator[None]:
    """The router with another abstention floor, and (``pure``) without phase/audit/size factors."""
    saved = {n: getattr(select, n) for n in ("MIN_SCORE", "phase_factor", "audit_factor", "size_factor")}
    try:
        if floor is not None:
            select.MIN_SCORE = floor
        if pure:
            select.phase_factor = lambda *a, **k: 1.0
            select.audit_factor = lambda *a, **k: 1.0
            select.size_factor = lambda *a, **k: 1.0
        yield
    finally:
        for n, v in saved.items():
            setattr(select, n, v)


@dataclass
class Variant:
    name: str
    scorer: Scorer | None  # None: the router's own matcher
    tune: bool = True  # choose the floor on dev; False: the router's MIN_SCORE as it is
    pure: bool = False
    fallback: Variant | None = None  # used only when this one routes to nobody
    note: str = ""


class Harness:
    def __init__(
        self, router: Any, session: Any, index: StrengthIndex, questions: list[dict[str, Any]], askers: list[Any]
    ):
        self.router, self.session, self.index = router, session, index
        self.questions, self.askers = questions, askers

    async def schools(self, i: int, v: Variant, floor: float | None) -> list[str]:
        q = self.questions[i]
        index = self.index
        if v.scorer is not None:
            items = SwappedItems(self.index.items, v.scorer)
            items.text = q["text"]
            index = StrengthIndex(version=self.index.version, strengths=self.index.strengths, items=items)  # type: ignore[arg-type]
        with router_settings(floor if v.scorer is not None or floor is not None else None, v.pure):
            plan = await self.router.plan(
                self.session, asker=self.askers[i], text=q["text"], group=q.get("channel"), when=NOW,
                apply_load=False, index=index,
            )  # fmt: skip
        return [p.school for p in plan.peers]

    async def outcomes(
        self, v: Variant, floor: float | None, fb_floor: float | None, which: Sequence[int]
    ) -> list[Outcome]:
        out = []
        for i in which:
            schools = await self.schools(i, v, floor)
            if not schools and v.fallback is not None:
                schools = await self.schools(i, v.fallback, fb_floor)
            out.append(Outcome(i, self.questions[i], schools))
        return out


def dev_accuracy(outcomes: list[Outcome]) -> tuple[float, float]:
    """(routed questions with a suitable peer in the top three + no-provider questions left
    unrouted) / both; then MRR as a tie-break."""
    m = metrics(outcomes)
    good = m["success_at_3"] * m["routed"] + m["abstention"] * m["no_provider"]
    return good / (m["routed"] + m["no_provider"]), m["mrr"]


async def top_scores(h: Harness, v: Variant, which: Sequence[int]) -> list[float]:
    """Each question's best score after the router's factors (floor 0): where floors matter."""
    best = []
    for i in which:
        q = h.questions[i]
        items = SwappedItems(h.index.items, v.scorer)  # type: ignore[arg-type]
        items.text = q["text"]
        index = StrengthIndex(version=h.index.version, strengths=h.index.strengths, items=items)  # type: ignore[arg-type]
        with router_settings(1e-9, v.pure):
            plan = await h.router.plan(
                h.session, asker=h.askers[i], text=q["text"], group=q.get("channel"), when=NOW,
                apply_load=False, index=index, limit=1,
            )  # fmt: skip
        best.extend(p.score for p in plan.peers)
    return best


async def choose_floor(h: Harness, v: Variant, dev: Sequence[int], grid: int = 60) -> tuple[float, float]:
    """The floor with the best dev accuracy (the middle one of a tied run)."""
    target = v.fallback if v.fallback is not None else v
    tops = sorted(set(await top_scores(h, target, dev)))
    cuts = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(tops)] + [tops[-1] + 1e-6]
    if len(cuts) > grid:
        cuts = [cuts[round(k * (len(cuts) - 1) / (grid - 1))] for k in range(grid)]
    results = []
    for c in cuts:
        if v.fallback is not None:
            outs = await h.outcomes(v, None, c, dev)
        else:
            outs = await h.outcomes(v, c, None, dev)
        results.append((dev_accuracy(outs), c))
    best = max(r for r, _ in results)
    tied = [c for r, c in results if r == best]
    return tied[len(tied) // 2], best[0]


# --------------------------------------------------------------------------------------


def report_rows(name: str, outs: list[Outcome], floor: str, note: str) -> dict[str, Any]:
    parts = {
        "all": outs,
        "dev": [o for o in outs if not o.heldout],
        "heldout": [o for o in outs if o.heldout],
    }
    row: dict[str, Any] = {"variant": name, "floor": floor, "note": note}
    for split, os_ in parts.items():
        m = metrics(os_)
        routed = [o for o in os_ if not o.question.get("pupil_data") and not o.question.get("none")]
        row[split] = {
            "success_at_3": round(m["success_at_3"], 3),
            "mrr": round(m["mrr"], 3),
            "abstention": round(m["abstention"], 3),
            "routed": m["routed"],
            "no_provider": m["no_provider"],
            "peers_per_routed_q": round(statistics.fmean(len(o.schools) for o in routed), 2) if routed else 0.0,
        }
    return row


def _module_name() -> str:
    spec = globals().get("__spec__")
    if spec is not None and spec.name and spec.name != "__main__":
        return str(spec.name)
    return Path(__file__).stem


def load_cost(model: str, dims: int | None) -> dict[str, float]:
    """Load time and memory of the embedder, measured in a fresh interpreter (numpy already imported)."""
    code = f"""
import json, sys, time, resource
import numpy as np
from {_module_name()} import StaticEmbedder
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
before = rss()
t = time.perf_counter()
e = StaticEmbedder.load({model!r}, {dims!r})
e.encode(['warm up'])
took = time.perf_counter() - t
print(json.dumps({{"load_seconds": took, "rss_mib_delta": rss() - before, "vectors_mib": e.vectors.nbytes / 2**20,
                   "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    paths = [str(Path(__file__).resolve().parent), *(p for p in sys.path if p)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=os.pathsep.join(paths))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def per_question_cost(
    emb: StaticEmbedder, strength_vecs: np.ndarray, texts: list[str], drop: frozenset[str], rounds: int = 20
) -> dict[str, float]:
    """Embedding a question and scoring it against every strength, numpy only, from cold caches."""
    samples = []
    for _ in range(rounds):
        emb.tokenizer._cache.clear()
        for t in texts:
            s = time.perf_counter()
            v = emb.encode([t], drop)[0]
            _ = strength_vecs @ v
            samples.append(time.perf_counter() - s)
    samples.sort()
    return {
        "p50_ms": 1000 * samples[len(samples) // 2],
        "p90_ms": 1000 * samples[int(len(samples) * 0.90)],
        "p99_ms": 1000 * samples[int(len(samples) * 0.99)],
        "mean_ms": 1000 * statistics.fmean(samples),
        "strengths": int(strength_vecs.shape[0]),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    questions = load_questions()
    dev = [i for i in range(len(questions)) if i % 3 != 2]
    everyone = list(range(len(questions)))
    out: dict[str, Any] = {"rows": [], "skipped": []}
    with tempfile.TemporaryDirectory() as tmp:
        bot = await open_network(Path(tmp))
        try:
            router = router_of(bot)
            async with bot.db.session() as session:
                askers = []
                for q in questions:
                    a = await store.person_by_email(session, bot.network_id, q["asker"])
                    assert a is not None, q["asker"]
                    askers.append(a)
                index = await router.strengths(session, NOW)
                keys = list(index.strengths)
                texts = [index.strengths[k].text for k in keys]
                h = Harness(router, session, index, questions, askers)
                variants: list[Variant] = [
                    Variant("c matcher (current)", None, tune=False, note="MIN_SCORE 0.34 as shipped")
                ]

                def matcher_scores(_text: str, analysis: Any) -> dict[int, float]:
                    found = index.items.search(analysis, limit=10_000, min_score=0.0, explain=False)
                    return {x.key: x.score for x in found}

                # Controls: the swap harness with the matcher's own score must give c exactly, and
                # the matcher's floor chosen on dev like every other row's (is a gain the floor's?)
                variants.append(Variant("c' matcher via swap", matcher_scores, tune=False, note="harness check"))
                variants.append(Variant("c matcher tuned", matcher_scores, note="floor chosen on dev"))

                # a: BM25
                try:
                    from rank_bm25 import BM25Okapi
                except ImportError:
                    out["skipped"].append("BM25 rows: rank-bm25 is not installed")
                else:
                    bm25 = BM25Okapi([plain_words(t) or ["_"] for t in texts])

                    def bm25_scores(text: str, _a: Any) -> dict[int, float]:
                        s = bm25.get_scores(plain_words(text))
                        return {k: float(x) for k, x in zip(keys, s, strict=True) if x > 0}

                    variants.append(Variant("a BM25", bm25_scores))
                    variants.append(Variant("a BM25 pure", bm25_scores, pure=True))

                # b, d, e: embeddings
                emb = None
                if Path(args.model).exists():  # noqa: ASYNC240 - once, before anything is timed
                    t0 = time.perf_counter()
                    emb = StaticEmbedder.load(args.model, args.dims)
                    out["model"] = {"path": args.model, "dims": emb.dim, "tokens": int(emb.vectors.shape[0]),
                                    "in_process_load_seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
                else:
                    out["skipped"].append(f"embedding rows: no model at {args.model}")
                if emb is not None:
                    drop = frozenset(STOPWORDS) if args.drop_stopwords else frozenset()
                    svecs = emb.encode(texts, drop)

                    def cos_all(text: str) -> np.ndarray:
                        return svecs @ emb.encode([text], drop)[0]

                    cache: dict[str, np.ndarray] = {}

                    def cos_cached(text: str) -> np.ndarray:
                        if text not in cache:
                            cache[text] = cos_all(text)
                        return cache[text]

                    def emb_scores(text: str, _a: Any) -> dict[int, float]:
                        c = cos_cached(text)
                        return {k: float(x) for k, x in zip(keys, c, strict=True) if x > 0}

                    variants.append(Variant("b embedding", emb_scores))
                    variants.append(Variant("b embedding pure", emb_scores, pure=True))

                    def blend(w: float) -> Scorer:
                        def scores(text: str, analysis: Any) -> dict[int, float]:
                            m = {
                                x.key: x.score
                                for x in index.items.search(analysis, limit=10_000, min_score=0.0, explain=False)
                            }
                            c = cos_cached(text)
                            return {
                                k: (1 - w) * m.get(k, 0.0) + w * max(0.0, float(x))
                                for k, x in zip(keys, c, strict=True)
                            }

                        return scores

                    for w in args.weights:
                        variants.append(Variant(f"d blend w={w}", blend(w), tune=False, note="router's MIN_SCORE 0.34"))
                        variants.append(Variant(f"d blend w={w} tuned", blend(w)))
                    if "a BM25" in [v.name for v in variants]:
                        # No vocabulary at all: do meanings add to plain word matching? BM25 is put on
                        # a 0-1 scale by the median of the dev questions' best BM25 (texts only, no labels).
                        scale = (
                            statistics.median(max(bm25.get_scores(plain_words(questions[i]["text"]))) for i in dev)
                            or 1.0
                        )

                        def hybrid(w: float) -> Scorer:
                            def scores(text: str, _a: Any) -> dict[int, float]:
                                b = bm25.get_scores(plain_words(text))
                                c = cos_cached(text)
                                return {k: (1 - w) * min(1.0, float(x) / scale) + w * max(0.0, float(y))
                                        for k, x, y in zip(keys, b, c, strict=True)}  # fmt: skip

                            return scores

                        for w in (0.3, 0.5):
                            variants.append(Variant(f"a+b BM25+embedding w={w}", hybrid(w), note="no vocabulary"))
                    if args.reference:
                        # The full sentence-transformer the static vectors came from (torch; reference only,
                        # never for the bot): does distillation lose what the transformer knows?
                        from sentence_transformers import SentenceTransformer

                        st = SentenceTransformer(args.reference, device="cpu")
                        all_texts = [q["text"] for q in questions]
                        qv = dict(zip(all_texts, st.encode(all_texts, normalize_embeddings=True), strict=True))
                        sv = st.encode(texts, normalize_embeddings=True)

                        def full_cos(text: str) -> np.ndarray:
                            return sv @ qv[text]

                        def full_scores(text: str, _a: Any) -> dict[int, float]:
                            return {k: float(x) for k, x in zip(keys, full_cos(text), strict=True) if x > 0}

                        def full_blend(text: str, analysis: Any) -> dict[int, float]:
                            m = {
                                x.key: x.score
                                for x in index.items.search(analysis, limit=10_000, min_score=0.0, explain=False)
                            }
                            return {
                                k: 0.8 * m.get(k, 0.0) + 0.2 * max(0.0, float(x))
                                for k, x in zip(keys, full_cos(text), strict=True)
                            }

                        variants.append(Variant("b* full MiniLM (torch)", full_scores, note="reference only"))
                        variants.append(Variant("d* blend full MiniLM w=0.2 tuned", full_blend, note="reference only"))
                    variants.append(
                        Variant(
                            "e matcher, else embedding",
                            None,
                            fallback=Variant("b embedding", emb_scores),
                            note="fallback floor chosen on dev",
                        )
                    )
                    out["per_question_numpy"] = per_question_cost(emb, svecs, [q["text"] for q in questions], drop)
                    out["strength_embedding_seconds"] = _timed(lambda: emb.encode(texts, drop))

                for v in variants:
                    t = time.perf_counter()
                    floor_txt = "0.34 (shipped)"
                    floor: float | None = None
                    fb: float | None = None
                    if v.fallback is not None:
                        fb, acc = await choose_floor(h, v, dev)
                        floor_txt = f"fallback {fb:.3f} (dev acc {acc:.3f})"
                    elif v.scorer is not None and v.tune:
                        floor, acc = await choose_floor(h, v, dev)
                        floor_txt = f"{floor:.3f} (dev acc {acc:.3f})"
                    elif v.scorer is not None:
                        floor = 0.34
                    outs = await h.outcomes(v, floor, fb, everyone)
                    row = report_rows(v.name, outs, floor_txt, v.note)
                    row["seconds"] = round(time.perf_counter() - t, 1)
                    if out["rows"]:
                        row["vs_c"] = paired(out["rows"][0]["_outs"], outs)
                    row["_outs"] = outs
                    out["rows"].append(row)
                    if args.misses and v.name in args.misses:
                        row["misses"] = _misses(outs)
                    print(_line(row), file=sys.stderr, flush=True)
        finally:
            await bot.close()
    for row in out["rows"]:
        row.pop("_outs", None)
    if Path(args.model).exists() and not args.no_load_cost:  # noqa: ASYNC240 - after the timing
        out["load"] = load_cost(args.model, args.dims)
    return out


def _correct(o: Outcome) -> bool:
    q = o.question
    if q.get("none"):
        return not o.schools
    good = set(q.get("suitable", []))
    return any(s in good for s in o.schools[:3])


def paired(base: list[Outcome], other: list[Outcome]) -> dict[str, str]:
    """Questions this variant gets right and c wrong (+), and the reverse (-), per split;
    right = a suitable peer in the top three, or abstaining on a no-provider question."""
    out = {}
    for split, keep in (("dev", lambda o: not o.heldout), ("heldout", lambda o: o.heldout)):
        plus = minus = 0
        for b, o in zip(base, other, strict=True):
            if b.question.get("pupil_data") or not keep(b):
                continue
            plus += _correct(o) and not _correct(b)
            minus += _correct(b) and not _correct(o)
        out[split] = f"+{plus}/-{minus}"
    return out


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return round(time.perf_counter() - t, 4)


def _misses(outs: list[Outcome]) -> list[str]:
    lines = []
    for o in outs:
        q = o.question
        if q.get("pupil_data"):
            continue
        tag = "H" if o.heldout else "D"
        if q.get("none"):
            if o.schools:
                lines.append(f"{tag}[{o.index}] should abstain, got {o.schools}: {q['text']}")
            continue
        good = set(q.get("suitable", []))
        ranks = [i for i, s in enumerate(o.schools, 1) if s in good]
        if not ranks or ranks[0] > 3:
            lines.append(f"{tag}[{o.index}] miss, got {o.schools} want {sorted(good)}: {q['text']}")
    return lines


def _line(row: dict[str, Any]) -> str:
    cells = [f"{row['variant']:<30}"]
    for split in ("all", "dev", "heldout"):
        m = row[split]
        cells.append(f"{split} S@3={m['success_at_3']:.3f} MRR={m['mrr']:.3f} abst={m['abstention']:.3f}")
    cells.append(f"peers/q={row['all']['peers_per_routed_q']}  floor={row['floor']}")
    return " | ".join(cells)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="model2vec folder or numpy export (vectors.npy + vocab.txt)")
    p.add_argument("--dims", type=int, default=None, help="use only the first N PCA dimensions")
    p.add_argument("--weights", type=float, nargs="*", default=[0.1, 0.2, 0.3, 0.5])
    p.add_argument("--drop-stopwords", action="store_true", help="leave chat filler words out of the embedding mean")
    p.add_argument("--misses", nargs="*", default=[], help="variant names whose misses to list")
    p.add_argument("--no-load-cost", action="store_true")
    p.add_argument("--reference", metavar="DIR", help="also score with this full sentence-transformer (needs torch)")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    result = asyncio.run(main_async(args))
    for s in result["skipped"]:
        print("skipped:", s)
    print()
    print(
        f"{'variant':<30} {'floor':<28} "
        + "  ".join(f"{s:>22}" for s in ("all S@3/MRR/abst", "dev S@3/MRR/abst", "heldout S@3/MRR/abst"))
        + "  peers/q  (questions right where c is wrong / wrong where c is right)"
    )
    for row in result["rows"]:
        cells = "  ".join(
            f"{row[s]['success_at_3']:.3f}/{row[s]['mrr']:.3f}/{row[s]['abstention']:.3f}".rjust(22)
            for s in ("all", "dev", "heldout")
        )
        vs = row.get("vs_c")
        vs_txt = f"  vs c: dev {vs['dev']} heldout {vs['heldout']}" if vs else ""
        print(f"{row['variant']:<30} {row['floor']:<28} {cells}  {row['all']['peers_per_routed_q']:<5}{vs_txt}")
    for key in ("model", "load", "per_question_numpy", "strength_embedding_seconds"):
        if key in result:
            print(f"{key}: {result[key]}")
    for row in result["rows"]:
        for line in row.get("misses", []):
            print(f"  {row['variant']}: {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
