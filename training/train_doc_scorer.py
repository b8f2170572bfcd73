"""Train the `learned` summary scorer (bertcli/summarize/doc_scorer.npz): a 2-layer Transformer
over a document's frozen sentence embeddings (issue #29).

    OMP_NUM_THREADS=1 python training/embed_cache.py train          # resumable, ~2 h on 2 cores
    OMP_NUM_THREADS=1 python training/embed_cache.py val
    python training/train_doc_scorer.py --out runs/doc                # checkpoints every epoch
    python training/train_doc_scorer.py --out runs/doc --resume       # after an interruption
    python training/train_doc_scorer.py --out runs/doc --export bertcli/summarize/doc_scorer.npz

Inputs per candidate: bertcli.summarize.scorer.features (13 position/centrality/length
features) and the 384-d embedding, standardized with the training set's mean and scale.
Labels: each sentence's ROUGE-1 + ROUGE-2 F1 gain against the highlights and a greedy oracle of
up to 3 sentences (summary_data.oracle, cached by article id). --target oracle: per-sentence
binary cross-entropy against the oracle (BertSumExt); --target soft: a softmax over the
document fitted to softmax(gain / T). A share of the training articles is seen each epoch with
its sentences shuffled (--shuffled-share; features recomputed, labels follow the sentences), so
the model learns when position means something. The last --held training articles are held out:
the epoch is chosen by ROUGE-1 + ROUGE-2 of the top 3 (trigram blocking) on them; cnndm-val is
reported each epoch, cnndm-dev never looked at here. Batches hold articles of similar length.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from summary_data import CACHE, lead_picks, lengths_of, load_docs, oracle, quick_rouge, tokens_for  # noqa: E402


def labels_parallel(docs, tag, workers=2):
    """summary_data.labels_for, with the missing labels computed in `workers` processes."""
    from multiprocessing import Pool

    path = CACHE / f"labels-{tag}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    missing = [d for d in docs if d["id"] not in cached]
    if missing:
        with Pool(workers) as pool:
            light = [{"texts": d["texts"], "highlights": d["highlights"]} for d in missing]
            for d, lab in zip(missing, pool.imap(_oracle, light, chunksize=64)):
                cached[d["id"]] = lab
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cached))
        os.replace(tmp, path)
    return [cached[d["id"]] for d in docs]


_TOKENIZER = None


def _oracle(d):
    global _TOKENIZER
    if _TOKENIZER is None:
        from rouge_score import rouge_scorer

        _TOKENIZER = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)._tokenizer
    return oracle(_TOKENIZER, d)


def inputs_of(vectors, lengths, texts=None):
    from bertcli.summarize.scorer import features

    return np.concatenate([features(vectors, lengths, texts), vectors], axis=1).astype(np.float32)


def build_model(n_in, args):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d = args.width
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ff1, self.ff2 = nn.Linear(d, args.ff), nn.Linear(args.ff, d)
            self.drop = nn.Dropout(args.dropout)

        def forward(self, h, mask):
            b, n, d = h.shape
            q, k, v = self.qkv(self.ln1(h)).chunk(3, dim=-1)
            split = [t.view(b, n, args.heads, d // args.heads).transpose(1, 2) for t in (q, k, v)]
            a = nn.functional.scaled_dot_product_attention(*split, attn_mask=mask[:, None, None, :])
            h = h + self.drop(self.out(a.transpose(1, 2).reshape(b, n, d)))
            inner = nn.functional.gelu(self.ff1(self.ln2(h)), approximate="tanh")
            return h + self.drop(self.ff2(self.drop(inner)))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(n_in, args.width)
            self.blocks = nn.ModuleList(Block() for _ in range(args.layers))
            self.ln = nn.LayerNorm(args.width)
            self.head = nn.Linear(args.width, 1)
            self.drop = nn.Dropout(args.dropout)

        def forward(self, x, mask):
            h = self.drop(self.inp(x))
            for block in self.blocks:
                h = block(h, mask)
            return self.head(self.ln(h)).squeeze(-1)

    torch.manual_seed(args.seed)
    return Model()


def length_bucketed(rng, lengths, batch, pool=50):
    """Shuffled batches of articles of similar length (less padding): a random order, cut
    into pools of `pool` batches, each pool sorted by length and cut into batches."""
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch * pool):
        chunk = sorted(order[start:start + batch * pool], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch] for i in range(0, len(chunk), batch))
    return [batches[i] for i in rng.permutation(len(batches))]


def export(model, mean, scale, args) -> dict:
    from bertcli.summarize.doc_scorer import FORMAT_VERSION

    s = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32),
           "in_w": s["inp.weight"], "in_b": s["inp.bias"], "ln_g": s["ln.weight"],
           "ln_b": s["ln.bias"], "head_w": s["head.weight"], "head_b": s["head.bias"],
           "heads": np.array(args.heads), "layers": np.array(args.layers),
           "embedding_size": np.array(384), "format_version": np.array(FORMAT_VERSION),
           "lexical": np.array(int(args.lexical))}
    for i in range(args.layers):
        for ours, theirs in (("ln1_g", "ln1.weight"), ("ln1_b", "ln1.bias"), ("ln2_g", "ln2.weight"),
                             ("ln2_b", "ln2.bias"), ("qkv_w", "qkv.weight"), ("qkv_b", "qkv.bias"),
                             ("out_w", "out.weight"), ("out_b", "out.bias"), ("ff1_w", "ff1.weight"),
                             ("ff1_b", "ff1.bias"), ("ff2_w", "ff2.weight"), ("ff2_b", "ff2.bias")):
            out[f"l{i}_{ours}"] = s[f"blocks.{i}.{theirs}"]
    return out


def picks_of(scorer, docs, k=3):
    return [list(range(len(d["texts"]))) if len(d["texts"]) <= k
            else scorer.select(d["vectors"], lengths_of(d), k, d["texts"]) for d in docs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", default="train")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--held", type=int, default=1000)
    parser.add_argument("--target", default="oracle", choices=("oracle", "soft"))
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ff", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--crop", type=int, default=120, help="sentences per article in training")
    parser.add_argument("--shuffled-share", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lexical", type=int, default=1, help="1: add the word features")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="run folder (checkpoint, log, best.npz)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export", default=None, help="copy the chosen epoch's weights here")
    args = parser.parse_args()

    import torch

    from bertcli.summarize.doc_scorer import DocScorer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.export:  # matrices stored as float16 (half the bytes; read back as float32)
        with np.load(out / "best.npz") as data:
            np.savez(args.export, **{k: data[k].astype(np.float16) if data[k].ndim == 2 else data[k]
                                     for k in data.files})
        print(f"wrote {args.export} ({Path(args.export).stat().st_size:,} bytes)")
        return
    torch.set_num_threads(args.threads)
    started = time.time()
    docs = [d for d in load_docs(args.train, args.limit) if len(d["texts"]) > 3]
    held, docs = docs[len(docs) - args.held:], docs[:len(docs) - args.held]
    labels = labels_parallel(docs, args.train, args.threads)
    held_tokens = tokens_for(held, args.train + "-held")
    val = load_docs("val")
    val_tokens = tokens_for(val, "val")
    log = open(out / "log.txt", "a", encoding="utf-8")

    def say(text):
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    say(f"{len(docs)} training articles, {len(held)} held out; data ready in {time.time() - started:.0f} s")
    lead_held = quick_rouge(held_tokens, lead_picks(held))
    lead_val = quick_rouge(val_tokens, lead_picks(val))
    words = (lambda d: d["texts"]) if args.lexical else (lambda d: None)
    inputs = [inputs_of(d["vectors"], lengths_of(d), words(d)) for d in docs]
    stacked = np.concatenate(inputs)
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0) + 1e-6
    del stacked
    model = build_model(len(mean), args)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = len(length_bucketed(np.random.default_rng(0), [1] * len(docs), args.batch))
    total_steps = steps_per_epoch * args.epochs
    warm = max(1, total_steps // 10)  # linear warm-up over 10% of the steps, then linear decay
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min((step + 1) / warm, max(0.0, (total_steps - step) / (total_steps - warm + 1))))
    first_epoch, best = 0, None
    checkpoint = out / "checkpoint.pt"
    if args.resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        first_epoch, best = state["epoch"], state["best"]
        say(f"resumed after epoch {first_epoch}")
    for epoch in range(first_epoch, args.epochs):
        rng = np.random.default_rng(args.seed * 1000 + epoch)
        model.train()
        tick, total = time.time(), 0.0
        for batch in length_bucketed(rng, [len(d["texts"]) for d in docs], args.batch):
            xs, ys = [], []
            for i in batch:
                d, lab = docs[i], labels[i]
                gain = np.asarray(lab["gain"], np.float32)
                target = np.zeros(len(gain), np.float32)
                target[lab["oracle"] or [int(np.argmax(gain))]] = 1.0
                x = inputs[i]
                if rng.random() < args.shuffled_share:
                    perm = rng.permutation(len(gain))
                    x = inputs_of(d["vectors"][perm], lengths_of(d)[perm],
                                  [d["texts"][j] for j in perm] if args.lexical else None)
                    gain, target = gain[perm], target[perm]
                if args.target == "soft":
                    target = np.exp((gain - gain.max()) / args.temperature)
                    target /= target.sum()
                xs.append(((x - mean) / scale)[:args.crop])
                ys.append(target[:args.crop])
            width = max(len(x) for x in xs)
            X = np.zeros((len(xs), width, len(mean)), np.float32)
            Y = np.zeros((len(xs), width), np.float32)
            M = np.zeros((len(xs), width), bool)
            for j, (x, y) in enumerate(zip(xs, ys)):
                X[j, :len(x)], Y[j, :len(y)], M[j, :len(x)] = x, y, True
            X, Y, M = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(M)
            s = model(X, M)
            if args.target == "oracle":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(s[M], Y[M])
            else:
                loss = -(Y * torch.log_softmax(s.masked_fill(~M, -1e9), dim=1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item()
        model.eval()
        weights = export(model, mean, scale, args)
        scorer = DocScorer(weights)
        h = quick_rouge(held_tokens, picks_of(scorer, held))
        v = quick_rouge(val_tokens, picks_of(scorer, val))
        score = h[0] + h[1]
        say(f"epoch {epoch + 1}: loss {total / steps_per_epoch:.4f}, {time.time() - tick:.0f} s; "
            f"held-out train R1/R2 {h[0]:.2f}/{h[1]:.2f} (lead {lead_held[0]:.2f}/{lead_held[1]:.2f}); "
            f"cnndm-val {v[0]:.2f}/{v[1]:.2f} (lead {lead_val[0]:.2f}/{lead_val[1]:.2f})")
        if best is None or score > best:
            best = score
            np.savez(out / ".best.npz", **weights)
            os.replace(out / ".best.npz", out / "best.npz")
            say(f"  best so far (epoch {epoch + 1})")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1, "best": best}, out / ".checkpoint.pt")
        os.replace(out / ".checkpoint.pt", checkpoint)
    log.close()


if __name__ == "__main__":
    main()
