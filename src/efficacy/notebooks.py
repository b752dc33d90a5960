"""Execute the student notebooks (``make notebooks``).

A thin wrapper around :mod:`nbclient`: each notebook runs top to bottom on the
``python3`` kernel with the repository root as working directory, so the
notebooks find ``data/`` and ``results/`` by relative paths. With
``--in-place`` the executed notebook (outputs included) is written back; with
``--output-dir DIR`` it is written to ``DIR/<name>.ipynb`` (the committed
notebook stays clean); otherwise the run only checks that every cell succeeds.

Example
-------
>>> from efficacy.notebooks import execute_notebook   # doctest: +SKIP
>>> execute_notebook("notebooks/01_tour_of_a_study.ipynb")   # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["repo_root", "execute_notebook", "main"]


def repo_root(start=None) -> Path:
    """The nearest parent of ``start`` (default: this file) holding ``pyproject.toml`` and ``data/``."""
    p = Path(start or __file__).resolve()
    for cand in [p, *p.parents]:
        if (cand / "pyproject.toml").is_file() and (cand / "data").is_dir():
            return cand
    return Path.cwd()


def execute_notebook(path, *, timeout=300, kernel_name="python3", cwd=None, in_place=False, output=None):
    """Run one notebook; return the executed :class:`nbformat.NotebookNode`.

    Parameters
    ----------
    path : str or pathlib.Path
    timeout : int
        Seconds allowed per cell.
    kernel_name : str
    cwd : str or pathlib.Path, optional
        Working directory of the kernel (default: the repository root above ``path``).
    in_place : bool
        Write the executed notebook (with outputs) back to ``path``.
    output : str or pathlib.Path, optional
        Write the executed notebook there instead (parent folders are created).

    Raises :class:`nbclient.exceptions.CellExecutionError` naming the failing cell.
    """
    import nbformat
    from nbclient import NotebookClient

    if in_place and output is not None:
        raise ValueError("give either in_place=True or output=, not both")
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    cwd = Path(cwd) if cwd is not None else repo_root(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    if in_place:
        nbformat.write(nb, path)
    elif output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output)
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m efficacy.notebooks", description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--in-place", action="store_true", help="write the outputs back into each notebook")
    where.add_argument("--output-dir", help="write each executed notebook into this folder instead")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = ap.parse_args(argv)
    for nb in args.notebooks:
        t0 = time.perf_counter()
        out = Path(args.output_dir) / Path(nb).name if args.output_dir else None
        execute_notebook(nb, timeout=args.timeout, in_place=args.in_place, output=out)
        print(f"{nb}: ok ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
