"""The documentation builds strictly, and its results page shows every benchmark target line.

Runs the real ``mkdocs build --strict`` (Material theme, mkdocstrings reading the docstrings of
this checkout, the results hook reading ``benchmarks/results/*.json``) into a temporary folder.
"""
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUTSIDE = re.compile(r"DESIGN\.md|research-notes\.md|/work/")


def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for page in ["index", "design", "results", "packages/mosaic", "packages/mapper", "packages/models",
                 "packages/growth", "packages/mosaic_grow"]:
        assert (site / page / "index.html" if page != "index" else site / "index.html").is_file(), page

    results = html.unescape((site / "results" / "index.html").read_text())
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        assert f'id="{script.stem}"' in results, f"no section for {script.stem}"
        path = RESULTS / f"{script.stem}.json"
        if not path.exists():
            assert f"No results file yet: benchmarks/results/{script.stem}.json" in re.sub(r"<[^>]+>", "", results)
            continue
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            t = json.loads(line)
            row = re.search(rf"<tr>\s*<td><code>{re.escape(t['target'])}</code></td>(.*?)</tr>", results, re.S)
            assert row, f"no row for {script.stem}:{t['target']}"
            cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]
            value = "null" if t["value"] is None else ("yes" if t["value"] is True else "no" if t["value"] is False
                                                       else str(t["value"]))
            assert cells[0] == value and cells[1] == t["goal"] and cells[2] == ("yes" if t["met"] else "no"), cells


def test_docs_cite_nothing_outside_the_repository():
    files = [ROOT / "README.md", ROOT / "mkdocs.yml", *(ROOT / "docs").rglob("*.md")]
    for package in ["mosaic", "mapper", "models", "growth", "mosaic_grow", "tests", "benchmarks", "examples"]:
        files += (ROOT / package).rglob("*.py")
    files = [p for p in files if p.resolve() != Path(__file__).resolve()]    # this file names the patterns
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files for m in OUTSIDE.finditer(p.read_text())]
    assert hits == []
