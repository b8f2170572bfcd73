"""Teach a paragraph reader to read documents: no-answer paragraphs and shared normalisation.

    python training/train_doc_reader.py --base bertcli/bundled/reader \
        --train ../shared/data/squad1.1-train.json.gz --out runs/doc

A reader trained only on paragraphs that hold the answer offers a confident span in any
paragraph, so across a document its spans do not compare (Clark & Gardner 2018). Each question
here is trained as a group of windows: its own paragraph and `--negatives` other paragraphs of
the same article, the ones BM25 ranks closest to the question (the distractors the retriever
brings). Two losses, averaged:
- per window: the answer's start/end in its own paragraph, [CLS] ("no answer here") in the others;
- shared: one softmax over the context tokens of all the group's windows, so start and end
  logits compare across paragraphs.

Resumable like train_reader.py (OUT/checkpoint.pt every --checkpoint-minutes; --resume).
Held-out: the last --val-articles training articles (as train_reader.py); dev files are for the
final report only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import transformers  # noqa: E402
from train_reader import log, pad_batch, predict, save_checkpoint  # noqa: E402

from bertcli.eval import squad  # noqa: E402

transformers.logging.set_verbosity_error()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", required=True, help="a QA model directory (bertcli's int8 layout too)")
    p.add_argument("--train", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--negatives", type=int, default=3, help="other paragraphs per question")
    p.add_argument("--groups", type=int, default=8, help="questions per batch")
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--questions", type=int, default=6000, help="questions to train on")
    p.add_argument("--max-len", type=int, default=384)
    p.add_argument("--shared-weight", type=float, default=0.5)
    p.add_argument("--val-articles", type=int, default=12)
    p.add_argument("--val-questions", type=int, default=400)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--deadline-minutes", type=float, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--train-layers", type=int, default=0,
                   help="train only the last N encoder layers and the QA head (0: all). The "
                        "frozen layers run once per window and their output is kept in memory, "
                        "so each epoch costs a fraction of a forward pass: CPU-sized")
    p.add_argument("--epochs", type=int, default=1)
    return p.parse_args(argv)


def load_model(base: Path):
    from bertcli.models import INT8_WEIGHTS

    if (base / INT8_WEIGHTS).is_file():
        from bertcli.backends.torch_backend import _load_int8_qa_model

        return _load_int8_qa_model(base)
    return transformers.AutoModelForQuestionAnswering.from_pretrained(str(base))


def encode(tokenizer, question, context, max_len):
    """The first window of question + context, with context offsets."""
    enc = tokenizer(question.lstrip(), context, truncation="only_second", max_length=max_len,
                    return_offsets_mapping=True)
    return enc


def answer_tokens(enc, start_char, end_char):
    seq = enc.sequence_ids()
    offsets = enc["offset_mapping"]
    ctx = [k for k, s in enumerate(seq) if s == 1]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return None
    start = next(k for k in ctx if offsets[k][1] > start_char)
    end = next(k for k in reversed(ctx) if offsets[k][0] < end_char)
    return start, end


def build_groups(tokenizer, articles, negatives, max_len, limit, seed):
    """One group per question: (windows, target) with windows = [(ids, types, context mask)]
    and target (0-based window, start, end) — window 0 is the answer's paragraph."""
    from bertcli.ask.retrieve import BM25, terms

    rng = random.Random(seed)
    pairs = []
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                if qa.get("answers"):
                    pairs.append((a, p, qa))
    rng.shuffle(pairs)
    pairs = pairs[:limit]
    bm25_cache = {}
    groups = []
    for a, p, qa in pairs:
        paragraphs = articles[a]["paragraphs"]
        if a not in bm25_cache:
            bm25_cache[a] = BM25.build([terms(x["context"]) or ["_"] for x in paragraphs])
        scores = bm25_cache[a].get_scores(terms(qa["question"]))
        others = [i for i in np.argsort(-scores) if i != p][:negatives]
        answer = qa["answers"][0]
        start_char = int(answer["answer_start"])
        enc = encode(tokenizer, qa["question"], paragraphs[p]["context"], max_len)
        span = answer_tokens(enc, start_char, start_char + len(answer["text"]))
        if span is None:
            continue
        windows = []
        for i in [p] + others:
            e = enc if i == p else encode(tokenizer, qa["question"], paragraphs[i]["context"], max_len)
            mask = [1 if s == 1 else 0 for s in e.sequence_ids()]
            windows.append((e["input_ids"], e["token_type_ids"], mask))
        groups.append((windows, span))
    return groups


