"""Study codebooks: what a raw data file holds and how to analyse it.

A codebook (``data/raw/<study>/codebook.yaml``) declares the data file, the
variables with their types and valid values, the multi-item scales (construct,
items, reverse-keyed items, response range, minimum answered items), the waves
of repeated measures, grouping variables, the design roles (treatment,
mediators, outcomes, covariates, moderator) and exclusion rules written as
data. It is read with a safe YAML loader, validated against
``codebook.schema.yaml`` and then checked for internal consistency; every
problem is reported as one :class:`~efficacy.errors.CodebookError` naming the
file, the key, what was found and what was expected.

Examples
--------
>>> from efficacy.codebook import load_codebook
>>> cb = load_codebook("data/raw/mastery_trial")          # doctest: +SKIP
>>> cb.scales["efficacy"].items                           # doctest: +SKIP
['se1', 'se2', 'se3', 'se4', 'se5', 'se6']
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path, PureWindowsPath

import yaml

from .errors import CodebookError

__all__ = [
    "CONSTRUCTS",
    "EXCLUSION_OPERATORS",
    "Variable",
    "Scale",
    "Design",
    "Exclusion",
    "Codebook",
    "codebook_schema",
    "load_codebook",
    "read_yaml",
    "resolve_inside",
    "external_paths_allowed",
    "ALLOW_EXTERNAL_ENV",
]

#: Controlled vocabulary of constructs (Bandura, 1977, 1997): the efficacy
#: belief, the outcome expectation it must be told apart from, global
#: self-esteem, behaviour, and the sources of efficacy.
CONSTRUCTS = (
    "self_efficacy",
    "outcome_expectation",
    "self_esteem",
    "behavior",
    "mastery",
    "vicarious",
    "persuasion",
    "arousal",
    "imaginal",
    "other",
)

#: Operators allowed in exclusion rules (no expression is ever evaluated).
EXCLUSION_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "missing")

NUMERIC_TYPES = ("numeric", "integer", "binary")

#: Characters that a variable name may not hold: the operators of the lavaan
#: model syntax built from codebook names (=~, ~, ~~, *, +, comments, line
#: breaks), so a name can never change a model it is placed in.
_SYNTAX_CHARS = frozenset("~=*+#;\n\r")


@dataclass(frozen=True)
class Variable:
    """One data column as the codebook declares it."""

    name: str
    type: str
    label: str = ""
    range: tuple[float, float] | None = None
    levels: list | None = None
    missing_codes: tuple = ()

    @property
    def is_numeric(self) -> bool:
        """Whether values must be numbers (numeric, integer, binary with numeric levels)."""
        if self.type in ("numeric", "integer"):
            return True
        if self.type == "binary":
            return self.levels is None or all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.levels
            )
        return False


@dataclass(frozen=True)
class Scale:
    """A multi-item scale; its score column carries the scale's name."""

    name: str
    construct: str
    items: list[str]
    reverse: list[str] = field(default_factory=list)
    response_range: tuple[float, float] | None = None
    min_items: int = 1
    subscales: dict[str, list[str]] = field(default_factory=dict)
    format: str = "likert"
    threshold: float | None = None
    wave: int | None = None
    domain: str = ""
    label: str = ""
    #: ordered categories? None: decided from the response range (see :attr:`is_ordinal`)
    ordinal: bool | None = None
    #: the CFA estimator the codebook asks for (None: see :meth:`Codebook.estimator_for`)
    estimator: str | None = None

    @property
    def k(self) -> int:
        """Number of items."""
        return len(self.items)

    @property
    def n_categories(self) -> int | None:
        """Number of response categories of an integer response range (None when not declared or not integer)."""
        if self.response_range is None:
            return None
        lo, hi = self.response_range
        if float(lo).is_integer() and float(hi).is_integer():
            return int(hi - lo) + 1
        return None

    @property
    def is_ordinal(self) -> bool:
        """Are the items ordered categories? The codebook's ``ordinal`` key, else a Likert scale with at most
        7 integer categories (Rhemtulla, Brosseau-Liard & Savalei, 2012: with fewer than 5-7 categories,
        treating Likert items as continuous biases loadings and fit)."""
        if self.ordinal is not None:
            return bool(self.ordinal)
        n = self.n_categories
        return self.format == "likert" and n is not None and 2 <= n <= 7


@dataclass(frozen=True)
class Design:
    """Design roles; names refer to scales or variables."""

    treatment: str | None = None
    mediators: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    moderator: str | None = None
    panel_x: str | None = None
    encouragement: str | None = None
    panel_y: str | None = None


