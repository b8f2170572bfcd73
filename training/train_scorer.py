"""Train the `learned` summary scorer (bertcli/scorer.npz) on cached embeddings.

    OMP_NUM_THREADS=1 python training/embed_cache.py train --limit 8000
    OMP_NUM_THREADS=1 python training/embed_cache.py val
    OMP_NUM_THREADS=1 python training/train_scorer.py --out bertcli/scorer.npz

Labels: each training article's candidates get a ROUGE gain against its highlights (ROUGE-1 +
ROUGE-2 F1, rouge-score's tokenizer and stemmer) and a greedy oracle of up to 3 sentences. The
loss is listwise: a softmax over the document's candidates fitted to a target spread over the
oracle's sentences (--target oracle) or to softmax(gain / T) (--target soft), so the model is
trained for the ranking that is used (which sentences come first in this document), not for
each sentence on its own. Model: [13 features, 384-d embedding] -> tanh MLP (--hidden) + a
linear skip. Chosen by ROUGE of the top 3 on the tuning half of cnndm-val (first 500
articles); the other 500 are reported, never chosen on. Labels are cached in
training/.cache/labels-*.json by article id, so a rerun only labels new articles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
CACHE = HERE / ".cache"


def load_docs(tag: str, limit=None):
    docs = []
    for path in sorted((CACHE / tag).glob("chunk*.npz")):
        with np.load(path) as data:
            vectors = data["vectors"].astype(np.float32)
            offsets = data["offsets"]
            texts = json.loads(str(data["texts"]))
            meta = json.loads(str(data["meta"]))
        for j, m in enumerate(meta):
            a, b = offsets[j], offsets[j + 1]
            v = vectors[a:b].astype(np.float64)
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            docs.append({"vectors": v, "texts": texts[a:b], "highlights": m["highlights"],
                         "id": m["id"]})
            if limit and len(docs) >= limit:
                return docs
    return docs


# ---- ROUGE labels ---------------------------------------------------------------------------

def _ngrams(tokens, n):
    from collections import Counter

    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _f1(cand, ref):
    overlap = sum((cand & ref).values())
    if not overlap:
        return 0.0
    p, r = overlap / sum(cand.values()), overlap / sum(ref.values())
    return 2 * p * r / (p + r)


def labels_for(docs, tag):
    """(gain per sentence, greedy oracle set) for each doc, cached by article id."""
    path = CACHE / f"labels-{tag}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    missing = [d for d in docs if d["id"] not in cached]
    if missing:
        from rouge_score import rouge_scorer

        tokenizer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)._tokenizer
        for d in missing:
            cached[d["id"]] = oracle(tokenizer, d)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached))
        os.replace(tmp, path)
    return [cached[d["id"]] for d in docs]


def oracle(tokenizer, d):
    ref = tokenizer.tokenize(d["highlights"])
    r1, r2 = _ngrams(ref, 1), _ngrams(ref, 2)
    toks = [tokenizer.tokenize(t) for t in d["texts"]]
    gain = [_f1(_ngrams(t, 1), r1) + _f1(_ngrams(t, 2), r2) for t in toks]
    chosen, best = [], 0.0
    for _ in range(3):
        pick = None
        for i in range(len(toks)):
            if i in chosen:
                continue
            joined = [w for j in sorted(chosen + [i]) for w in toks[j]]
            value = _f1(_ngrams(joined, 1), r1) + _f1(_ngrams(joined, 2), r2)
            if value > best:
                best, pick = value, i
        if pick is None:
            break
        chosen.append(pick)
    return {"gain": gain, "oracle": sorted(chosen)}


# ---- evaluation -----------------------------------------------------------------------------

def rouge_of(docs, picks):
    """Per-article ROUGE-1/2/Lsum F1 (x100) of the picked sentences, as `bertcli eval` scores."""
    from bertcli.eval.rouge import rouge_scores

    summaries = ["\n".join(d["texts"][i] for i in p) for d, p in zip(docs, picks)]
    return rouge_scores(summaries, [d["highlights"] for d in docs])


def tokens_for(docs, tag):
    """rouge-score's stemmed tokens of each candidate and of the highlights, cached."""
    path = CACHE / f"tokens-{tag}-{docs[0]['id']}-{len(docs)}.json"
    if path.exists():
        return json.loads(path.read_text())
    from rouge_score import rouge_scorer

    tokenizer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)._tokenizer
    out = [{"ref": tokenizer.tokenize(d["highlights"]),
            "sents": [tokenizer.tokenize(t) for t in d["texts"]]} for d in docs]
    path.write_text(json.dumps(out))
    return out


