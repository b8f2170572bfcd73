"""Fine-tune an encoder into bertcli's bundled extractive-QA reader on SQuAD 1.1.

    python training/train_reader.py --base DIR --train squad1.1-train.json.gz --out runs/a

Resumable: checkpoints (model, optimiser, schedule, position in the epoch, RNG) go to
OUT/checkpoint.pt every --checkpoint-minutes and at every epoch end; run the same command
again with --resume to continue where it stopped. Runs on CPU (bf16 autocast where the CPU
has it) or on one CUDA GPU. Needs torch and transformers (the `train` extra); imports nothing
heavy from bertcli.

Validation holds out the last --val-articles articles of the training file; the SQuAD dev file
is for the final report only (`bertcli eval ask`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import transformers  # noqa: E402

from bertcli.eval import squad  # noqa: E402  (no heavy imports)

transformers.logging.set_verbosity_error()

DEFAULTS = dict(
    epochs=3, lr=1e-4, batch=32, max_len=384, stride=128, warmup=0.1, weight_decay=0.01,
    seed=42, val_articles=12, max_answer_tokens=30,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", required=True, help="encoder directory (e.g. all-MiniLM-L6-v2)")
    p.add_argument("--train", required=True, help="SQuAD-layout training file (.json or .json.gz)")
    p.add_argument("--out", required=True, help="run directory: checkpoint, metrics, final model")
    p.add_argument("--eval", default=None, help="extra SQuAD file to score at the end (report only)")
    for key, value in DEFAULTS.items():
        p.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--max-examples", type=int, default=0, help="train on the first N questions")
    p.add_argument("--positives", type=int, default=0,
                   help="train on N answerable questions drawn at random (seeded)")
    p.add_argument("--negatives", default=None,
                   help="SQuAD-layout file of unanswerable questions (build_negatives.py): every "
                        "window of theirs is trained to point at [CLS]")
    p.add_argument("--max-steps", type=int, default=0, help="stop after N optimiser steps (smoke)")
    p.add_argument("--deadline-minutes", type=float, default=0, help="stop and save after this")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--threads", type=int, default=0)
    return p.parse_args(argv)


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# ---- features ---------------------------------------------------------------------------


def windows(tokenizer, questions, max_len, stride):
    """Question + context windows over each paragraph (overlapping by `stride` tokens)."""
    return tokenizer(
        [q.question.lstrip() for q in questions],
        [q.context for q in questions],
        truncation="only_second", max_length=max_len, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
    )


def train_features(tokenizer, questions, max_len, stride):
    """Windows with the answer's token start/end (CLS index when the window misses it)."""
    enc = windows(tokenizer, questions, max_len, stride)
    features = []
    for i, ids in enumerate(enc["input_ids"]):
        q = questions[enc["overflow_to_sample_mapping"][i]]
        if not q.answers:  # unanswerable: "no answer" in every window
            features.append((ids, enc["token_type_ids"][i], 0, 0))
            continue
        seq = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        start_char = q.answer_starts[0]
        end_char = start_char + len(q.answers[0])
        ctx = [k for k, s in enumerate(seq) if s == 1]
        start_tok = end_tok = 0
        if ctx and offsets[ctx[0]][0] <= start_char and offsets[ctx[-1]][1] >= end_char:
            start_tok = next(k for k in ctx if offsets[k][1] > start_char)
            end_tok = next(k for k in reversed(ctx) if offsets[k][0] < end_char)
        features.append((ids, enc["token_type_ids"][i], start_tok, end_tok))
    return features


def eval_features(tokenizer, questions, max_len, stride):
    """Windows with the character offsets of their context tokens (None elsewhere)."""
    enc = windows(tokenizer, questions, max_len, stride)
    features = []
    for i, ids in enumerate(enc["input_ids"]):
        seq = enc.sequence_ids(i)
        offsets = [o if seq[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][i])]
        features.append((ids, enc["token_type_ids"][i], enc["overflow_to_sample_mapping"][i], offsets))
    return features


def pad_batch(rows, pad_id, device):
    width = max(len(r[0]) for r in rows)
    width = (width + 7) // 8 * 8
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r[0])
        ids[i, :n] = torch.tensor(r[0])
        types[i, :n] = torch.tensor(r[1])
        mask[i, :n] = 1
    return {"input_ids": ids.to(device), "token_type_ids": types.to(device),
            "attention_mask": mask.to(device)}


