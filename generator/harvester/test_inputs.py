"""Tests of the input plan's rule tables on recorded cases (`input_cases.json`).

Run with the other rule tests: `.venv/bin/python -m unittest discover -s generator/harvester -p
'test_*.py'`. Every row of `inputs.COMPANIONS` and `inputs.INPUT_RULES` has a case, a stand-in
model and config (`fakes.py`): a companion row's case lists the inputs the plan wants with the row
and not without it; an input rule's case names the input the row builds and its spec, built by
that row and not without it.
"""

from __future__ import annotations

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE]

import inputs  # noqa: E402
from fakes import FakeConfig, FakeModel  # noqa: E402

CASES = json.load(open(os.path.join(HERE, "input_cases.json")))


def stand_in(model: str) -> tuple:
    """A case's stand-in model, config and plan options."""
    setup = CASES["models"][model]
    options = inputs.PlanOptions(**setup.get("options", {}))
    return FakeModel(setup["params"], setup.get("main")), FakeConfig(setup.get("config")), options


def plan_of(model: str) -> tuple[dict, list[dict]]:
    """The plan of a case's stand-in model."""
    return inputs.plan(*stand_in(model))


def planned_of(model: str) -> inputs.Plan:
    """The plan of a case's stand-in model before any input is built."""
    return inputs.planned(*stand_in(model))


def assert_rows_and_cases(test: unittest.TestCase, table: list, cases: list[dict]) -> None:
    """Every row of `table` has a case in `cases` and every case a row; row names are unique."""
    rows = [row.name for row in table]
    test.assertEqual(len(rows), len(set(rows)), "row names are unique")
    test.assertEqual(sorted(rows), sorted(case["row"] for case in cases))


def without(table: list, name: str):
    """A context in which `table` lacks the row called `name`."""

    class Without:
        def __enter__(self):
            self.saved = table[:]
            table[:] = [row for row in table if row.name != name]

        def __exit__(self, *exc):
            table[:] = self.saved

    return Without()


def wanted(model: str) -> list[str]:
    return [spec["name"] for spec in plan_of(model)[1]]


class Companions(unittest.TestCase):
    def test_every_row_has_a_case_and_every_case_a_row(self):
        assert_rows_and_cases(self, inputs.COMPANIONS, CASES["companions"])

    def test_each_row_adds_its_inputs_and_only_it(self):
        for case in CASES["companions"]:
            with self.subTest(row=case["row"]):
                self.assertTrue(case["adds"], "a case shows the row adding something")
                with_row = wanted(case["model"])
                for name in case["adds"]:
                    self.assertIn(name, with_row)
                with without(inputs.COMPANIONS, case["row"]):
                    try:
                        without_row = wanted(case["model"])
                    except inputs.UnknownInput:
                        continue
                for name in case["adds"]:
                    self.assertNotIn(name, without_row, f"{name} is wanted without the row {case['row']}")


class InputRules(unittest.TestCase):
    def test_every_row_has_a_case_and_every_case_a_row(self):
        assert_rows_and_cases(self, inputs.INPUT_RULES, CASES["inputs"])

    def test_each_case_is_built_by_its_row_and_not_without_it(self):
        for case in CASES["inputs"]:
            with self.subTest(row=case["row"]):
                row = inputs.rule_for(planned_of(case["model"]), case["input"])
                self.assertEqual(row.name if row else None, case["row"])
                specs = {spec["name"]: spec for spec in plan_of(case["model"])[1]}
                self.assertEqual(specs[case["input"]], case["expect"])
                with without(inputs.INPUT_RULES, case["row"]):
                    try:
                        other = {spec["name"]: spec for spec in plan_of(case["model"])[1]}.get(case["input"])
                    except inputs.UnknownInput:
                        other = None
                self.assertNotEqual(other, case["expect"], f"{case['input']} is built the same without the row")

    def test_an_input_no_row_builds_is_named_in_the_error(self):
        model = FakeModel(["input_ids", "segment_plan"])
        with self.assertRaisesRegex(inputs.UnknownInput, "`segment_plan`"):
            inputs.plan(model, FakeConfig({"vocab_size": 50}))


if __name__ == "__main__":
    unittest.main()
