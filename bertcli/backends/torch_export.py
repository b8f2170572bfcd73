"""Exporting encoders and readers to ONNX (torch's exporter): what `onnx_backend.prepare` runs
once per model. Imports torch: import it only to prepare a copy."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ModelError
from ..models import ResolvedModel
from .torch_backend import Reader, _load_tokenizer, _short, max_tokens, transformers


class _LastTwoLayers(torch.nn.Module):
    """What the ONNX encoder computes: the last and second-to-last hidden layers."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return out.hidden_states[-1], out.hidden_states[-2]


def export_encoder_onnx(model: ResolvedModel, onnx_path, tokenizer_path) -> dict[str, Any]:
    """Export `model`'s encoder to ONNX (float32) and its Rust tokenizer to JSON; returns the
    facts the ONNX encoder needs (bertcli.backends.onnx_backend)."""
    tokenizer = _load_tokenizer(model)
    try:
        encoder = transformers.AutoModel.from_pretrained(str(model.path), attn_implementation="eager")
    except Exception as err:
        raise ModelError(f"{model.name}: cannot load the model ({_short(err)})") from None
    encoder.float().eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastTwoLayers(encoder), (ids, torch.ones_like(ids)), str(onnx_path), dynamo=False,
            opset_version=17, input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden", "previous_hidden"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden": axes,
                          "previous_hidden": axes},
        )
    tokenizer.backend_tokenizer.save(str(tokenizer_path))
    return {
        "max_tokens": max_tokens(tokenizer, encoder.config),
        "pad_token_id": tokenizer.pad_token_id or 0,
        "unk_token_id": tokenizer.unk_token_id or 0,
        "hidden_size": encoder.config.hidden_size,
    }


class _StartEndLogits(torch.nn.Module):
    """What the ONNX reader computes: start and end logits from the named inputs."""

    def __init__(self, model, names: Sequence[str]):
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, *inputs):
        out = self.model(**dict(zip(self.names, inputs)))
        return out.start_logits, out.end_logits


def export_reader_onnx(model: ResolvedModel, onnx_path, tokenizer_path) -> dict[str, Any]:
    """Export a question-answering `model` to ONNX (float32) and its Rust tokenizer to JSON;
    returns the facts onnx_backend.FastReader needs to make the same windows as `Reader`."""
    reader = Reader(model, "cpu")
    names = reader.input_names
    ids = torch.ones((1, 8), dtype=torch.long)
    example = tuple(ids if n != "token_type_ids" else torch.zeros_like(ids) for n in names)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _StartEndLogits(reader.model, names), example, str(onnx_path), dynamo=False,
            opset_version=17, input_names=names, output_names=["start_logits", "end_logits"],
            dynamic_axes={**{n: axes for n in names}, "start_logits": axes, "end_logits": axes},
        )
    reader.tokenizer.backend_tokenizer.save(str(tokenizer_path))
    return {
        "max_tokens": reader.model_max_length,
        "pad_token_id": reader.tokenizer.pad_token_id or 0,
        "cls_token_id": reader.cls_id,
        "question_first": reader.question_first,
        "truncation_side": reader.tokenizer.truncation_side,
        "window_names": reader.window_names,
        "input_names": names,
    }
