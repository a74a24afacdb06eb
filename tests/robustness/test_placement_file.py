"""Placement files: core ids are whole numbers (a float or a boolean is refused, never
truncated), huge ids give a clean error, figures may be null (not computed) but not text."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic.generators import random_feedforward
from mosaic.placement import Placement, PlacementError
from mosaic.spec import HardwareSpec

SPEC = HardwareSpec.preset("mosaic-4x4")
NET = random_feedforward([4, 8, 4], seed=0)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(i=st.integers(0, 11), bad=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                                           st.integers(2**31, 2**80), st.integers(-2**80, -1), st.text(max_size=2),
                                           st.none(), st.lists(st.integers(0, 3), max_size=2)))
def test_a_bad_core_id_is_named(tmp_path, i, bad):
    doc = json.loads(Placement.fill(NET, SPEC).to_json())
    doc["core_of"][i] = bad
    (tmp_path / "p.json").write_text(json.dumps(doc))
    with pytest.raises(PlacementError, match=rf"core_of\[{i}\] = .* is not a core id"):
        Placement.from_json(tmp_path / "p.json")


def test_nan_objective_is_written_as_null_with_the_reason_and_read_back(tmp_path):
    p = Placement(np.zeros(12, np.int64))               # objective, bound, gap not computed: NaN
    text = p.to_json(tmp_path / "p.json")
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert doc["objective"] is None and "objective" in doc["null_reasons"]
    back = Placement.from_json(tmp_path / "p.json")
    assert np.isnan(back.objective) and np.array_equal(back.core_of, p.core_of)


@pytest.mark.parametrize("text, words", [("[1, 2]", "expected an object"), ('{"core_of": 3}', "must be a list"),
                                         ('{"core_of": [0], "objective": "low"}', "objective must be a number"),
                                         ('{"core_of": [0', "not a readable placement")])
def test_malformed_files(tmp_path, text, words):
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(PlacementError, match=words):
        Placement.from_json(tmp_path / "p.json")
