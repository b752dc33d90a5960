"""Command-line tools for what is not a workflow run.

``efficacy validate data/raw/<study>``
    Check a codebook and its data (schema, consistency, types, ranges,
    identifiers) without running anything else or writing any file.
``efficacy new-study NAME``
    Scaffold ``data/raw/NAME/`` with a commented codebook to fill in.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from .errors import EfficacyError

__all__ = ["main"]


def _validate(args) -> int:
    from .cleaning import validate_study

    status = 0
    for folder in args.study:
        try:
            result = validate_study(folder)
        except EfficacyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        rep = result.report
        recoded = sum(rep["out_of_range"].values())
        print(f"{rep['study']}: OK - {rep['n_raw']} rows, {rep['n_analysed']} analysed after "
              f"{len(result.flow) - 1} exclusion step(s); {len(rep['scales'])} scale(s); "
              f"{recoded} out-of-range value(s) set to missing; "
              f"{len(rep['duplicated_ids'])} duplicated id(s).")
    return status


def _new_study(args) -> int:
    import re

    name = args.name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        print(f"error: study name {name!r} must start with a letter and hold only letters, digits and _",
              file=sys.stderr)
        return 2
    folder = Path(args.raw_dir) / name
    if folder.exists():
        print(f"error: {folder} already exists; nothing was written", file=sys.stderr)
        return 1
    template = resources.files("efficacy").joinpath("templates/codebook.yaml").read_text("utf-8")
    folder.mkdir(parents=True)
    (folder / "codebook.yaml").write_text(template.format(study=name, folder=folder), encoding="utf-8")
    (folder / "README.md").write_text(
        f"# {name}\n\nProvenance: who collected the data, when, under which licence, and how this file was "
        "derived from the original.\n", encoding="utf-8")
    print(f"created {folder}/codebook.yaml and README.md.\n"
          f"Next: put the data file in {folder}/, edit the codebook, run `efficacy validate {folder}`,\n"
          f"then add '  - {name}' under 'studies:' in config/config.yaml.")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``efficacy`` console script."""
    parser = argparse.ArgumentParser(prog="efficacy", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a study's codebook and data without running anything else")
    p.add_argument("study", nargs="+", help="study folder(s), e.g. data/raw/mastery_trial")
    p.set_defaults(func=_validate)
    p = sub.add_parser("new-study", help="scaffold a study folder with a commented codebook")
    p.add_argument("name", help="study name (the folder name)")
    p.add_argument("--raw-dir", default="data/raw", help="folder holding the studies (default data/raw)")
    p.set_defaults(func=_new_study)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