@dataclass(frozen=True)
class Exclusion:
    """An exclusion rule: drop rows where ``variable op value`` holds."""

    variable: str
    op: str
    value: object
    reason: str


@dataclass(frozen=True)
class Codebook:
    """A validated study codebook (see the module docstring)."""

    study: str
    path: Path
    folder: Path
    data_file: Path
    data_format: str
    read_options: dict
    id: str
    variables: dict[str, Variable]
    scales: dict[str, Scale]
    waves: dict[str, list[str]]
    groups: list[str]
    design: Design
    exclusions: list[Exclusion]
    missing_codes: tuple = ()
    id_generated: bool = False
    strict: bool = False
    duplicates: str = "keep_first"
    drop: list[str] = field(default_factory=list)
    title: str = ""
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)
    cluster: str | None = None

    def estimator_for(self, scale) -> str:
        """The CFA estimator of a scale (lavaan's names): the codebook's ``estimator``, else WLSMV for
        ordinal items, MLR when a cluster is declared, ML otherwise."""
        s = self.scales[scale] if isinstance(scale, str) else scale
        if s.estimator:
            return s.estimator
        if s.is_ordinal:
            return "WLSMV"
        return "MLR" if self.cluster else "ML"

    @property
    def items(self) -> list[str]:
        """All item columns of all scales, in codebook order, without repeats."""
        seen: dict[str, None] = {}
        for scale in self.scales.values():
            for item in scale.items:
                seen.setdefault(item, None)
        return list(seen)

    @property
    def score_columns(self) -> list[str]:
        """Columns that exist after cleaning: variables and scale scores."""
        return list(self.variables) + list(self.scales)

    def construct_of(self, name: str) -> str | None:
        """Construct of a scale, or None for a plain variable."""
        scale = self.scales.get(name)
        return scale.construct if scale else None

    def wave_of(self, name: str) -> int | None:
        """Wave at which a scale or variable was measured, if declared."""
        if name in self.scales and self.scales[name].wave is not None:
            return self.scales[name].wave
        for columns in self.waves.values():
            if name in columns:
                return columns.index(name) + 1
        return None

    def is_binary(self, name: str) -> bool:
        """Whether a variable is declared binary."""
        var = self.variables.get(name)
        return var is not None and var.type == "binary"


