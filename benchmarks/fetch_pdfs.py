"""Download the PDFs of the PDF fidelity benchmark into benchmarks/.cache/pdfs/.

    python benchmarks/fetch_pdfs.py [--manifest benchmarks/pdf_fidelity.json]

Each entry of the manifest names a file, the raw GitHub URL it comes from (pinned to a
commit) and its sha256. Files already present with the right hash are skipped; a download
whose hash does not match is deleted and the script exits non-zero with a one-line error.
The PDFs are not redistributed with bertcli (several have unknown licences), so they live
in the gitignored cache only. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "pdfs"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=HERE / "pdf_fidelity.json")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    for entry in json.loads(args.manifest.read_text(encoding="utf-8")):
        target = CACHE / entry["file"]
        if target.exists() and sha256(target) == entry["sha256"]:
            print(f"ok        {entry['file']}")
            continue
        partial = target.with_suffix(".part")
        try:
            with urllib.request.urlopen(entry["url"], timeout=120) as response:
                partial.write_bytes(response.read())
        except OSError as error:
            partial.unlink(missing_ok=True)
            print(f"error: could not download {entry['url']}: {error}", file=sys.stderr)
            return 1
        got = sha256(partial)
        if got != entry["sha256"]:
            partial.unlink()
            print(f"error: sha256 mismatch for {entry['file']}: expected {entry['sha256']}, got {got}",
                  file=sys.stderr)
            return 1
        partial.replace(target)
        print(f"fetched   {entry['file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