def group_loss(out, batch_groups, device, shared_weight):
    """Per-window cross-entropy ([CLS] for the others) plus the shared softmax across windows."""
    start_logits, end_logits = out.start_logits.float(), out.end_logits.float()
    row = 0
    per_window, shared = [], []
    ce = torch.nn.functional.cross_entropy
    for windows, (s, e) in batch_groups:
        n = len(windows)
        rows = slice(row, row + n)
        targets_s = torch.zeros(n, dtype=torch.long, device=device)
        targets_e = torch.zeros(n, dtype=torch.long, device=device)
        targets_s[0], targets_e[0] = s, e
        mask = torch.zeros_like(start_logits[rows], dtype=torch.bool)
        for k, (ids, _, ctx) in enumerate(windows):
            mask[k, : len(ids)] = torch.tensor(ctx, dtype=torch.bool, device=device)
            mask[k, 0] = True  # [CLS] is a choice in its own window
        big = torch.finfo(start_logits.dtype).min / 2
        ms = start_logits[rows].masked_fill(~mask, big)
        me = end_logits[rows].masked_fill(~mask, big)
        per_window.append((ce(ms, targets_s) + ce(me, targets_e)) / 2)
        ctx_mask = mask.clone()
        ctx_mask[:, 0] = False
        flat_s = start_logits[rows].masked_fill(~ctx_mask, big).reshape(-1)
        flat_e = end_logits[rows].masked_fill(~ctx_mask, big).reshape(-1)
        width = start_logits.shape[1]
        shared.append((ce(flat_s[None], torch.tensor([s], device=device))
                       + ce(flat_e[None], torch.tensor([e], device=device))) / 2)
        assert flat_s.shape[0] == n * width
        row += n
    per_window_loss = torch.stack(per_window).mean()
    shared_loss = torch.stack(shared).mean()
    return (1 - shared_weight) * per_window_loss + shared_weight * shared_loss


