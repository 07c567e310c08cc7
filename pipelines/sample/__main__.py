"""python -m pipelines.sample DIR [--seed N] [--scale N | --province F]: write the sample files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.cli import PROVINCE_HELP
from pipelines.sample import write_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yitu sample", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=42)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=int, default=1)
    size.add_argument("--province", type=float, metavar="F", help=PROVINCE_HELP)
    args = parser.parse_args(argv)
    manifest = write_samples(args.out_dir, seed=args.seed, scale=args.scale,
                             province=args.province)
    print(json.dumps(manifest, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
