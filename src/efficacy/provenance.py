"""What a run was made from: versions, git state, config and input checksums."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

from .cleaning import sha256_file

__all__ = ["PACKAGES", "package_versions", "git_state", "provenance"]

#: Packages whose versions can change the numbers.
PACKAGES = ("efficacy", "snakemake", "numpy", "scipy", "pandas", "statsmodels", "pingouin",
            "matplotlib", "pyyaml", "jsonschema", "pyreadstat", "openpyxl")


def package_versions(packages=PACKAGES) -> dict:
    """Installed version of each package (None when absent)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_state(cwd=".") -> dict:
    """Current commit and whether the work tree has uncommitted changes."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None, "note": "not a git repository"}
        status = run("status", "--porcelain")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "note": f"git unavailable: {exc}"}


def provenance(*, config: dict, inputs) -> dict:
    """Provenance record of a run.

    Parameters
    ----------
    config : dict
        The resolved configuration (after schema defaults).
    inputs : iterable of path
        Input files; each gets its SHA-256.
    """
    return {
        "versions": package_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "python": sys.version.split()[0]},
        "git": git_state(),
        "config": config,
        "inputs": {str(p): sha256_file(p) for p in sorted(set(map(str, inputs)))},
    }
