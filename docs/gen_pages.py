"""Pages generated at build time (mkdocs-gen-files), so they cannot drift from what they describe.

- reference/codebook.md       every key of workflow/schemas/codebook.schema.yaml, with an example value
                              taken from a bundled study's codebook
- reference/configuration.md  config/README.md and every key of the config schema
- api/*.md                    the API reference, from the numpydoc docstrings (mkdocstrings)
- validation.md               tests/reference/README.md, the tolerances each reference test uses, and the
                              result of the last test run (reports/junit.xml, written by `make test`)
- gallery.md                  every figure of the bundled run (results/ from `make run`)
- notebooks/*.ipynb           the student notebooks (rendered by mkdocs-jupyter)
- contributing.md             CONTRIBUTING.md
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import mkdocs_gen_files
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("EFFICACY_DOCS_RESULTS", ROOT / "results"))

#: API pages: page name -> (title, modules documented on it)
API_PAGES = {
    "index": ("The public namespace", ["efficacy"]),
    "reliability": ("Reliability", ["efficacy.reliability"]),
    "measurement": ("Measurement models", ["efficacy.measurement"]),
    "sem": ("The SEM engine", ["efficacy.sem.engine", "efficacy.sem.robust", "efficacy.sem.categorical"]),
    "mediation": ("Mediation", ["efficacy.mediation.observed", "efficacy.mediation.moderated",
                                "efficacy.mediation.sensitivity", "efficacy.mediation.causal",
                                "efficacy.mediation.latent", "efficacy.mediation.robustness",
                                "efficacy.mediation.stage"]),
    "panel": ("Panel models", ["efficacy.panel"]),
    "meta": ("Meta-analysis", ["efficacy.meta.effect_sizes", "efficacy.meta.univariate", "efficacy.meta.bias",
                               "efficacy.meta.selection", "efficacy.meta.multilevel", "efficacy.meta.dependent",
                               "efficacy.meta.masem", "efficacy.meta.tssem", "efficacy.meta.stage"]),
    "simulation": ("Simulation studies", ["efficacy.simulation"]),
    "data": ("Codebooks, cleaning and input/output", ["efficacy.codebook", "efficacy.cleaning", "efficacy.io",
                                                      "efficacy.simulate"]),
    "plots": ("Figures", ["efficacy.plots.style", "efficacy.plots.data", "efficacy.plots.measurement",
                          "efficacy.plots.mediation", "efficacy.plots.meta", "efficacy.plots.simulation",
                          "efficacy.plots.paths", "efficacy.plots.stage"]),
    "pipeline": ("Pipeline glue", ["efficacy.workflow", "efficacy.summary", "efficacy.provenance",
                                   "efficacy.cli", "efficacy.errors", "efficacy.resampling"]),
}


def _existing_modules(modules):
    out = []
    for m in modules:
        rel = Path("src", *m.split("."))
        if (ROOT / rel).is_dir() or (ROOT / rel).with_suffix(".py").is_file():
            out.append(m)
    return out


def api_pages():
    for page, (title, modules) in API_PAGES.items():
        with mkdocs_gen_files.open(f"api/{page}.md", "w") as f:
            f.write(f"# {title}\n\n")
            if page == "index":
                f.write("`import efficacy as ef` gives every documented function at the top "
                        "(`ef.cronbach_alpha`, `ef.cfa`, `ef.mediate`, ...); the pages below document them "
                        "module by module.\n\n")
                for other, (t, _) in API_PAGES.items():
                    if other != "index":
                        f.write(f"- [{t}]({other}.md)\n")
                f.write("\n")
                continue
            for m in _existing_modules(modules):
                f.write(f"::: {m}\n    options:\n      heading_level: 2\n\n")


# --------------------------------------------------------------------------- codebook and config reference
def _examples():
    """key path -> an example value from the bundled codebooks."""
    found = {}

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
                found.setdefault(f"{path}.{k}" if path else str(k), v)
        elif isinstance(node, list) and node:
            walk(node[0], path + "[]")
            found.setdefault(path + "[]", node[0])

    for cb in sorted((ROOT / "data" / "raw").glob("*/codebook.yaml")):
        walk(yaml.safe_load(cb.read_text(encoding="utf-8")), "")
    return found


def _generic(path):
    """Collapse map keys that are names (variables.se1 -> variables.<name>) for example lookup."""
    return re.sub(r"\.<[^>]+>", ".*", path)


def _schema_rows(schema, path="", rows=None):
    rows = [] if rows is None else rows
    props = schema.get("properties", {})
    for key, sub in props.items():
        p = f"{path}.{key}" if path else key
        rows.append((p, sub))
        _schema_rows(sub, p, rows)
        if isinstance(sub.get("additionalProperties"), dict):
            ap = sub["additionalProperties"]
            rows.append((f"{p}.<name>", ap))
            _schema_rows(ap, f"{p}.<name>", rows)
        if isinstance(sub.get("items"), dict):
            rows.append((f"{p}[]", sub["items"])) if sub["items"].get("properties") else None
            _schema_rows(sub["items"], f"{p}[]", rows)
    return rows


def _type(sub):
    if "enum" in sub:
        return "one of " + ", ".join(f"`{v}`" for v in sub["enum"])
    t = sub.get("type", "")
    return " or ".join(t) if isinstance(t, list) else str(t)


def _cell(x):
    return str(x).replace("|", "\\|").replace("\n", " ")


def _example_for(path, examples):
    if path in examples:
        return examples[path]
    pat = re.compile("^" + re.escape(_generic(path)).replace(r"\*", "[^.]+") + "$")
    for k, v in examples.items():
        if pat.match(k):
            return v
    return None


def _fmt_example(v):
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        text = yaml.safe_dump(v, default_flow_style=True, sort_keys=False).strip()
    else:
        text = str(v)
    return f"`{_cell(text[:60] + ('...' if len(text) > 60 else ''))}`"


def reference_pages():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "codebook.schema.yaml").read_text(encoding="utf-8"))
    examples = _examples()
    with mkdocs_gen_files.open("reference/codebook.md", "w") as f:
        f.write("# Codebook reference\n\n")
        f.write(_cell(schema.get("description", "")) + "\n\n")
        f.write("Generated from `workflow/schemas/codebook.schema.yaml` (the schema every codebook is validated "
                "against); the example column shows a value from one of the bundled studies' codebooks "
                "(`data/raw/*/codebook.yaml`). `efficacy new-study NAME` scaffolds a commented codebook.\n\n")
        f.write("| key | type | default | description | example |\n|---|---|---|---|---|\n")
        for path, sub in _schema_rows(schema):
            default = f"`{_cell(sub['default'])}`" if "default" in sub else ""
            f.write(f"| `{path}` | {_cell(_type(sub))} | {default} | {_cell(sub.get('description', ''))} | "
                    f"{_fmt_example(_example_for(path, examples))} |\n")
    cschema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    with mkdocs_gen_files.open("reference/configuration.md", "w") as f:
        readme = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
        f.write(readme.replace("](../", "](https://github.com/efficacy-project/efficacy/blob/main/") + "\n\n")
        f.write("## Every key of the config schema\n\nGenerated from `workflow/schemas/config.schema.yaml`; "
                "the example is the value in `config/config.yaml`.\n\n")
        f.write("| key | type | default | description | example |\n|---|---|---|---|---|\n")
        flat = {}

        def walk(node, path):
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, f"{path}.{k}" if path else str(k))
            flat[path] = node

        walk(config, "")
        for path, sub in _schema_rows(cschema):
            default = f"`{_cell(sub['default'])}`" if "default" in sub and not isinstance(sub["default"], dict) else ""
            f.write(f"| `{path}` | {_cell(_type(sub))} | {default} | {_cell(sub.get('description', ''))} | "
                    f"{_fmt_example(flat.get(path))} |\n")


# --------------------------------------------------------------------------- validation
def _junit():
    path = ROOT / "reports" / "junit.xml"
    if not path.is_file():
        return None
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        f = (case.get("file") or case.get("classname", "").replace(".", "/") + ".py").split("/")[-1]
        ok = not any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        p, n, s = out.get(f, (0, 0, 0))
        out[f] = (p + (ok and not skipped), n + (not ok), s + skipped)
    return out


def _tolerances(test_file):
    text = (ROOT / "tests" / test_file).read_text(encoding="utf-8") if (ROOT / "tests" / test_file).is_file() else ""
    tols = sorted(set(re.findall(r"\b(?:rtol|atol|abs|rel)\s*=\s*([0-9.eE+-]+)", text)), key=lambda x: float(x))
    return ", ".join(tols)


def validation_page():
    readme = (ROOT / "tests" / "reference" / "README.md").read_text(encoding="utf-8")
    junit = _junit()
    readme = readme.replace("# Reference fixtures", "# Validation against R and published tables", 1)
    with mkdocs_gen_files.open("validation.md", "w") as f:
        f.write(readme + "\n\n## Tolerances and results per test file\n\n")
        f.write("Tolerances are the `rtol`/`atol`/`abs`/`rel` values written in each test file (each test states "
                "which comparison uses which, and Monte Carlo tolerances are derived in the test from the Monte "
                "Carlo error). ")
        if junit is None:
            f.write("No test results are recorded in this build (`make test` writes `reports/junit.xml`; "
                    "`make docs` after it fills the result column).\n\n")
        else:
            f.write("Results are those of the last `make test` run of this checkout (`reports/junit.xml`).\n\n")
        f.write("| test file | fixtures it reads | tolerances | result |\n|---|---|---|---|\n")
        files = sorted({t.strip(" `") for line in readme.splitlines() if line.startswith("| `")
                        for t in line.rstrip("|").split("|")[-1].split(",") if t.strip(" `").endswith(".py")})
        for tf in files:
            fixtures = sorted({line.split("|")[1].strip() for line in readme.splitlines()
                               if line.startswith("| `") and tf in line.rstrip("|").split("|")[-1]})
            res = ""
            if junit is not None:
                p, n, s = junit.get(tf, (0, 0, 0))
                res = f"{p} passed, {n} failed" + (f", {s} skipped" if s else "")
            f.write(f"| `{tf}` | {' '.join(fixtures)} | {_tolerances(tf)} | {res} |\n")


# --------------------------------------------------------------------------- gallery, notebooks, contributing
def gallery_page():
    captions = ROOT / "workflow" / "report"
    with mkdocs_gen_files.open("gallery.md", "w") as f:
        f.write("# Figure gallery\n\nEvery figure of the bundled run (`make run`), with the caption the Snakemake "
                "report gives it.\n\n")
        pngs = sorted(RESULTS.glob("*/figures/*.png")) + sorted(RESULTS.glob("meta/*/figures/*.png")) \
            if RESULTS.is_dir() else []
        if not pngs:
            f.write("!!! note\n    No results in this build: run `make run` (or `make docs`, which runs it first) "
                    "to draw the figures of the bundled studies.\n")
            return
        seen = set()
        for png in pngs:
            rel = png.relative_to(RESULTS)
            group = rel.parts[0] if rel.parts[0] != "meta" else f"meta-analysis {rel.parts[1]}"
            if group not in seen:
                f.write(f"\n## {group}\n\n")
                seen.add(group)
            kind = png.stem.split("_")[0] if png.stem.startswith("invariance_") else png.stem
            cap = captions / f"fig_{kind}.rst"
            text = " ".join(cap.read_text(encoding="utf-8").split()) if cap.is_file() else ""
            text = text.replace("[", "\\[").replace("]", "\\]").replace("``", "`")  # rst -> markdown
            target = f"gallery/{rel.as_posix()}"
            with mkdocs_gen_files.open(target, "wb") as out:
                out.write(png.read_bytes())
            f.write(f"![{png.stem}]({target})\n\n*{png.stem}*: {_cell(text)}\n\n")


def notebooks():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        with mkdocs_gen_files.open(f"notebooks/{nb.name}", "w") as f:
            f.write(nb.read_text(encoding="utf-8"))


def contributing():
    src = ROOT / "CONTRIBUTING.md"
    with mkdocs_gen_files.open("contributing.md", "w") as f:
        f.write(src.read_text(encoding="utf-8") if src.is_file() else "# Contributing\n\nSee the README.\n")


api_pages()
reference_pages()
validation_page()
gallery_page()
notebooks()
contributing()