def epoch_batches(n, batch, seed, epoch):
    """Shuffled, length-bucketed batches; the same for a given seed and epoch (for resume)."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(n))
    rng.shuffle(order)
    return [order[i:i + batch] for i in range(0, n, batch)]


def bucketed(batches, lengths, seed, epoch, group=50):
    rng = random.Random(seed * 7919 + epoch)
    flat = [i for b in batches for i in b]
    size = len(batches[0]) if batches else 1
    out = []
    for g in range(0, len(flat), size * group):
        chunk = sorted(flat[g:g + size * group], key=lambda i: lengths[i])
        out.extend(chunk[i:i + size] for i in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


# ---- evaluation -------------------------------------------------------------------------


@torch.inference_mode()
def predict(model, tokenizer, questions, args, device, autocast):
    features = eval_features(tokenizer, questions, args.max_len, args.stride)
    best = {}  # question index -> (score, text)
    order = sorted(range(len(features)), key=lambda i: len(features[i][0]))
    model.eval()
    for b in range(0, len(order), 128):
        chunk = [features[i] for i in order[b:b + 128]]
        batch = pad_batch(chunk, tokenizer.pad_token_id, device)
        with autocast():
            out = model(**batch)
        starts = out.start_logits.float().cpu().numpy()
        ends = out.end_logits.float().cpu().numpy()
        for row, (ids, _, qi, offsets) in enumerate(chunk):
            s_log, e_log = starts[row, :len(ids)], ends[row, :len(ids)]
            top_s = np.argsort(s_log)[::-1][:20]
            top_e = np.argsort(e_log)[::-1][:20]
            for s in top_s:
                for e in top_e:
                    if offsets[s] is None or offsets[e] is None or e < s:
                        continue
                    if e - s + 1 > args.max_answer_tokens:
                        continue
                    value = s_log[s] + e_log[e]
                    if qi not in best or value > best[qi][0]:
                        ctx = questions[qi].context
                        best[qi] = (value, ctx[offsets[s][0]:offsets[e][1]])
    model.train()
    return {questions[i].id: text for i, (_, text) in best.items()}


# ---- training ---------------------------------------------------------------------------


def save_checkpoint(path, model, optimizer, scheduler, state):
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "state": state,
                "rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written checkpoint


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and (
        device.type == "cuda" or torch.backends.mkldnn.is_available()))

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    began = time.time()

    articles = squad.load_articles(args.train)
    held_out = articles[-args.val_articles:] if args.val_articles else []
    train_articles = articles[:-args.val_articles] if args.val_articles else articles
    train_q = [q for q in squad.iter_questions(train_articles) if q.answers]
    if args.max_examples:
        train_q = train_q[:args.max_examples]
    if args.positives:
        train_q = random.Random(args.seed).sample(train_q, min(args.positives, len(train_q)))
    if args.negatives:
        train_q += list(squad.iter_questions(squad.load_articles(args.negatives)))
    val_q = list(squad.iter_questions(held_out))
    if args.max_examples:
        val_q = val_q[:max(50, args.max_examples // 10)]

    tokenizer = transformers.AutoTokenizer.from_pretrained(args.base, use_fast=True)
    features = train_features(tokenizer, train_q, args.max_len, args.stride)
    lengths = [len(f[0]) for f in features]
    log(f"{len(train_q)} questions -> {len(features)} windows; {len(val_q)} held-out questions;"
        f" device {device}, bf16 {use_bf16}")

    # float(): transformers 5 keeps a checkpoint's own dtype (fp16 here); train in fp32 + autocast.
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(args.base).float()
    model.to(device).train()
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, fused=device.type == "cuda")
    steps_per_epoch = math.ceil(len(features) / args.batch)
    total = steps_per_epoch * args.epochs
    if args.max_steps:
        total = min(total, args.max_steps)
    warm = max(1, int(total * args.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))

    state = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "history": []}
    ckpt = out / "checkpoint.pt"
    if args.resume and ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        state = saved["state"]
        log(f"resumed at epoch {state['epoch']} batch {state['batch']} step {state['step']}")
    (out / "args.json").write_text(json.dumps(vars(args), indent=2))

    last_save = time.time()
    seconds_before = state["seconds"]
    run_start = time.time()
    stopped = False
    while state["epoch"] < args.epochs and not stopped:
        batches = bucketed(epoch_batches(len(features), args.batch, args.seed, state["epoch"]),
                           lengths, args.seed, state["epoch"])
        running, seen = 0.0, 0
        for b in range(state["batch"], len(batches)):
            rows = [features[i] for i in batches[b]]
            batch = pad_batch(rows, tokenizer.pad_token_id, device)
            starts = torch.tensor([r[2] for r in rows], device=device)
            ends = torch.tensor([r[3] for r in rows], device=device)
            with autocast():
                outp = model(**batch, start_positions=starts, end_positions=ends)
            outp.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["batch"] = b + 1
            state["step"] += 1
            running += outp.loss.item() if state["step"] % 50 == 0 else 0.0
            seen += 1
            state["seconds"] = seconds_before + time.time() - run_start
            if state["step"] % 200 == 0:
                rate = seen * args.batch / max(time.time() - run_start, 1e-9)
                log(f"epoch {state['epoch']} batch {b + 1}/{len(batches)} step {state['step']}"
                    f" loss {outp.loss.item():.3f} lr {scheduler.get_last_lr()[0]:.2e}"
                    f" {rate:.0f} windows/s")
            over_time = args.deadline_minutes and time.time() - began > args.deadline_minutes * 60
            if (args.max_steps and state["step"] >= args.max_steps) or over_time:
                stopped = True
                break
            if time.time() - last_save > args.checkpoint_minutes * 60:
                save_checkpoint(ckpt, model, optimizer, scheduler, state)
                last_save = time.time()
        if not stopped:
            state["epoch"] += 1
            state["batch"] = 0
        metrics = squad.score(val_q, predict(model, tokenizer, val_q, args, device, autocast))
        state["history"].append({"epoch": state["epoch"], "step": state["step"],
                                 "seconds": round(state["seconds"]), **metrics})
        log(f"held-out after step {state['step']}: EM {metrics['exact_match']:.2f}"
            f" F1 {metrics['f1']:.2f}")
        save_checkpoint(ckpt, model, optimizer, scheduler, state)
        last_save = time.time()

    final = out / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    report = {"args": vars(args), "history": state["history"], "finished": not stopped,
              "train_seconds": round(state["seconds"]), "device": str(device),
              "torch": torch.__version__, "transformers": transformers.__version__}
    if args.eval:
        eval_q = squad.load_questions(args.eval)
        report["eval"] = squad.score(eval_q, predict(model, tokenizer, eval_q, args, device, autocast))
        log(f"{args.eval}: EM {report['eval']['exact_match']:.2f} F1 {report['eval']['f1']:.2f}")
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    log("done" if not stopped else "stopped early; run again with --resume to continue")


if __name__ == "__main__":
    main()
