"""Glue between the Snakemake workflow and the library (no statistics here).

Parse-time checks of the configured studies, and writers that turn stage
results into the files the rules declare.
"""

from __future__ import annotations

import os
from pathlib import Path

from .codebook import ALLOW_EXTERNAL_ENV, Codebook, load_codebook, resolve_inside
from .errors import ConfigError
from .io import write_json, write_table, atomic_write_text

__all__ = ["check_config_paths", "check_studies", "load_study_codebooks", "retain_freed_memory", "write_cleaning",
           "write_tables"]


#: Config keys whose values are paths (checked by :func:`check_config_paths`):
#: these names, and any key ending in ``_dir``, ``_file`` or ``_path``.
PATH_KEYS = ("raw_dir", "input", "inputs", "file", "files", "path")


def _is_path_key(key) -> bool:
    key = str(key)
    return key in PATH_KEYS or key.endswith(("_dir", "_file", "_path"))


def _config_paths(node, where=""):
    """Yield ``(key path, value)`` for every path-valued entry of a config tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if _is_path_key(key) and isinstance(value, str):
                yield here, value
            elif _is_path_key(key) and isinstance(value, list) and all(isinstance(v, str) for v in value):
                for i, v in enumerate(value):
                    yield f"{here}[{i}]", v
            else:
                yield from _config_paths(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _config_paths(value, f"{where}[{i}]")


def check_config_paths(config, *, root=".", config_file="config/config.yaml"):
    """Check that every path in the config is relative and stays inside the project.

    Paths are ``raw_dir``, each meta-analysis ``input`` and any key named
    ``input``/``file``/``path`` or ending in ``_dir``/``_file``/``_path``.
    An absolute path, a ``..`` leaving the project and a symbolic link whose
    real target is outside the project are refused, unless the config sets
    ``allow_external_paths: true``.

    Parameters
    ----------
    config : dict
        The loaded workflow configuration.
    root : str or Path
        The project folder (the workflow's working directory).
    config_file : str
        Name of the config file(s), for messages.

    Returns
    -------
    list of (str, Path)
        Each checked key and its path.

    Raises
    ------
    ConfigError
        Naming the file and the key.
    """
    allow = bool(config.get("allow_external_paths", False))
    checked = []
    for where, value in _config_paths(config):
        path = resolve_inside(root, value, file=config_file, where=where, allow_outside=allow, root=root,
                              error=ConfigError, inside="the project")
        checked.append((where, path))
    return checked


def check_studies(studies, *, raw_dir="data/raw", config_file="config/config.yaml", allow_external=False,
                  root="."):
    """Check the configured study list: unique names, existing folders, safe paths.

    Raises
    ------
    ConfigError
        Naming the entry of ``studies`` that is wrong.
    """
    seen = {}
    raw = resolve_inside(root, raw_dir, file=config_file, where="raw_dir", allow_outside=allow_external,
                         root=root, error=ConfigError, inside="the project")
    for i, name in enumerate(studies):
        where = f"studies[{i}]"
        if (not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith(".")
                or name.startswith("~")):
            raise ConfigError("a study is named by its folder under raw_dir", file=config_file, where=where,
                              found=repr(name), expected="a plain folder name")
        if name in seen:
            raise ConfigError("two studies with the same name", file=config_file, where=where,
                              found=repr(name), expected=f"a name not already used at studies[{seen[name]}]")
        seen[name] = i
        if not (raw / name).is_dir():
            raise ConfigError("study folder not found", file=config_file, where=where,
                              found=str(raw / name), expected="a folder with codebook.yaml and the data file")
        resolve_inside(raw, name, file=config_file, where=where, allow_outside=allow_external, root=root,
                       error=ConfigError, inside="the project")
    if not studies:
        raise ConfigError("no studies configured", file=config_file, where="studies")
    return list(studies)


def load_study_codebooks(studies, *, raw_dir="data/raw", config=None, config_file="config/config.yaml",
                         root=".") -> dict[str, Codebook]:
    """Check the study list and every path, and load every codebook (schema and consistency).

    With ``config`` given, its paths are checked first (:func:`check_config_paths`)
    and ``allow_external_paths`` is honoured and exported to the jobs of the run
    (environment variable ``EFFICACY_ALLOW_EXTERNAL_PATHS``), so a codebook is
    read the same way at parse time and inside a job.
    """
    allow = False
    if config is not None:
        allow = bool(config.get("allow_external_paths", False))
        os.environ[ALLOW_EXTERNAL_ENV] = "1" if allow else "0"
        check_config_paths(config, root=root, config_file=config_file)
    names = check_studies(studies, raw_dir=raw_dir, config_file=config_file, allow_external=allow, root=root)
    root_path = Path(root).resolve()
    return {name: load_codebook(Path(raw_dir) / name, allow_outside=allow, root=root_path) for name in names}


def write_tables(tables: dict, outputs, *, float_format=None):
    """Write ``{stem: DataFrame}`` to the Snakemake outputs named by the same keys."""
    for key, df in tables.items():
        path = getattr(outputs, key) if hasattr(outputs, key) else outputs[key]
        if float_format:
            write_table(df, path, float_format=float_format)
        else:
            write_table(df, path)


def write_cleaning(result, outputs):
    """Write a :class:`~efficacy.cleaning.CleaningResult` to the clean rule's outputs."""
    write_table(result.clean, outputs.clean, float_format="%.17g")
    write_table(result.long, outputs.long, float_format="%.17g")
    write_table(result.dictionary, outputs.dictionary)
    write_table(result.flow, outputs.flow)
    write_table(result.missingness, outputs.missingness)
    write_table(result.careless, outputs.careless)
    write_table(result.generality, outputs.generality)
    write_json(result.report, outputs.json)
    atomic_write_text(outputs.md, result.to_markdown())


def retain_freed_memory(*, mmap_threshold_mb: int = 32, trim_threshold_mb: int = 512) -> bool:
    """Let this process reuse the memory it frees instead of returning it to the OS (glibc only).

    glibc serves an allocation above its mmap threshold (128 KiB at start, raised adaptively up
    to the largest block freed so far) with fresh pages and trims the heap whenever more than twice
    that is free at its top. The batched numerical code of the library (the SEM engine's FIML
    gradient, the latent-mediation refits, any numpy expression over a (resamples x cases) block)
    creates and frees many temporaries of 0.1-10 MB per call, so in a long computation the same
    memory is faulted in again and again -- at about 1 microsecond per 4 KiB page on the development
    machine, a large share of the CPU time. With a fixed mmap threshold of ``mmap_threshold_mb`` and a
    trim threshold of ``trim_threshold_mb``, freed blocks stay in the heap and are reused. Numbers are
    unchanged (only where memory comes from); the cost is a resident size that stays at its peak.

    Measured on the development machine (2 cores, loaded): a 1,000-resample latent mediation
    bootstrap (BCa) 0.62 -> 0.40 s of CPU (issue #22); the mediation bootstrap and the SEM engine
    avoid most such temporaries themselves and gain little. Meant for the workflow's job scripts
    (one analysis per process); call it once, before the heavy computation.

    Returns
    -------
    bool
        True when the settings were applied (Linux with glibc), False elsewhere (nothing done).
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    ok = mallopt(M_MMAP_THRESHOLD, int(mmap_threshold_mb) << 20) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, int(trim_threshold_mb) << 20) == 1
    return bool(ok)
