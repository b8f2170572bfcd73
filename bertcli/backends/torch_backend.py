"""Every call into transformers lives here, so that a move to another major version is local.

Imports torch and transformers at import time: import this module only inside commands.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Sequence
from functools import lru_cache

# Set before transformers is imported: no telemetry, no advisory warnings. (Hub access is not
# decided here: every load below gets the local directory that bertcli.models resolved.)
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from .. import settings  # noqa: E402
from ..errors import ModelError  # noqa: E402
from ..models import INT8_WEIGHTS, ResolvedModel, model_architectures  # noqa: E402
from .pooling import Window, batches, masked_mean, mean_pool, run_batches  # noqa: E402

transformers.logging.set_verbosity_error()
if settings.threads():  # a batch worker's share of the cores
    torch.set_num_threads(settings.threads() or 1)
# transformers' generation utilities import scikit-learn for one helper of assisted generation,
# and its object-detection losses import scipy: neither is used by encoders or readers, and
# together they cost ~1.5 s and ~100 MB of every start-up. Loading a model checks these flags
# before those imports.
transformers.utils.import_utils._sklearn_available = False
transformers.utils.import_utils._scipy_available = False
warnings.filterwarnings("ignore", module="transformers")

# Positions a BERT-family encoder can take; longer inputs are truncated to this.
FALLBACK_MAX_TOKENS = 512


def _load_tokenizer(model: ResolvedModel):
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(model.path), use_fast=True)
    except Exception as err:
        raise ModelError(f"{model.name}: cannot load its tokenizer ({_short(err)})") from None
    if not tokenizer.is_fast:
        raise ModelError(f"{model.name}: needs a fast (Rust) tokenizer for character offsets")
    return tokenizer


def _short(err: Exception) -> str:
    return str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__


# RoBERTa-family models number positions from padding_idx + 1 (XLM-R: 514 positions, 512
# tokens): past that, an index error. Their tokenizers usually say 512, but not always.
POSITIONS_AFTER_PADDING = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert",
                           "roberta-prelayernorm")


def max_tokens(tokenizer, config) -> int:
    limit = getattr(config, "max_position_embeddings", None) or FALLBACK_MAX_TOKENS
    if getattr(config, "model_type", None) in POSITIONS_AFTER_PADDING:
        limit -= (getattr(config, "pad_token_id", None) or 0) + 1
    model_max = tokenizer.model_max_length
    if isinstance(model_max, int) and 0 < model_max < 100_000:
        limit = min(limit, model_max)
    return int(limit)


class Encoder:
    """Sentence embeddings the way bert-extractive-summarizer makes them.

    The library feeds each sentence without special tokens and averages the second-to-last
    hidden layer. We do the same, but in padded, length-sorted batches and with truncation
    (the library embeds one sentence at a time and crashes past 512 tokens).
    """

    def __init__(self, model: ResolvedModel, device: str = "cpu"):
        self.name = model.name
        self.device = device
        self.tokenizer = _load_tokenizer(model)
        try:
            self.model = transformers.AutoModel.from_pretrained(
                str(model.path), output_hidden_states=True
            )
        except Exception as err:
            raise ModelError(f"{model.name}: cannot load the model ({_short(err)})") from None
        self.model.float().to(device).eval()
        self.max_tokens = max_tokens(self.tokenizer, self.model.config)

    def token_ids(
        self, texts: Sequence[str], special_tokens: bool = False, limit: int = 0
    ) -> list[list[int]]:
        encoded = self.tokenizer(
            list(texts),
            add_special_tokens=special_tokens,
            truncation=True,
            max_length=min(limit or self.max_tokens, self.max_tokens),
        )
        return [ids if ids else [self.tokenizer.unk_token_id or 0] for ids in encoded["input_ids"]]

    def embed_normalized(self, texts: Sequence[str], max_tokens: int = 256,
                         batch_size: int = 32) -> np.ndarray:
        """Sentence-transformers style: special tokens, last layer, mean, unit length."""
        ids = self.token_ids(texts, special_tokens=True, limit=max_tokens)
        vectors = self._mean_hidden(ids, layer=-1, batch_size=batch_size)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: Sequence[str], layer: int = -2) -> np.ndarray:
        """One row per text: the mean over its tokens of hidden layer `layer`."""
        return self._mean_hidden(self.token_ids(texts), layer)

    @torch.inference_mode()
    def _mean_hidden(self, ids: list[list[int]], layer: int, batch_size: int = 32) -> np.ndarray:
        """Masked mean of one hidden layer, in length-sorted padded batches of `batch_size`
        sequences, rows in input order."""

        def pooled(batch: dict[str, np.ndarray]) -> np.ndarray:
            mask = torch.from_numpy(batch["attention_mask"]).to(self.device)
            hidden = self.model(input_ids=torch.from_numpy(batch["input_ids"]).to(self.device),
                                attention_mask=mask)
            return masked_mean(hidden.hidden_states[layer].float(), mask.float()).cpu().numpy()

        groups = batches([len(i) for i in ids], max_tokens=None, max_rows=batch_size)
        return mean_pool(ids, self.tokenizer.pad_token_id or 0, self.model.config.hidden_size,
                         groups, pooled)


# Int8 storage: a 2-D float tensor is stored as int8 with one float16 scale per row
# (`name` + SCALE_SUFFIX); everything else as float16. Weights are rebuilt in float32 at load
# time, so inference is ordinary float32: only storage is quantized (unlike dynamic int8).
SCALE_SUFFIX = ".int8_row_scale"


def quantize_rows(state_dict: dict[str, torch.Tensor], min_size: int = 4096) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state_dict.items():
        if not tensor.is_floating_point():
            out[name] = tensor.contiguous()
        elif tensor.ndim == 2 and tensor.numel() >= min_size:
            weight = tensor.float()
            scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            out[name] = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            out[name + SCALE_SUFFIX] = scale.to(torch.float16).contiguous()
        else:
            out[name] = tensor.to(torch.float16).contiguous()
    return out


def dequantize_rows(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(name + SCALE_SUFFIX)
        if scale is not None:
            out[name] = tensor.float() * scale.float()[:, None]
        else:
            out[name] = tensor.float() if tensor.is_floating_point() else tensor
    return out


def _load_int8_qa_model(path):
    from safetensors.torch import load_file

    config = transformers.AutoConfig.from_pretrained(str(path))
    model = transformers.AutoModelForQuestionAnswering.from_config(config)
    weights = dequantize_rows(load_file(str(path / INT8_WEIGHTS)))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise ModelError(f"{path}: int8 weights do not fit the config "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model


class Reader:
    """An extractive question-answering model and its fast tokenizer.

    The reader interface that bertcli.spans and bertcli.qa use (onnx_backend.FastReader has
    the same): `encode`, `logits`, `question_tokens`, `token_counts`, `question_first`,
    `model_max_length`, `cls_id`.
    """

    def __init__(self, model: ResolvedModel, device: str = "cpu"):
        archs = model_architectures(model.path)
        if archs and not any(a.endswith("ForQuestionAnswering") for a in archs):
            raise ModelError(
                f"{model.name}: is a {archs[0]}, not an extractive question-answering model "
                "(…ForQuestionAnswering)"
            )
        self.name = model.name
        self.device = device
        self.tokenizer = _load_tokenizer(model)
        self.model = _load_qa_model(model)
        # float(): transformers 5 keeps a checkpoint's stored dtype (e.g. float16), slow on CPU.
        self.model.float().to(device).eval()
        self.question_first = self.tokenizer.padding_side == "right"
        self.model_max_length = max_tokens(self.tokenizer, self.model.config)
        self.cls_id = self.tokenizer.cls_token_id
        self.runs_at_once = 1  # torch spreads one run over its own threads
        accepted = inspect.signature(self.model.forward).parameters
        # what the windows carry, and what of it the model takes
        self.window_names = list(self.tokenizer.model_input_names)
        self.input_names = [n for n in self.window_names if n in accepted]

    def encode(self, question: str, context: str, max_seq_len: int, doc_stride: int) -> list[Window]:
        """Windows over `context`, exactly as transformers' QA pipeline makes them."""
        q_first = self.question_first
        encoded = self.tokenizer(
            text=question if q_first else context,
            text_pair=context if q_first else question,
            padding="do_not_pad",
            truncation="only_second" if q_first else "only_first",
            max_length=max_seq_len,
            stride=doc_stride,
            return_token_type_ids=True,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        return [Window({k: encoded[k][i] for k in self.window_names if k in encoded},
                       encoded.sequence_ids(i), encoded[i])
                for i in range(len(encoded["input_ids"]))]

    def question_tokens(self, question: str) -> int:
        return len(self.tokenizer(question, add_special_tokens=False)["input_ids"])

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, without special tokens."""
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    @torch.inference_mode()
    def logits(self, windows: list[dict[str, list[int]]], batch_size: int = 0):
        """Start and end logits (float32 numpy, unpadded) for each window."""
        # On CPU one window at a time is fastest (no padding) and keeps peak memory low:
        # 10 questions over 10k tokens ran in 15.4 s / 887 MB, against 20.1 s / 1048 MB with 16.
        batch_size = batch_size or (1 if self.device == "cpu" else 16)
        pad = self.tokenizer.pad_token_id or 0
        fills = {key: pad if key == "input_ids" else 0 for key in self.input_names}

        def forward(batch: dict[str, np.ndarray]):
            out = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in batch.items()})
            start = out.start_logits.float().cpu().numpy()
            end = out.end_logits.float().cpu().numpy()
            return list(zip(start, end))

        lengths = [len(w["input_ids"]) for w in windows]
        padded = run_batches(windows, batches(lengths, max_tokens=None, max_rows=batch_size),
                             fills, forward)
        return [(start[:n], end[:n]) for (start, end), n in zip(padded, lengths)]


def _load_qa_model(model: ResolvedModel):
    try:
        if (model.path / INT8_WEIGHTS).is_file():
            return _load_int8_qa_model(model.path)
        return transformers.AutoModelForQuestionAnswering.from_pretrained(str(model.path))
    except ModelError:
        raise
    except Exception as err:
        raise ModelError(f"{model.name}: cannot load the model ({_short(err)})") from None


@lru_cache(maxsize=4)
def load_encoder(model: ResolvedModel, device: str) -> Encoder:
    return Encoder(model, device)


@lru_cache(maxsize=4)
def load_reader(model: ResolvedModel, device: str) -> Reader:
    return Reader(model, device)
