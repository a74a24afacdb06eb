"""MkDocs hook: render the measured-results page from the benchmarks' JSON target lines.

Every ``benchmarks/bench_*.py`` script gets one section on the page that contains the marker
``<!-- benchmark-results -->`` (a page may instead show one benchmark's section with
``<!-- benchmark-results: bench_name -->``): a table of its target lines (target, value, goal, met, details)
read with ``benchmarks/targets.py``'s ``load`` from ``benchmarks/results/<name>.json``, or a
sentence saying that no full run has written that file yet.  Nothing on the page is typed by
hand, so a figure cannot go stale: rerun the benchmark and rebuild.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
MARKER = "<!-- benchmark-results -->"
ONE = re.compile(r"<!-- benchmark-results: (bench_\w+) -->")


def _targets_module():
    """``benchmarks/targets.py`` loaded by path (``benchmarks/`` is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmark_targets", BENCHMARKS / "targets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(value) -> str:
    """One table cell: plain text, ``|`` escaped, containers as compact JSON."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(", ", ": "))
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(script: Path) -> str:
    """The first paragraph of a benchmark script's docstring (what it measures), on one line."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def render(benchmarks: Path = BENCHMARKS, only: str | None = None) -> str:
    """The markdown of every benchmark's section (or of benchmark ``only``), in file-name order."""
    load = _targets_module().load
    out = []
    for script in sorted(benchmarks.glob("bench_*.py" if only is None else f"{only}.py")):
        name = script.stem
        out.append(f"## `{name}`\n")
        summary = _summary(script)
        if summary:
            out.append(f"{summary}\n")
        lines = load(name, benchmarks / "results")
        if not lines:
            out.append(f"No results file yet: `benchmarks/results/{name}.json` is written by a full run of "
                       f"`python benchmarks/{name}.py`.\n")
            continue
        met = sum(bool(t.get("met")) for t in lines)
        out.append(f"{met} of {len(lines)} targets met (from `benchmarks/results/{name}.json`).\n")
        out.append("| target | value | goal | met | details |")
        out.append("|---|---|---|---|---|")
        for t in lines:
            extra = {k: v for k, v in t.items() if k not in ("target", "value", "goal", "met")}
            details = "; ".join(f"{k}: {_cell(v)}" for k, v in extra.items())
            out.append(f"| `{_cell(t.get('target'))}` | {_cell(t.get('value'))} | {_cell(t.get('goal'))} "
                       f"| {_cell(t.get('met'))} | {details} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """MkDocs event: replace the marker with the rendered results."""
    markdown = ONE.sub(lambda m: render(only=m.group(1)), markdown)
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def on_serve(server, config, builder):
    """MkDocs event: ``mkdocs serve`` rebuilds when a benchmark writes new results."""
    server.watch(str(BENCHMARKS / "results"))
    return server
