"""Tests of the one config-key classifier both shrinking rules use (`shrink.KEY_KINDS`).

Run with the other rule tests: `.venv/bin/python -m unittest discover -s generator/harvester -p
'test_*.py'`. Every row has a key of its kind; the first matching row wins; both rules
(`shrink.shrink_int`, `scale.scale_int`) follow the table, so a row removed changes both.
"""

from __future__ import annotations

import os
import sys
import unittest

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]

import scale  # noqa: E402
import shrink  # noqa: E402

# A real config key of each kind (from transformers' default configs).
EXAMPLES = {
    "vocab": "vocab_size",
    "groups": "num_groups",
    "token_id": "image_token_id",
    "experts": "num_local_experts",
    "experts_per_token": "num_experts_per_tok",
    "queries": "num_queries",
    "keypoints": "max_keypoints",
    "expert_width": "moe_intermediate_size",
    "kv_heads": "num_key_value_heads",
    "head_dim": "head_dim",
    "heads": "num_attention_heads",
    "layers": "num_hidden_layers",
    "kept": "max_position_embeddings",
    "size": "hidden_size",
}


class KeyKinds(unittest.TestCase):
    def test_every_row_has_an_example_of_its_kind(self):
        self.assertEqual([kind for kind, _, _ in shrink.KEY_KINDS], list(EXAMPLES))
        for kind, key in EXAMPLES.items():
            self.assertEqual(shrink.key_kind(key), kind, key)
        self.assertEqual(shrink.key_kind("use_cache"), "other")

    def test_the_first_row_that_matches_wins_and_an_exclusion_passes_the_key_on(self):
        # `moe_intermediate_size` is size-like too; expert widths come first.
        self.assertTrue(shrink.SIZE_LIKE.search("moe_intermediate_size"))
        self.assertEqual(shrink.key_kind("moe_intermediate_size"), "expert_width")
        # Codebook groups are groups a model cannot change: not `groups`.
        self.assertEqual(shrink.key_kind("num_codevector_groups"), "other")
        # A layer count that is also a kept key (`max_`) is kept.
        self.assertEqual(shrink.key_kind("max_window_layers"), "kept")

    def test_both_rules_follow_the_table(self):
        self.assertEqual(shrink.shrink_int("vocab_size", 50000, 768, 12, 12, 3072), shrink.VOCAB_NEW)
        self.assertEqual(scale.scale_int("vocab_size", 50000, 8, False), shrink.VOCAB_NEW)
        saved = shrink.KEY_KINDS[:]
        shrink.KEY_KINDS[:] = [row for row in saved if row[0] != "vocab"]
        try:
            self.assertEqual(shrink.shrink_int("vocab_size", 50000, 768, 12, 12, 3072), 50000)
            self.assertEqual(scale.scale_int("vocab_size", 50000, 8, False), 6250, "divided as a size")
        finally:
            shrink.KEY_KINDS[:] = saved

    def test_each_rule_gives_each_kind_its_own_value(self):
        hidden, heads, layers, ffn = 768, 12, 12, 3072
        cases = {  # kind: (value, shrink's, scale's with factor 8)
            "kv_heads": (12, shrink.HEADS_NEW, 2),
            "head_dim": (64, shrink.HEAD_DIM_NEW, 64),
            "heads": (12, shrink.HEADS_NEW, 2),
            "layers": (12, shrink.LAYERS_NEW, shrink.LAYERS_NEW),
            "size": (768, shrink.HIDDEN_NEW, 96),
            "keypoints": (-1, shrink.KEYPOINTS_NEW, -1),
            "kept": (2048, 2048, 2048),
        }
        for kind, (value, shrunk, scaled) in cases.items():
            with self.subTest(kind=kind):
                key = EXAMPLES[kind]
                self.assertEqual(shrink.shrink_int(key, value, hidden, heads, layers, ffn), shrunk)
                self.assertEqual(scale.scale_int(key, value, 8, False), scaled)


if __name__ == "__main__":
    unittest.main()
