import json

import pytest

from growth.errors import ScheduleError
from growth.schedules import (GrowthEvent, Schedule, all_at_once, evenly_spaced, layer_by_layer,
                              random_path, round_robin)


def _sched():
    return Schedule((10, 10), [(30, 1, 9), (10, 0, 9), (20, 0, 5)], (100, 100))


def test_events_sorted_and_sizes():
    s = _sched()
    assert [e.step for e in s.events] == [10, 20, 30]
    assert s.final_sizes() == [24, 19] and s.order() == [0, 0, 1]
    assert s.at(20) == [GrowthEvent(20, 0, 5)] and s.at(21) == []


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_round_trip_text_and_file(fmt, tmp_path):
    s = _sched()
    text = s.to_toml() if fmt == "toml" else s.to_json()
    back = Schedule.from_toml(text) if fmt == "toml" else Schedule.from_json(text)
    assert back == s
    path = tmp_path / f"s.{fmt}"
    s.save(path)
    assert Schedule.load(path) == s


def test_round_trip_without_target():
    s = Schedule((3,), [(0, 0, 2)])
    assert Schedule.from_toml(s.to_toml()) == s and Schedule.from_json(s.to_json()) == s


@pytest.mark.parametrize("events,match", [
    ([(0, 2, 1)], "unknown layer 2"),
    ([(0, -1, 1)], "unknown layer -1"),
    ([(0, 0, 0)], "k = 0"),
    ([(0, 0, -3)], "k = -3"),
    ([(-1, 0, 1)], "negative"),
    ([(0, 0, 1.5)], "integer"),
    ([(0, 0, 60), (5, 0, 31)], "past its target size 100"),
])
def test_invalid_schedules_raise(events, match):
    with pytest.raises(ScheduleError, match=match):
        Schedule((10, 10), events, (100, 100))


def test_invalid_files_raise(tmp_path):
    with pytest.raises(ScheduleError, match="malformed"):
        Schedule.from_toml("initial = [1\n")
    with pytest.raises(ScheduleError, match="exactly the keys"):
        Schedule.from_json(json.dumps({"initial": [2], "event": [{"step": 0, "layer": 0}]}))
    with pytest.raises(ScheduleError, match="unknown schedule keys"):
        Schedule.from_json(json.dumps({"initial": [2], "events": []}))
    bad = tmp_path / "s.toml"
    bad.write_text('initial = [10]\ntarget = [12]\n[[event]]\nstep = 0\nlayer = 0\nk = 5\n')
    with pytest.raises(ScheduleError, match="s.toml.*past its target"):
        Schedule.load(bad)
    with pytest.raises(ScheduleError, match=r"\.toml or \.json"):
        Schedule.load(tmp_path / "s.yaml")


def test_generators_reach_target_with_expected_orders():
    init, tgt = (10, 10), (100, 100)
    steps = evenly_spaced(20, 900)
    assert steps[0] == 42 and steps[-1] == 857 and steps == sorted(steps)
    first = layer_by_layer(init, tgt, 9, 900)
    second = layer_by_layer(init, tgt, 9, 900, order=(1, 0))
    alt = round_robin(init, tgt, 9, 900)
    rnd = random_path(init, tgt, 9, 900, seed=3)
    for s in (first, second, alt, rnd):
        assert s.final_sizes() == [100, 100] and len(s.events) == 20
        assert [e.step for e in s.events] == steps and all(e.k == 9 for e in s.events)
    assert first.order() == [0] * 10 + [1] * 10 and second.order() == [1] * 10 + [0] * 10
    assert alt.order() == [0, 1] * 10
    assert sorted(rnd.order()) == [0] * 10 + [1] * 10
    assert random_path(init, tgt, 9, 900, seed=3) == rnd and random_path(init, tgt, 9, 900, seed=4) != rnd
    once = all_at_once(init, tgt, step=7)
    assert once.events == [GrowthEvent(7, 0, 90), GrowthEvent(7, 1, 90)]


def test_generator_remainder_and_bad_args():
    s = round_robin((2, 5), (7, 6), 3, [1, 2, 3])
    assert s.order() == [0, 1, 0] and [e.k for e in s.events] == [3, 1, 2]
    with pytest.raises(ScheduleError, match="need 3 steps"):
        round_robin((2, 5), (7, 6), 3, [1, 2])
    with pytest.raises(ScheduleError, match="below its initial"):
        layer_by_layer((5,), (4,), 1, 10)
    with pytest.raises(ScheduleError, match="permutation"):
        layer_by_layer((1, 1), (2, 2), 1, 10, order=(0, 0))
