"""Run fingerprint/verify inside another environment, with only that environment's packages.

``PYTHONPATH=/path/to/stcompat/src python -m stcompat.fingerprint.verify_cli verify MODEL FP``
needs the standard library, numpy and sentence-transformers only (no click, no rich), so it runs
in the environments the matrix builds for old releases. It prints the JSON report
(``stcompat.verify/1``) and exits 0 (identical/noise), 1 (drift/broken) or 2 (unusable input).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import StcompatError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m stcompat.fingerprint.verify_cli")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="re-embed and judge against a fingerprint")
    v.add_argument("model")
    v.add_argument("fingerprint")
    v.add_argument("--precision", choices=("float32", "float16", "bfloat16"))
    f = sub.add_parser("fingerprint", help="embed the probe corpus and write a fingerprint")
    f.add_argument("model")
    f.add_argument("-o", "--output", required=True)
    f.add_argument("--corpus")
    f.add_argument("--prompt-name")
    f.add_argument("--precision", default="float32", choices=("float32", "float16", "bfloat16"))
    args = parser.parse_args(argv)
    from ..report.verify_report import render_json
    from . import fingerprint, verify

    try:
        if args.command == "verify":
            report = verify(args.model, args.fingerprint, precision=args.precision, progress=False)
            print(render_json(report))
            return report.exit_status
        fp = fingerprint(args.model, args.output, corpus=args.corpus, prompt_name=args.prompt_name,
                         precision=args.precision, progress=False)
        print(json.dumps({"written": args.output, "texts": len(fp.corpus.entries),
                          "sets": {k: list(v.values.shape) for k, v in fp.sets.items()}}))
        return 0
    except StcompatError as exc:
        print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
