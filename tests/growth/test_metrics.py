import numpy as np
import pytest

from growth.errors import GrowthError
from growth.metrics import (average_accuracy, backward_transfer, forgetting, forward_transfer, pareto_mask,
                            summarize, task_curves)

# R[i, j]: accuracy on task j after training task i (rows: after task 0, 1, 2)
R = np.array([[0.9, 0.3, 0.2],
              [0.7, 0.8, 0.4],
              [0.6, 0.9, 0.7]])
B = np.array([0.1, 0.25, 0.3])


def test_average_accuracy():
    assert average_accuracy(R) == pytest.approx((0.6 + 0.9 + 0.7) / 3)


def test_backward_transfer_by_hand():
    # task 0: 0.6 - 0.9 = -0.3 ; task 1: 0.9 - 0.8 = +0.1  -> mean -0.1
    assert backward_transfer(R) == pytest.approx(-0.1)


def test_forward_transfer_by_hand():
    # task 1: R[0,1] - b1 = 0.3 - 0.25 ; task 2: R[1,2] - b2 = 0.4 - 0.3 -> mean 0.075
    assert forward_transfer(R, B) == pytest.approx(0.075)


def test_forgetting_max_and_first():
    # max: task0 max(0.9, 0.7) - 0.6 = 0.3 ; task1 max(0.8) - 0.9 = -0.1 -> 0.1
    assert forgetting(R) == pytest.approx(0.1)
    R2 = R.copy()
    R2[1, 0] = 0.95  # best accuracy on task 0 came after task 1
    assert forgetting(R2) == pytest.approx(((0.95 - 0.6) + (0.8 - 0.9)) / 2)
    assert forgetting(R2, reference="first") == pytest.approx(((0.9 - 0.6) + (0.8 - 0.9)) / 2)


def test_no_forgetting_and_single_task():
    eye = np.tril(np.ones((4, 4)))  # every learned task stays at 100%
    assert backward_transfer(eye) == 0.0 and forgetting(eye) == 0.0
    assert average_accuracy([[0.5]]) == 0.5 and backward_transfer([[0.5]]) == 0.0


def test_curves_and_summary():
    assert task_curves(R)[0] == [0.9, 0.7, 0.6] and task_curves(R)[2] == [0.7]
    rep = summarize(R, B)
    assert rep.acc == pytest.approx(average_accuracy(R)) and rep.fwt == pytest.approx(0.075)
    assert rep.to_dict()["matrix"][2][1] == 0.9


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.ones(3), [[np.nan]]])
def test_bad_matrices_raise(bad):
    with pytest.raises(GrowthError):
        average_accuracy(bad)


def test_fwt_needs_one_baseline_per_task():
    with pytest.raises(GrowthError, match="one baseline"):
        forward_transfer(R, [0.1, 0.2])


def test_pareto_mask():
    acc = [0.9, 0.95, 0.85, 0.95, 0.9]
    energy = [100.0, 200.0, 150.0, 250.0, 100.0]
    assert np.flatnonzero(pareto_mask(energy, acc)).tolist() == [0, 1, 4]   # equal points both stay
    assert pareto_mask([1.0, 2.0, 3.0, 2.5, 4.0], [0.5, 0.7, 0.9, 0.6, 0.9]).tolist() == [True, True, True, False, False]
    assert pareto_mask([], []).tolist() == [] and pareto_mask([1.0], [1.0]).tolist() == [True]
    with pytest.raises(GrowthError, match="equal length"):
        pareto_mask([1, 2], [1])


def test_hypervolume_on_hand_computed_fronts():
    from growth.metrics import hypervolume
    # one point (2, 0.8) against ref (10, 0.0): (10 - 2) x 0.8
    assert hypervolume([2.0], [0.8], 10.0, 0.0) == pytest.approx(6.4)
    # staircase (1, .5), (3, .7), (6, .9), ref (8, .4):
    # [1,3) x .1 + [3,6) x .3 + [6,8) x .5 = .2 + .9 + 1.0
    assert hypervolume([6.0, 1.0, 3.0], [0.9, 0.5, 0.7], 8.0, 0.4) == pytest.approx(2.1)
    # a dominated point and points beyond the reference change nothing
    assert hypervolume([6.0, 1.0, 3.0, 4.0, 9.0, 0.5], [0.9, 0.5, 0.7, 0.6, 1.0, 0.3], 8.0, 0.4) == pytest.approx(2.1)
    assert hypervolume([], [], 1.0, 0.0) == 0.0
    with pytest.raises(GrowthError, match="finite"):
        hypervolume([1.0], [np.nan], 2.0, 0.0)


def test_paired_p_value():
    from growth.metrics import paired_p_value
    from scipy.stats import ttest_rel
    x, y = [0.9, 0.8, 0.85, 0.95, 0.7], [0.8, 0.81, 0.7, 0.9, 0.65]
    assert paired_p_value(x, y) == pytest.approx(ttest_rel(x, y).pvalue)
    assert paired_p_value(x, x) == 1.0
    with pytest.raises(GrowthError, match="length >= 2"):
        paired_p_value([1.0], [2.0])
