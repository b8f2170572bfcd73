"""int8 copies of an exported float32 graph: per-token activations, per-column weights.

Every MatMul with a constant 2-D weight W [K, N] becomes ONNX Runtime's MatMulIntegerToFloat
(the integer matrix product that uses VNNI/AMX where the CPU has them):

    x [..., K] -> rows [T, K] -> one scale per row (max |x| / 127) -> uint8 around 128
    W          -> int8, one scale per output column (max |W[:, n]| / 127)
    y = (xq - 128) @ Wq * column scale * row scale -> [..., N]

The rows ("tokens") are quantized one by one because their ranges differ by orders of
magnitude in BERT-like models ([CLS]/[SEP] and punctuation carry huge activations):
ONNX Runtime's own dynamic quantization scales a whole batch at once, and changed the picked
sentences of 22% of articles; per token keeps the summary's picks (91.5%, the bar is 90%) at the
same speed (benchmarks/README.md, "int8 per token"). A quantized input shared by several
MatMuls (query, key and value) is quantized once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

ZERO_POINT = 128  # activations are symmetric: round(x / scale) in [-127, 127], stored + 128


def quantize_per_token(source: Path, target: Path, keep_last: bool = False,
                       keep_float: Callable[[str], bool] = lambda name: False) -> int:
    """Write `source`'s graph to `target` with its weighted MatMuls in int8, but the last one
    with `keep_last` (a reader's answer head) and those whose node name `keep_float` accepts.
    Returns how many were quantized."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    weighted = [n.name for n in graph.node
                if n.op_type == "MatMul" and n.input[1] in weights and len(weights[n.input[1]].dims) == 2]
    chosen = {name for name in weighted[:-1 if keep_last else None] if not keep_float(name)}

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    added: list = []
    one = const("int8/one", np.array(1.0, np.float32))
    zero_point = const("int8/zero_point", np.array(ZERO_POINT, np.uint8))
    inv127 = const("int8/inv127", np.array(1 / 127, np.float32))
    tiny = const("int8/tiny", np.array(1e-8, np.float32))
    rows = const("int8/rows", np.array([-1], np.int64))
    column = const("int8/column", np.array([-1, 1], np.int64))
    nodes: list = []
    quantized: dict[str, tuple[str, str, str]] = {}  # input -> (uint8 rows, row scales, lead shape)
    retired: set[str] = set()
    for node in graph.node:
        if node.name not in chosen:
            nodes.append(node)
            continue
        x = node.input[0]
        if x not in quantized:
            p = f"int8/{len(quantized)}/"
            nodes += [
                helper.make_node("Shape", [x], [p + "width"], start=-1),
                helper.make_node("Concat", [rows, p + "width"], [p + "2d"], axis=0),
                helper.make_node("Reshape", [x, p + "2d"], [p + "rows"]),
                helper.make_node("ReduceMax", [p + "rows"], [p + "high"], axes=[1], keepdims=0),
                helper.make_node("ReduceMin", [p + "rows"], [p + "low"], axes=[1], keepdims=0),
                helper.make_node("Neg", [p + "low"], [p + "minus_low"]),
                helper.make_node("Max", [p + "high", p + "minus_low", tiny], [p + "absmax"]),
                helper.make_node("Mul", [p + "absmax", inv127], [p + "scale"]),
                helper.make_node("Shape", [p + "scale"], [p + "count"]),
                helper.make_node("ConstantOfShape", [p + "count"], [p + "zero_points"],
                                 value=numpy_helper.from_array(np.array([ZERO_POINT], np.uint8))),
                helper.make_node("QuantizeLinear", [p + "rows", p + "scale", p + "zero_points"],
                                 [p + "q"], axis=0),
                helper.make_node("Reshape", [p + "scale", column], [p + "scale_column"]),
                helper.make_node("Shape", [x], [p + "lead"], end=-1),
            ]
            quantized[x] = (p + "q", p + "scale_column", p + "lead")
        q, row_scale, lead = quantized[x]
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        scale = np.maximum(np.abs(w).max(axis=0) / 127.0, 1e-12).astype(np.float32)
        name, out = node.input[1], node.output[0]
        retired.add(name)
        wq = const(name + "/int8", np.clip(np.round(w / scale), -127, 127).astype(np.int8))
        ws = const(name + "/scale", scale)
        width = const(name + "/width", np.array([w.shape[1]], np.int64))
        nodes += [
            helper.make_node("MatMulIntegerToFloat", [q, wq, one, ws, zero_point], [out + "/int8"],
                             domain="com.microsoft", name=node.name),
            helper.make_node("Mul", [out + "/int8", row_scale], [out + "/rows"]),
            helper.make_node("Concat", [lead, width], [out + "/shape"], axis=0),
            helper.make_node("Reshape", [out + "/rows", out + "/shape"], [out]),
        ]
    kept = [i for i in graph.initializer if i.name not in retired]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(target))
    return len(chosen)
