"""`mosaic noc` (synthetic traffic on the network-on-chip) and its plot."""
from __future__ import annotations

import json

import pytest

from mosaic.figures import PlotError
from mosaic_grow.cli import main
from mosaic_grow.plots import noc_curves


def call(capsys, *args):
    capsys.readouterr()
    try:
        rc = main(list(args))
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_noc_curves_table_json_and_plot(capsys, tmp_path):
    png, out = tmp_path / "noc.png", tmp_path / "curves.json"
    rc, text, err = call(capsys, "noc", "--preset", "mosaic-4x4", "--quick", "--patterns", "uniform,neighbor",
                         "--depths", "2,8", "--plot", str(png), "--out", str(out), "--no-progress")
    assert rc == 0, err
    assert "saturation" in text and "mosaic-4x4-b1-d2" in text and "mesh-4x4-b1-d8" in text
    curves = json.loads(out.read_text())
    assert {(c["topology"], c["buffer_depth"], c["pattern"]) for c in curves} == \
        {(t, d, p) for t in ("mosaic", "mesh") for d in (2, 8) for p in ("uniform", "neighbor")}
    for c in curves:
        assert c["conserved"] and 0 < c["saturation"] <= 1
        assert c["bisection_bound"] == pytest.approx(1.25 if c["topology"] == "mosaic" else 1.0)
    deep = {c["topology"]: c["saturation"] for c in curves if c["pattern"] == "uniform" and c["buffer_depth"] == 8}
    shallow = {c["topology"]: c["saturation"] for c in curves if c["pattern"] == "uniform" and c["buffer_depth"] == 2}
    assert all(shallow[t] < deep[t] for t in deep), "deeper buffers saturate later"
    assert png.stat().st_size > 1000
    rc, text, err = call(capsys, "noc", "--preset", "mesh-8x8", "--topologies", "mesh", "--quick",
                         "--patterns", "transpose", "--json", "--no-progress")
    assert rc == 0, err
    doc = json.loads(text)
    assert [c["pattern"] for c in doc["curves"]] == ["transpose"]


@pytest.mark.parametrize("args,msg", [(["--patterns", "zigzag"], "unknown traffic pattern"),
                                      (["--hotspot-share", "1.5"], "hotspot_share"),
                                      (["--topologies", "torus"], "topology"),
                                      (["--depths", "0"], "--depths"),
                                      (["--plot", "/no/such/dir/x.png"], "does not exist")])
def test_noc_bad_input_is_one_line(capsys, args, msg):
    rc, _, err = call(capsys, "noc", "--preset", "mosaic-4x4", "--quick", *args)
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1


def test_noc_plot_refuses_no_curves():
    with pytest.raises(PlotError, match="no noc curves"):
        noc_curves([])
    with pytest.raises(PlotError, match="characterise"):
        noc_curves([{"pattern": "uniform"}])
