"""Store a trained reader the way bertcli ships it: int8 weights per row + tokenizer + config.

    python training/export_reader.py runs/c/final bertcli/bundled/reader

Reads `model.safetensors` (float32 or float16) from SRC, writes `model.int8.safetensors`,
`config.json` (architectures = BertForQuestionAnswering) and the tokenizer files to DEST.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
CONFIG_KEYS_DROPPED = ("dtype", "torch_dtype", "transformers_version", "_name_or_path")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("src", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)

    from safetensors.torch import load_file, save_file

    from bertcli.backends.torch_backend import quantize_rows
    from bertcli.models import INT8_WEIGHTS

    args.dest.mkdir(parents=True, exist_ok=True)
    state = load_file(str(args.src / "model.safetensors"))
    save_file(quantize_rows(state), str(args.dest / INT8_WEIGHTS), metadata={"format": "pt"})
    config = json.loads((args.src / "config.json").read_text(encoding="utf-8"))
    config = {k: v for k, v in config.items() if k not in CONFIG_KEYS_DROPPED}
    config["architectures"] = ["BertForQuestionAnswering"]
    (args.dest / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    for name in TOKENIZER_FILES:
        if (args.src / name).is_file():
            shutil.copy(args.src / name, args.dest / name)
    print(f"wrote {args.dest / INT8_WEIGHTS} ({(args.dest / INT8_WEIGHTS).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