def quick_rouge(tokens, picks):
    """Mean ROUGE-1 and ROUGE-2 F1 (x100) of the picks: rouge-score's numbers for these two,
    without its ROUGE-Lsum (slow); for choosing among runs."""
    r1, r2 = [], []
    for tok, p in zip(tokens, picks):
        joined = [w for i in sorted(p) for w in tok["sents"][i]]
        r1.append(_f1(_ngrams(joined, 1), _ngrams(tok["ref"], 1)))
        r2.append(_f1(_ngrams(joined, 2), _ngrams(tok["ref"], 2)))
    return 100 * np.mean(r1), 100 * np.mean(r2)


def lead_picks(docs, k=3):
    return [list(range(min(k, len(d["texts"])))) for d in docs]


def scorer_picks(scorer, docs, k=3):
    out = []
    for d in docs:
        n = len(d["texts"])
        if n <= k:
            out.append(list(range(n)))
        else:
            out.append(scorer.select(d["vectors"], lengths_of(d), k))
    return out


def lengths_of(d):
    return np.array([len(t.split()) for t in d["texts"]], dtype=np.float64)


def compare(docs, picks, base):
    a, b = rouge_of(docs, picks), base
    out = {}
    for m in a:
        diff = np.array(a[m]) - np.array(b[m])
        out[m] = (round(float(np.mean(a[m])), 2), round(float(diff.mean()), 2),
                  round(float((diff > 0).mean()), 3))
    return out


# ---- training -------------------------------------------------------------------------------

def design(docs):
    from bertcli.summarize.scorer import features

    return [np.concatenate([features(d["vectors"], lengths_of(d)), d["vectors"]], axis=1)
            for d in docs]


def targets(labels, kind, temperature):
    out = []
    for lab in labels:
        gain = np.array(lab["gain"])
        if kind == "oracle":
            t = np.zeros(len(gain))
            t[lab["oracle"] or [int(np.argmax(gain))]] = 1.0
        else:
            t = np.exp((gain - gain.max()) / temperature)
        out.append(t / t.sum())
    return out


