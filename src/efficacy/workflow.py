"""Glue between the Snakemake workflow and the library (no statistics here).

Parse-time checks of the configured studies, and writers that turn stage
results into the files the rules declare.
"""

from __future__ import annotations

from pathlib import Path

from .codebook import Codebook, load_codebook
from .errors import ConfigError
from .io import write_json, write_table, atomic_write_text

__all__ = ["check_studies", "load_study_codebooks", "write_cleaning", "write_tables"]


def check_studies(studies, *, raw_dir="data/raw", config_file="config/config.yaml"):
    """Check the configured study list: unique names, existing folders, safe paths.

    Raises
    ------
    ConfigError
        Naming the entry of ``studies`` that is wrong.
    """
    seen = {}
    raw = Path(raw_dir)
    if raw.is_absolute() or ".." in raw.parts:
        raise ConfigError("raw_dir must be a relative path inside the project", file=config_file,
                          where="raw_dir", found=repr(str(raw_dir)))
    for i, name in enumerate(studies):
        where = f"studies[{i}]"
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise ConfigError("a study is named by its folder under raw_dir", file=config_file, where=where,
                              found=repr(name), expected="a plain folder name")
        if name in seen:
            raise ConfigError("two studies with the same name", file=config_file, where=where,
                              found=repr(name), expected=f"a name not already used at studies[{seen[name]}]")
        seen[name] = i
        if not (raw / name).is_dir():
            raise ConfigError("study folder not found", file=config_file, where=where,
                              found=str(raw / name), expected="a folder with codebook.yaml and the data file")
    if not studies:
        raise ConfigError("no studies configured", file=config_file, where="studies")
    return list(studies)


def load_study_codebooks(studies, *, raw_dir="data/raw") -> dict[str, Codebook]:
    """Check the study list and load every codebook (schema and consistency)."""
    names = check_studies(studies, raw_dir=raw_dir)
    return {name: load_codebook(Path(raw_dir) / name) for name in names}


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
