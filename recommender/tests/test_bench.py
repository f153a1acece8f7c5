"""The offline recommender holds its figures on the bench's cases (bench/recommender_eval.py)."""

import pytest

from bench.recommender_cases import CASES
from bench.recommender_eval import RECOMMENDERS, evaluate

pytestmark = pytest.mark.django_db


def test_the_bench_has_at_least_150_cases_of_every_sort():
    assert len(CASES) >= 150
    assert sum(bool(case.settings) for case in CASES) >= 40
    assert sum(bool(case.history) for case in CASES) >= 15
    assert sum(case.result_in_chat for case in CASES) >= 5
    assert sum(bool(case.rejected) for case in CASES) >= 3


def test_the_offline_recommender_meets_its_targets(seed_catalogue):
    figures = evaluate(RECOMMENDERS["offline"])

    assert figures.hit_rate >= 0.90
    assert figures.mode_accuracy >= 0.95
    assert figures.parameter_accuracy >= 0.90
    untrue = [(row.case.text, row.notes) for row in figures.rows if row.reasons_true < row.reasons]
    assert figures.true_reason_rate == 1.0, untrue