def train(xs, ts, args, shuffled_xs=None, shuffled_ts=None):
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    allx = np.concatenate(xs)
    mean, scale = allx.mean(axis=0), allx.std(axis=0) + 1e-6
    dim = allx.shape[1]
    if shuffled_xs is not None:
        xs, ts = xs + shuffled_xs, ts + shuffled_ts
    width = max(len(x) for x in xs)
    X = np.zeros((len(xs), width, dim), np.float32)
    T = np.zeros((len(xs), width), np.float32)
    M = np.zeros((len(xs), width), bool)
    for i, (x, t) in enumerate(zip(xs, ts)):
        X[i, :len(x)] = (x - mean) / scale
        T[i, :len(x)] = t
        M[i, :len(x)] = True
    X, T, M = torch.tensor(X), torch.tensor(T), torch.tensor(M)
    layer1 = torch.nn.Linear(dim, args.hidden)
    layer2 = torch.nn.Linear(args.hidden, 1)
    skip = torch.nn.Linear(dim, 1, bias=False)
    params = list(layer1.parameters()) + list(layer2.parameters()) + list(skip.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.wd)
    rng = np.random.default_rng(args.seed)
    snapshots = []
    for epoch in range(args.epochs):
        for batch in np.array_split(rng.permutation(len(xs)), max(1, len(xs) // 64)):
            b = torch.tensor(batch)
            x, t, m = X[b], T[b], M[b]
            drop = torch.nn.functional.dropout(x, args.dropout, training=True) if args.dropout else x
            s = layer2(torch.tanh(layer1(drop))).squeeze(-1) + skip(drop).squeeze(-1)
            s = s.masked_fill(~m, -1e9)
            loss = -(t * torch.log_softmax(s, dim=1)).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        snapshots.append({
            "mean": mean, "scale": scale,
            "w1": layer1.weight.detach().numpy().copy(), "b1": layer1.bias.detach().numpy().copy(),
            "w2": layer2.weight.detach().numpy()[0].copy(), "b2": np.array(float(layer2.bias)),
            "linear": skip.weight.detach().numpy()[0].copy(),
        })
        print(f"epoch {epoch + 1}: loss {float(loss):.4f}", file=sys.stderr, flush=True)
    return snapshots


def finish(snapshot, redundancy):
    from bertcli.summarize.scorer import FEATURE_VERSION

    out = dict(snapshot)
    out.update(redundancy=np.array(redundancy), dim=np.array(384),
               feature_version=np.array(FEATURE_VERSION))
    return {k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for k, v in out.items()}


def mmr(score, similarity, redundancy, k=3):
    n = len(score)
    if n <= k:
        return list(range(n))
    chosen = []
    for _ in range(k):
        penalty = similarity[:, chosen].max(axis=1) if chosen else 0.0
        value = score - redundancy * penalty
        value[chosen] = -np.inf
        chosen.append(int(np.argmax(value)))
    return sorted(chosen)


def fit_mix(scorer, docs, tokens, steps=(1.0, 0.5, 0.25, 0.1), log=print):
    """Second stage, for the ranking that is used: the weights of the standardized features
    and of the MLP score, and the redundancy weight, by coordinate ascent on ROUGE-1 + ROUGE-2
    of the top 3 (MMR) against the highlights of `docs`."""
    parts = []
    for d in docs:
        x = scorer.inputs(d["vectors"], lengths_of(d))
        hidden = np.tanh(x @ scorer.w1.T + scorer.b1)
        mlp = hidden @ scorer.w2 + scorer.b2 + x @ scorer.linear
        count = len(scorer.mix) - 1
        parts.append((np.c_[x[:, :count], mlp], d["vectors"] @ d["vectors"].T))
    theta = np.r_[scorer.mix, scorer.redundancy]

    def objective(t):
        picks = [mmr(f @ t[:-1], sim, t[-1]) for f, sim in parts]
        r1, r2 = quick_rouge(tokens, picks)
        return r1 + r2

    best = objective(theta)
    log(f"stage 2 start: R1+R2 {best:.3f}")
    for step in steps:
        improved = True
        while improved:
            improved = False
            for j in range(len(theta)):
                for delta in (-step, step):
                    trial = theta.copy()
                    trial[j] += delta * (0.5 if j == len(theta) - 1 else 1.0)
                    if j == len(theta) - 1 and trial[j] < 0:
                        continue
                    value = objective(trial)
                    if value > best + 1e-9:
                        best, theta, improved = value, trial, True
            log(f"stage 2 step {step}: R1+R2 {best:.3f}")
    return theta[:-1], float(theta[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", default="train")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--target", default="soft", choices=("soft", "oracle"))
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--wd", type=float, default=1e-2)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--shuffled-share", type=float, default=0.0,
                        help="add this share of training articles again with shuffled sentences")
    parser.add_argument("--redundancy", default="0,0.1,0.2,0.3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--stage2", type=int, default=0,
                        help="hold out this many training articles for the second stage")
    parser.add_argument("--stage2-shuffled", type=int, default=0,
                        help="also fit the second stage on this many of them, sentences shuffled")
    parser.add_argument("--init", default=None,
                        help="a scorer file: skip stage 1, take its MLP (and mix) and refit stage 2")
    parser.add_argument("--steps", default="1,0.5,0.25,0.1", help="stage 2 step sizes")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from bertcli.summarize.scorer import Scorer

    docs = [d for d in load_docs(args.train, args.limit) if len(d["texts"]) > 3]
    held = docs[len(docs) - args.stage2:] if args.stage2 else []
    docs = docs[:len(docs) - args.stage2] if args.stage2 else docs
    if args.init:
        labels = xs = None
    else:
        labels = labels_for(docs, args.train)
        xs = design(docs)
    ts = targets(labels, args.target, args.temperature) if labels else None
    sx = st = None
    if args.shuffled_share:
        rng = np.random.default_rng(1)
        pick = rng.choice(len(docs), int(args.shuffled_share * len(docs)), replace=False)
        sdocs, slabels = [], []
        for i in pick:
            perm = rng.permutation(len(docs[i]["texts"]))
            d = dict(docs[i], vectors=docs[i]["vectors"][perm],
                     texts=[docs[i]["texts"][j] for j in perm])
            sdocs.append(d)
            slabels.append({"gain": [labels[i]["gain"][j] for j in perm],
                            "oracle": sorted(int(np.where(perm == j)[0][0]) for j in labels[i]["oracle"])})
        sx, st = design(sdocs), targets(slabels, args.target, args.temperature)
    print(f"{len(docs)} training articles", file=sys.stderr)
    tune = load_docs("val")[:500]
    tune_tokens = tokens_for(tune, "val")
    base = quick_rouge(tune_tokens, lead_picks(tune))
    print(f"lead on val[:500]: R1 {base[0]:.2f} R2 {base[1]:.2f}", flush=True)
    best = None
    snapshots = train(xs, ts, args, sx, st) if not args.init else []
    for epoch, snap in enumerate(snapshots, 1):
        if epoch % args.eval_every and epoch != len(snapshots):
            continue
        for red in [float(r) for r in args.redundancy.split(",")]:
            scorer = Scorer(finish(snap, red))
            result = quick_rouge(tune_tokens, scorer_picks(scorer, tune))
            total = result[0] - base[0] + result[1] - base[1]
            print(f"epoch {epoch} redundancy {red}: R1 {result[0] - base[0]:+.2f} "
                  f"R2 {result[1] - base[1]:+.2f}", flush=True)
            if best is None or total > best[0]:
                best = (total, epoch, red)
    if args.init:
        with np.load(args.init) as data:
            final = {k: data[k] for k in data.files}
    else:
        print(f"best on val[:500]: epoch {best[1]}, redundancy {best[2]} (sum of diffs {best[0]:.2f})")
        final = finish(snapshots[best[1] - 1], best[2])
    if held:
        held_tokens = tokens_for(held, args.train + "-held")
        if args.stage2_shuffled:
            rng = np.random.default_rng(2)
            extra, extra_tokens = [], []
            for d, tok in zip(held[:args.stage2_shuffled], held_tokens):
                perm = rng.permutation(len(d["texts"]))
                extra.append(dict(d, vectors=d["vectors"][perm], texts=[d["texts"][j] for j in perm]))
                extra_tokens.append({"ref": tok["ref"], "sents": [tok["sents"][j] for j in perm]})
            held, held_tokens = held + extra, held_tokens + extra_tokens
        steps = [float(x) for x in args.steps.split(",")]
        mix, redundancy = fit_mix(Scorer(final), held, held_tokens, steps)
        final.update(mix=mix.astype(np.float32), redundancy=np.array(redundancy, np.float32))
        result = quick_rouge(tune_tokens, scorer_picks(Scorer(final), tune))
        print(f"stage 2 on val[:500]: R1 {result[0] - base[0]:+.2f} R2 {result[1] - base[1]:+.2f}; "
              f"mix {np.round(mix, 2).tolist()} redundancy {redundancy}", flush=True)
    if args.out:
        np.savez(args.out, **final)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
