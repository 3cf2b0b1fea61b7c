"""STS-B parity: cyclip's text-only encoder against sentence-transformers' own, same file.

Both embed every unique sentence of STS-B test once (L2-normalised), score each pair by cosine
and report Spearman x100 against the gold scores with ``scipy.stats.spearmanr``; cyclip's side
goes through ``FeatureExtractor.encode_texts``, the path ``cyclip eval --task sts`` takes. The
issue's bar: the two agree to 0.05 points.

    python benchmarks/sts_parity.py                       # ../shared model and data, CPU
    python benchmarks/sts_parity.py --device cuda --out benchmarks/results/sts_parity.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (or beside a folder above it, for a git worktree under wt/)
SHARED = next(
    (p / "shared" for p in ROOT.parents if (p / "shared").is_dir()), ROOT.parent / "shared"
)


def read_sts_b(path: Path) -> tuple[list[str], list[str], list[float]]:
    """STS-B as released: tab-separated, quotes are plain characters, extra fields ignored."""
    s1, s2, gold = [], [], []
    with open(path, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            s1.append(row[5])
            s2.append(row[6])
            gold.append(float(row[4]))
    return s1, s2, gold


def _spearman(a: torch.Tensor, b: torch.Tensor, gold: list[float]) -> float:
    from scipy.stats import spearmanr

    return 100 * float(spearmanr((a * b).sum(dim=1).numpy(), gold).statistic)


def _timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def measure(model: Path, data: Path, device: str, batch_size: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from cyclip.evaluation import ExtractConfig, FeatureCache, FeatureExtractor
    from cyclip.evaluation.text_encoder import load_text_encoder

    s1, s2, gold = read_sts_b(data)
    unique = sorted(set(s1) | set(s2))
    index = {s: i for i, s in enumerate(unique)}
    i1, i2 = [index[s] for s in s1], [index[s] for s in s2]

    reference = SentenceTransformer(str(model), device=device)
    reference.encode(unique[:batch_size], batch_size=batch_size)  # warm-up

    def st_encode():
        e = reference.encode(unique, batch_size=batch_size, normalize_embeddings=True)
        return torch.from_numpy(e)

    st_emb, st_s = _timed(st_encode)

    loaded = load_text_encoder(model, device=device)
    extractor = FeatureExtractor(
        loaded.bundle, None, FeatureCache(None), ExtractConfig(batch_size, 0, device)
    )
    extractor.encode_texts(unique[:batch_size])  # warm-up
    ours_emb, ours_s = _timed(lambda: extractor.encode_texts(unique))

    st_rho = _spearman(st_emb[i1], st_emb[i2], gold)
    ours_rho = _spearman(ours_emb[i1], ours_emb[i2], gold)
    return {
        "model": str(model),
        "data": str(data),
        "pairs": len(gold),
        "unique_sentences": len(unique),
        "device": device,
        "batch_size": batch_size,
        "sentence_transformers": {"spearman": st_rho, "seconds": st_s},
        "cyclip_text_encoder": {"spearman": ours_rho, "seconds": ours_s},
        "spearman_difference": abs(st_rho - ours_rho),
        "max_abs_embedding_difference": float((st_emb - ours_emb).abs().max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "all-MiniLM-L6-v2")
    parser.add_argument(
        "--data", type=Path, default=SHARED / "data" / "sts" / "stsbenchmark" / "sts-test.csv"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None, help="also write the result as JSON")
    args = parser.parse_args(argv)
    for path in (args.model, args.data):
        if not path.exists():
            print(f"sts_parity: not found: {path}", file=sys.stderr)
            return 2
    result = measure(args.model, args.data, args.device, args.batch_size)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    ok = result["spearman_difference"] < 0.05
    print(f"parity {'OK' if ok else 'FAILED'}: |difference| = {result['spearman_difference']:.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