class FrozenPrefix:
    """The embeddings and the first layers of a BERT QA model, run once (no gradient); the last
    `train_layers` layers and the head are trained on their cached output."""

    def __init__(self, model, train_layers: int):
        self.model = model
        self.bert = model.bert
        self.split = len(self.bert.encoder.layer) - train_layers
        for name, param in model.named_parameters():
            trainable = name.startswith("qa_outputs") or any(
                name.startswith(f"bert.encoder.layer.{i}.") for i in range(self.split, self.split + train_layers))
            param.requires_grad_(trainable)

    def _extended(self, mask):
        return self.model.get_extended_attention_mask(mask, mask.shape)

    @torch.inference_mode()
    def prefix(self, batch):
        hidden = self.bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
        ext = self._extended(batch["attention_mask"])
        for layer in self.bert.encoder.layer[: self.split]:
            hidden = layer(hidden, attention_mask=ext)[0]
        return hidden.to(torch.bfloat16)

    def forward(self, hidden, mask):
        hidden = hidden.float()
        ext = self._extended(mask)
        for layer in self.bert.encoder.layer[self.split:]:
            hidden = layer(hidden, attention_mask=ext)[0]
        logits = self.model.qa_outputs(hidden)
        start, end = logits.split(1, dim=-1)

        class Out:
            pass

        out = Out()
        out.start_logits, out.end_logits = start.squeeze(-1), end.squeeze(-1)
        return out


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    articles = squad.load_articles(args.train)
    held_out = articles[-args.val_articles:]
    train_articles = articles[:-args.val_articles]
    val_q = list(squad.iter_questions(held_out))[:: max(1, 1990 // args.val_questions)]

    base = Path(args.base)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base), use_fast=True)
    groups = build_groups(tokenizer, train_articles, args.negatives, args.max_len,
                          args.questions, args.seed)
    log(f"{len(groups)} question groups of {1 + args.negatives} windows")
    model = load_model(base).float()
    model.config._attn_implementation = "eager"  # layers are called one by one with a 4-D mask
    model.train()
    frozen = FrozenPrefix(model, args.train_layers) if args.train_layers else None
    cached = {}
    if frozen is not None:
        model.eval()  # no dropout in the cached prefix
        t0 = time.time()
        for step in range(math.ceil(len(groups) / args.groups)):
            chunk = groups[step * args.groups:(step + 1) * args.groups]
            rows = [(ids, types) for windows, _ in chunk for ids, types, _ in windows]
            batch = pad_batch(rows, tokenizer.pad_token_id, device)
            cached[step] = (frozen.prefix(batch), batch["attention_mask"])
            if step % 50 == 0:
                log(f"cached {step + 1} batches of frozen layers ({time.time() - t0:.0f} s)")
        model.train()
    no_decay = ("bias", "LayerNorm.weight")
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters()
                    if p.requires_grad and not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters()
                    if p.requires_grad and n.endswith(no_decay)], "weight_decay": 0.0}], lr=args.lr)
    per_epoch = math.ceil(len(groups) / args.groups)
    total = per_epoch * args.epochs
    warm = max(1, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    state = {"step": 0, "seconds": 0.0, "history": []}
    ckpt = out / "checkpoint.pt"
    if args.resume and ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = saved["state"]
        log(f"resumed at step {state['step']} of {total}")
    (out / "args.json").write_text(json.dumps(vars(args), indent=2))

    class Args:  # what train_reader.predict reads
        max_len, stride, max_answer_tokens = 384, 128, 30

    def autocast():
        return torch.autocast("cpu", enabled=False)

    began = time.time()
    last_save = time.time()
    seconds_before = state["seconds"]
    stopped = False
    for step in range(state["step"], total):
        at = step % per_epoch
        chunk = groups[at * args.groups:(at + 1) * args.groups]
        if frozen is not None:
            hidden, mask = cached[at]
            outp = frozen.forward(hidden, mask)
        else:
            rows = [(ids, types) for windows, _ in chunk for ids, types, _ in windows]
            batch = pad_batch(rows, tokenizer.pad_token_id, device)
            outp = model(**batch)
        loss = group_loss(outp, chunk, device, args.shared_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] = step + 1
        state["seconds"] = seconds_before + time.time() - began
        if state["step"] % 20 == 0:
            log(f"step {state['step']}/{total} loss {loss.item():.3f} "
                f"{state['step'] * args.groups / max(state['seconds'], 1e-9):.1f} questions/s")
        if time.time() - last_save > args.checkpoint_minutes * 60:
            save_checkpoint(ckpt, model, optimizer, scheduler, state)
            last_save = time.time()
        if args.deadline_minutes and time.time() - began > args.deadline_minutes * 60:
            stopped = True
            break
    save_checkpoint(ckpt, model, optimizer, scheduler, state)
    metrics = squad.score(val_q, predict(model, tokenizer, val_q, Args, device, autocast))
    state["history"].append({"step": state["step"], **metrics})
    log(f"held-out paragraph F1 after step {state['step']}: {metrics['f1']:.2f}")
    final = out / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    (out / "metrics.json").write_text(json.dumps({"args": vars(args), "history": state["history"],
                                                  "finished": not stopped,
                                                  "seconds": round(state["seconds"])}, indent=2))
    log("done" if not stopped else "stopped early; run again with --resume to continue")


if __name__ == "__main__":
    main()
