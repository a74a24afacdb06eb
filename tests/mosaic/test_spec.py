import dataclasses

import pytest

from mosaic import HardwareSpec, SpecError

PRESETS = ["loihi-like", "mesh-8x8", "mosaic-16x16", "mosaic-32x32-scaled", "mosaic-4x4", "mosaic-8x8"]


def test_presets_listed_and_loadable():
    assert HardwareSpec.presets() == PRESETS
    for name in PRESETS:
        spec = HardwareSpec.preset(name)
        assert spec.name == name
        assert spec.n_slots == spec.rows * spec.cols * spec.neurons_per_core


def test_mosaic_presets_use_32_neurons_per_tile():
    for name in ("mosaic-4x4", "mosaic-8x8", "mosaic-16x16"):
        spec = HardwareSpec.preset(name)
        assert spec.neurons_per_core == 32 and spec.topology == "mosaic"
    assert HardwareSpec.preset("mesh-8x8").topology == "mesh"


def test_every_preset_number_cites_a_source_or_says_assumption():
    from importlib import resources
    sources = ("assumption", "Dalgaty", "SANA-FE", "Davies", "SENECA", "mosaic-8x8", "one router per core")
    for name in PRESETS:
        lines = (resources.files("mosaic") / "presets" / f"{name}.toml").read_text().splitlines()
        for line in lines:
            code, _, comment = line.partition("#")
            key = code.split("=")[0].strip()
            if "=" not in code or key in ("name", "description"):
                continue
            assert comment.strip(), f"{name}: {key} has no source comment"
            assert any(s in comment for s in sources) or key == "topology", f"{name}: {key}: {comment!r}"


def test_toml_round_trip(tmp_path):
    spec = HardwareSpec.preset("mosaic-8x8").replace(bandwidth=3, buffer_depth=2)
    p = tmp_path / "chip.toml"
    p.write_text(spec.to_toml())
    assert HardwareSpec.from_toml(p) == spec


def test_unknown_preset_names_the_choices():
    with pytest.raises(SpecError, match="unknown preset 'mosaic-9x9'.*mosaic-8x8"):
        HardwareSpec.preset("mosaic-9x9")


def test_malformed_toml_names_the_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[grid]\nrows = = 4\n")
    with pytest.raises(SpecError, match="broken.toml.*malformed TOML"):
        HardwareSpec.from_toml(p)


def test_unknown_key_names_file_and_key(tmp_path):
    p = tmp_path / "typo.toml"
    p.write_text("[grid]\nrows = 2\ncols = 2\nneurons_per_core = 4\n[router]\nbandwith = 2\n")
    with pytest.raises(SpecError, match=r"typo.toml.*router\.bandwith"):
        HardwareSpec.from_toml(p)


def test_missing_key_names_it(tmp_path):
    p = tmp_path / "short.toml"
    p.write_text("[grid]\nrows = 2\n")
    with pytest.raises(SpecError, match=r"grid\.cols"):
        HardwareSpec.from_toml(p)


@pytest.mark.parametrize("field, value", [("bandwidth", -1), ("bandwidth", 0), ("buffer_depth", 1.5),
                                          ("rows", 0), ("e_router_pj", float("nan")), ("clock_mhz", 0),
                                          ("topology", "torus"), ("io_core", 64)])
def test_bad_values_are_named(field, value):
    with pytest.raises(SpecError, match=field if field != "io_core" else "io_core 64"):
        HardwareSpec.preset("mosaic-8x8").replace(**{field: value})


def test_negative_bandwidth_in_file(tmp_path):
    p = tmp_path / "neg.toml"
    p.write_text("[grid]\nrows = 2\ncols = 2\nneurons_per_core = 4\n[router]\nbandwidth = -2\n")
    with pytest.raises(SpecError, match="neg.toml.*bandwidth must be a positive integer, got -2"):
        HardwareSpec.from_toml(p)


def test_replace_rejects_unknown_field():
    with pytest.raises(SpecError, match="unknown HardwareSpec field"):
        HardwareSpec.preset("mosaic-4x4").replace(cores=3)


def test_spec_is_frozen():
    spec = HardwareSpec.preset("mosaic-4x4")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.rows = 5  # type: ignore[misc]
