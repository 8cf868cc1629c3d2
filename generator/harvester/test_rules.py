"""Tests of the harvester's rule tables on recorded error text (`rule_cases.json`).

Run: `.venv/bin/python -m unittest discover -s generator/harvester -p 'test_*.py'` (the
generator's test `harvester_rules_pass_their_recorded_cases` runs it). Every row of `retry_rules.RULES` and
`repair.REPAIRS` has a case; each case's proposal appears with the full table and is gone
without its row, so a row removed from a table fails its cases.
"""

from __future__ import annotations

import json
import os
import sys
import unittest
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "runtime", "exporter")]

import inputs  # noqa: E402
import retry_rules  # noqa: E402

CASES = json.load(open(os.path.join(HERE, "rule_cases.json")))


def fake_config(values: dict | None) -> SimpleNamespace:
    """A config object with the given attributes (nested `*_config` dicts become configs)."""
    values = dict(values or {})
    config = SimpleNamespace(**{k: fake_config(v) if k.endswith("_config") else v for k, v in values.items()})
    text = getattr(config, "text_config", None)
    config.get_text_config = lambda: text or config
    return config


def seen(case: dict) -> retry_rules.Seen:
    names = case["names"]
    specs = case.get("specs") or [{"name": n, "shape": ["batch", "seq"]} for n in names]
    specs = specs + [{"name": n, "shape": ["batch", "seq"]} for n in names if n not in {s["name"] for s in specs}]
    options = dict(case.get("options", {}))
    return retry_rules.Seen(text=case["error"], names=names, options=options, dims=case.get("dims") or json.loads(json.dumps(inputs.TEXT_DIMS)), specs=specs, params=set(case.get("params", names)), config=fake_config(case.get("config")))


def proposed(case: dict, rules: list) -> list:
    saved = retry_rules.RULES[:]
    retry_rules.RULES[:] = rules
    try:
        return retry_rules.propose(seen(case))
    finally:
        retry_rules.RULES[:] = saved


def wanted(case: dict) -> tuple:
    expect = {k: tuple(v) if k == "extra" else v for k, v in case["expect"].items()}
    return case["at_front"], dict(case.get("options", {}), **expect)


class RetryRules(unittest.TestCase):
    def test_every_row_has_a_case_and_every_case_a_row(self):
        rows = {r.name for r in retry_rules.RULES}
        self.assertEqual(len(rows), len(retry_rules.RULES), "rule names are unique")
        cased = {c["rule"] for c in CASES["retry"]}
        self.assertEqual(rows - cased, set(), "rows without a recorded case in rule_cases.json")
        self.assertEqual(cased - rows, set(), "cases whose row is not in retry_rules.RULES")

    def test_each_case_is_proposed_by_its_row_and_only_with_it(self):
        for case in CASES["retry"]:
            with self.subTest(rule=case["rule"], error=case["error"][:60]):
                want = wanted(case)
                self.assertIn(want, proposed(case, retry_rules.RULES))
                without = [r for r in retry_rules.RULES if r.name != case["rule"]]
                self.assertNotIn(want, proposed(case, without), "another row proposes the same plan: the case does not test its row")

    def test_queue_keeps_the_order_the_rules_asked_for(self):
        attempts = [{"x": 0}]
        retry_rules.queue([(True, {"a": 1}), (True, {"b": 2}), (False, {"c": 3})], attempts)
        self.assertEqual(attempts, [{"b": 2}, {"a": 1}, {"x": 0}, {"c": 3}])

    def test_plan_takes_one_options_value_and_refuses_unknown_options(self):
        self.assertEqual(inputs.PlanOptions().features_layout, "mel_first")
        with self.assertRaises(TypeError):
            inputs.PlanOptions(no_such_option=True)


class Repairs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import repair  # imports transformers (a few seconds)

        cls.repair = repair

    def test_every_row_has_a_case_and_every_case_a_row(self):
        rows = {r.name for r in self.repair.REPAIRS}
        cased = {c["repair"] for c in CASES["repairs"]}
        self.assertEqual(rows - cased, set(), "repairs without a recorded case in rule_cases.json")
        self.assertEqual(cased - rows, set(), "cases whose repair is not in repair.REPAIRS")

    def test_each_case_is_repaired_by_its_row_and_only_with_it(self):
        for case in CASES["repairs"]:
            with self.subTest(repair=case["repair"]):
                self.assertTrue(self.repair.repairable(case["error"]))
                fixed = self.repair.repair(case["error"], {}, case["defaults"], case.get("config_class"))
                self.assertIsNotNone(fixed)
                if "expect_mrope_sum" in case:
                    self.assertEqual(sum(fixed["rope_parameters"]["mrope_section"]), case["expect_mrope_sum"])
                else:
                    self.assertEqual(fixed, case["expect"])
                saved = self.repair.REPAIRS[:]
                self.repair.REPAIRS[:] = [r for r in saved if r.name != case["repair"]]
                try:
                    self.assertIsNone(self.repair.repair(case["error"], {}, case["defaults"], case.get("config_class")))
                finally:
                    self.repair.REPAIRS[:] = saved


if __name__ == "__main__":
    unittest.main()