@lru_cache(maxsize=1)
def codebook_schema() -> dict:
    """The codebook JSON schema (shipped with the package)."""
    text = resources.files("efficacy").joinpath("schemas/codebook.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def read_yaml(path, *, error=CodebookError):
    """Read a YAML file with the safe loader; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", file=path) from None
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror})", file=path) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"malformed YAML: {problem}", file=path, where=where) from None


#: Environment variable that opts in to data paths outside the project (the
#: workflow sets it from the config key ``allow_external_paths``).
ALLOW_EXTERNAL_ENV = "EFFICACY_ALLOW_EXTERNAL_PATHS"


def external_paths_allowed() -> bool:
    """Whether ``EFFICACY_ALLOW_EXTERNAL_PATHS`` opts in to paths outside the project."""
    return os.environ.get(ALLOW_EXTERNAL_ENV, "").strip().lower() in ("1", "true", "yes")


def resolve_inside(base, relative, *, file, where, allow_outside=False, root=None, error=CodebookError,
                   inside="the study folder"):
    """Resolve ``relative`` against ``base`` and refuse escapes.

    Paths in codebooks and config must be relative and stay inside ``base``
    unless ``allow_outside`` is set. Three escapes are refused, each with an
    error naming the file and the key: an absolute path, a ``..`` that leaves
    ``base``, and a symbolic link whose real target lies outside ``root``
    (the project folder).

    Parameters
    ----------
    base : str or Path
        Folder the path is relative to.
    relative : str or Path
        The path as written in the file.
    file, where : str
        The file and key holding the path (for the error message).
    allow_outside : bool
        Skip the checks (explicit opt-in).
    root : str or Path, optional
        Folder the real (symlink-resolved) target must stay in; default the
        working directory (the project, in a workflow run) when ``base`` lies
        inside it, else ``base`` itself.
    error : type
        Exception class raised (a subclass of ``EfficacyError``).
    inside : str
        How ``base`` is named in messages.

    Returns
    -------
    Path
        ``base / relative`` (not symlink-resolved).
    """
    text = str(relative)
    rel = Path(text)
    base = Path(base)
    if allow_outside:
        return rel if rel.is_absolute() else base / rel
    if not text.strip():
        raise error("empty path", file=file, where=where, expected=f"a path relative to {inside}")
    if rel.is_absolute() or PureWindowsPath(text).anchor or text.startswith("~"):
        raise error(
            "absolute paths are not allowed", file=file, where=where,
            found=repr(text), expected=f"a path relative to {inside} (or allow_external_paths: true)",
        )
    norm = os.path.normpath(text.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        raise error(
            f"path leaves {inside}", file=file, where=where,
            found=repr(text), expected=f"a path inside {inside} without '..' escapes (or allow_external_paths: true)",
        )
    target = base / rel
    real = target.resolve()
    if root is None:
        cwd = Path.cwd().resolve()
        root = cwd if base.resolve().is_relative_to(cwd) else base
    limit = Path(root).resolve()
    if not real.is_relative_to(limit):
        raise error(
            "path is a symbolic link leading outside the project", file=file, where=where,
            found=f"{text!r} -> {real}", expected=f"a file inside {limit} (or allow_external_paths: true)",
        )
    return target


def _schema_error_message(err) -> tuple[str, str, str | None, str | None]:
    """Turn a jsonschema error into (where, message, found, expected)."""
    where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err.absolute_path)
    where = where.replace(".[", "[") or "(top level)"
    validator = err.validator
    if validator == "enum":
        allowed = ", ".join(repr(v) for v in err.validator_value)
        return where, "value not allowed", repr(err.instance), f"one of {allowed}"
    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        key = missing[0] if missing else err.message
        return where, f"missing required key '{key}'", None, None
    if validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", err.message)
        known = sorted(err.schema.get("properties", {}))
        return (
            where,
            f"unknown key {', '.join(repr(e) for e in extra[:3])}",
            None,
            f"one of {', '.join(known)}" if known else None,
        )
    if validator == "type":
        return where, "wrong type", f"{type(err.instance).__name__} {err.instance!r}", str(err.validator_value)
    if validator == "pattern":
        return where, "invalid name", repr(err.instance), f"a name matching {err.validator_value}"
    if validator in ("minItems", "maxItems", "minProperties"):
        return where, err.message, None, None
    return where, err.message, None, None


def _validate_schema(doc, path):
    import jsonschema

    validator = jsonschema.Draft202012Validator(codebook_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        where, message, found, expected = _schema_error_message(errors[0])
        more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
        raise CodebookError(message + more, file=path, where=where, found=found, expected=expected)


def load_codebook(study, *, allow_outside=None, root=None) -> Codebook:
    """Read and validate a study codebook.

    Parameters
    ----------
    study : str or Path
        The study folder (holding ``codebook.yaml``) or the codebook file itself.
    allow_outside : bool, optional
        Allow a data file path outside the study folder (absolute, ``..`` or a
        symbolic link leading out). Off by default; ``None`` reads the
        environment variable ``EFFICACY_ALLOW_EXTERNAL_PATHS`` (set by the
        workflow from the config key ``allow_external_paths``).
    root : str or Path, optional
        Folder that a symbolic link to the data file may lead into; default
        the working directory when the study folder is inside it (the project
        folder in a workflow run), else the study folder.

    Returns
    -------
    Codebook

    Raises
    ------
    CodebookError
        Malformed YAML, a schema violation, or an inconsistency (an item that is
        not a declared variable, a reverse-keyed item outside its scale, a role
        naming nothing, a study name that differs from its folder, ...).
    """
    path = Path(study)
    if path.is_dir():
        path = path / "codebook.yaml"
    folder = path.parent
    if not path.exists():
        raise CodebookError("codebook not found", file=path, expected="a codebook.yaml in the study folder")
    doc = read_yaml(path)
    if doc is None:
        raise CodebookError("codebook is empty", file=path)
    if not isinstance(doc, dict):
        raise CodebookError("codebook must be a mapping of keys", file=path, found=type(doc).__name__)
    _validate_schema(doc, path)

    study_name = doc["study"]
    if folder.name and study_name != folder.name:
        raise CodebookError(
            "study name differs from its folder name", file=path, where="study",
            found=repr(study_name), expected=repr(folder.name),
        )

    def err(where, message, found=None, expected=None):
        return CodebookError(message, file=path, where=where, found=found, expected=expected)

    # variables
    variables: dict[str, Variable] = {}
    for name, spec in doc["variables"].items():
        bad = sorted(set(str(name)) & _SYNTAX_CHARS)
        if bad or not str(name).strip():
            raise err(f"variables.{name}", "variable name contains model-syntax characters or is blank",
                      found=repr(name), expected=f"a name without {' '.join(sorted(_SYNTAX_CHARS - {chr(10)}))} "
                      "or line breaks (names reach model formulas)")
        rng = spec.get("range")
        if rng is not None and rng[0] > rng[1]:
            raise err(f"variables.{name}.range", "range minimum exceeds maximum", found=str(rng))
        if spec["type"] in ("numeric", "integer") and spec.get("levels") is not None:
            raise err(f"variables.{name}.levels", "levels are for binary and categorical variables")
        if spec["type"] == "binary" and spec.get("levels") is not None and len(spec["levels"]) != 2:
            raise err(f"variables.{name}.levels", "a binary variable has exactly two levels", found=str(spec["levels"]))
        if spec["type"] == "categorical" and not spec.get("levels"):
            raise err(f"variables.{name}", "a categorical variable needs its levels")
        variables[name] = Variable(
            name=name,
            type=spec["type"],
            label=spec.get("label", ""),
            range=tuple(rng) if rng is not None else None,
            levels=list(spec["levels"]) if spec.get("levels") is not None else None,
            missing_codes=tuple(spec.get("missing_codes", ())),
        )

    id_generated = "id" not in doc
    id_col = doc.get("id", "row")
    if id_generated:
        if id_col in variables:
            raise err("variables.row", "'row' is reserved for the generated id when the codebook has no 'id'")
        variables = {id_col: Variable(name=id_col, type="id", label="raw data row (generated)"), **variables}
    if id_col not in variables:
        raise err("id", "the id column is not a declared variable", found=repr(id_col), expected="a key of 'variables'")
    if variables[id_col].type != "id":
        raise err(f"variables.{id_col}.type", "the id column must have type 'id'", found=variables[id_col].type)
    for name, var in variables.items():
        if var.type == "id" and name != id_col:
            raise err(f"variables.{name}.type", "only the id column may have type 'id'")

    drop = list(doc.get("drop", []))
    for i, name in enumerate(drop):
        if name in variables:
            raise err(f"drop[{i}]", "a dropped column cannot also be a variable", found=repr(name))

    # scales
    scales: dict[str, Scale] = {}
    for name, spec in (doc.get("scales") or {}).items():
        if name in variables:
            raise err(f"scales.{name}", "a scale has the same name as a variable", found=repr(name))
        items = list(spec["items"])
        for i, item in enumerate(items):
            if item not in variables:
                raise err(f"scales.{name}.items[{i}]", "item is not a declared variable", found=repr(item),
                          expected="a key of 'variables'")
            if not variables[item].is_numeric:
                raise err(f"scales.{name}.items[{i}]", "item must be a numeric variable", found=variables[item].type)
        if len(set(items)) != len(items):
            dup = sorted({i for i in items if items.count(i) > 1})
            raise err(f"scales.{name}.items", "item listed twice", found=", ".join(dup))
        reverse = list(spec.get("reverse", []))
        for i, item in enumerate(reverse):
            if item not in items:
                raise err(f"scales.{name}.reverse[{i}]", "reverse-keyed item is not in its scale",
                          found=repr(item), expected=f"one of {', '.join(items)}")
        fmt = spec.get("format", "likert")
        rr = spec.get("response_range")
        if rr is None:
            ranges = {variables[i].range for i in items}
            if len(ranges) == 1 and None not in ranges:
                rr = list(next(iter(ranges)))
            elif fmt == "bandura":
                rr = [0, 100]
        if rr is not None and rr[0] >= rr[1]:
            raise err(f"scales.{name}.response_range", "minimum must be below maximum", found=str(rr))
        if reverse and rr is None:
            raise err(f"scales.{name}.response_range", "reverse-keyed items need a response range")
        min_items = spec.get("min_items", len(items))
        if min_items > len(items):
            raise err(f"scales.{name}.min_items", "more than the number of items", found=str(min_items),
                      expected=f"at most {len(items)}")
        threshold = spec.get("threshold")
        if fmt == "bandura" and threshold is None:
            raise err(f"scales.{name}", "a Bandura-format scale needs a 'threshold'")
        if fmt != "bandura" and threshold is not None:
            raise err(f"scales.{name}.threshold", "threshold is only for Bandura-format scales")
        subscales = {k: list(v) for k, v in (spec.get("subscales") or {}).items()}
        for sub, sub_items in subscales.items():
            for i, item in enumerate(sub_items):
                if item not in items:
                    raise err(f"scales.{name}.subscales.{sub}[{i}]", "subscale item is not in the scale",
                              found=repr(item))
        scales[name] = Scale(
            name=name,
            construct=spec["construct"],
            items=items,
            reverse=reverse,
            response_range=tuple(rr) if rr is not None else None,
            min_items=min_items,
            subscales=subscales,
            format=fmt,
            threshold=threshold,
            wave=spec.get("wave"),
            domain=spec.get("domain", ""),
            label=spec.get("label", ""),
            ordinal=spec.get("ordinal"),
            estimator=spec.get("estimator"),
        )

    known = set(variables) | set(scales)

    waves = {k: list(v) for k, v in (doc.get("waves") or {}).items()}
    for measure, columns in waves.items():
        if measure in known:
            raise err(f"waves.{measure}", "a measure name must differ from variable and scale names",
                      found=repr(measure))
        for i, col in enumerate(columns):
            if col not in known:
                raise err(f"waves.{measure}[{i}]", "not a declared variable or scale", found=repr(col))
    lengths = {len(c) for c in waves.values()}
    if len(lengths) > 1:
        raise err("waves", "every measure needs the same number of waves",
                  found=", ".join(f"{m}: {len(c)}" for m, c in waves.items()))

    groups = list(doc.get("groups", []))
    for i, g in enumerate(groups):
        if g not in variables:
            raise err(f"groups[{i}]", "grouping variable is not a declared variable", found=repr(g))
        if variables[g].type not in ("categorical", "binary"):
            raise err(f"groups[{i}]", "grouping variable must be categorical or binary", found=variables[g].type)

    d = doc.get("design") or {}
    design = Design(
        treatment=d.get("treatment"),
        mediators=list(d.get("mediators") or []),
        outcomes=list(d.get("outcomes") or []),
        covariates=list(d.get("covariates") or []),
        moderator=d.get("moderator"),
        panel_x=d.get("panel_x"),
        panel_y=d.get("panel_y"),
        encouragement=d.get("encouragement"),
    )
    for role in ("treatment", "moderator", "encouragement"):
        value = getattr(design, role)
        if value is not None and value not in known:
            raise err(f"design.{role}", "not a declared variable or scale", found=repr(value))
    for role in ("mediators", "outcomes", "covariates"):
        for i, value in enumerate(getattr(design, role)):
            if value not in known:
                raise err(f"design.{role}[{i}]", "not a declared variable or scale", found=repr(value))
    enc = design.encouragement
    if enc is not None:
        for role in ("treatment", "mediators", "outcomes", "covariates"):
            roles = getattr(design, role)
            if enc == roles or (isinstance(roles, list) and enc in roles):
                raise err("design.encouragement", f"the encouragement arm is also design.{role}", found=repr(enc),
                          expected="a separate randomised arm that moves the mediators")
    for role in ("panel_x", "panel_y"):
        value = getattr(design, role)
        if value is not None and value not in waves:
            raise err(f"design.{role}", "not a measure declared under 'waves'", found=repr(value),
                      expected=f"one of {', '.join(waves) or '(no waves declared)'}")

    exclusions = []
    for i, rule in enumerate(doc.get("exclusions", [])):
        var = rule["variable"]
        if var not in known:
            raise err(f"exclusions[{i}].variable", "not a declared variable or scale", found=repr(var))
        op = rule["op"]
        if op != "missing" and "value" not in rule:
            raise err(f"exclusions[{i}]", f"operator '{op}' needs a 'value'")
        if op in ("in", "not in") and not isinstance(rule.get("value"), list):
            raise err(f"exclusions[{i}].value", f"operator '{op}' needs a list", found=repr(rule.get("value")))
        exclusions.append(Exclusion(variable=var, op=op, value=rule.get("value"), reason=rule["reason"]))

    data = doc["data"]
    if allow_outside is None:
        allow_outside = external_paths_allowed()
    data_file = resolve_inside(folder, data["file"], file=path, where="data.file", allow_outside=allow_outside,
                               root=root)
    read_options = {k: data[k] for k in ("sep", "decimal", "encoding", "sheet", "skip_rows") if k in data}

    cluster = doc.get("cluster")
    if cluster is not None and cluster not in variables:
        raise err("cluster", "not a declared variable", found=repr(cluster),
                  expected="one of " + ", ".join(sorted(variables)))
    return Codebook(
        study=study_name,
        path=path,
        folder=folder,
        data_file=data_file,
        data_format=data["format"],
        read_options=read_options,
        id=id_col,
        variables=variables,
        scales=scales,
        waves=waves,
        groups=groups,
        design=design,
        exclusions=exclusions,
        missing_codes=tuple(doc.get("missing_codes", ())),
        id_generated=id_generated,
        strict=bool(doc.get("strict", False)),
        duplicates=doc.get("duplicates", "keep_first"),
        drop=drop,
        title=doc.get("title", ""),
        description=doc.get("description", ""),
        raw=doc,
        cluster=cluster,
    )
