"""Tests of the probe's determinism rule: randomness a forward accepts as an input is fed.

Run with the rule tests: `.venv/bin/python -m unittest discover -s generator/harvester -p 'test_*.py'`.
"""

from __future__ import annotations

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "runtime", "exporter")]

import probe  # noqa: E402  (imports torch and transformers through the exporter)
import torch  # noqa: E402
import transformers  # noqa: E402


def tiny_vit_mae():
    """ViTMAE at 32x32 with 8x8 patches (16 patches); its forward draws the masking noise."""
    config = transformers.ViTMAEConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24, image_size=32, patch_size=8,
        decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=24,
    )
    return transformers.ViTMAEModel(config).eval()


def request_for(outputs: list[str]) -> dict:
    return {
        "seed": 0,
        "dims": {"batch": {"size": 2, "varied": 3}},
        "inputs": [{"name": "pixel_values", "kind": "uniform", "shape": ["batch", 3, 32, 32], "dtype": "float32", "range": [-1.0, 1.0]}],
        "outputs": [{"name": name, "shape": []} for name in outputs],
    }


class RandomnessAsInput(unittest.TestCase):
    def test_the_masking_noise_of_vit_mae_becomes_an_input_and_the_forward_repeats_itself(self):
        model = tiny_vit_mae()
        request = request_for(["last_hidden_state", "ids_restore"])
        with self.assertRaises(probe.Unsupported) as unfed:
            probe.compare_runs(model, request)
        self.assertEqual(unfed.exception.category, "nondeterministic")
        fed = probe.randomness_as_input(model, request)
        self.assertIsNotNone(fed)
        self.assertEqual(fed["inputs"][-1], {"name": "noise", "kind": "uniform", "shape": ["batch", 16], "dtype": "float32", "range": [0.0, 1.0]})
        self.assertEqual(len(request["inputs"]), 1, "the request itself is left as it was")
        probe.compare_runs(model, fed)  # raises if eager still differs from itself

    def test_trace_and_compare_feeds_the_noise_instead_of_seeding(self):
        model = tiny_vit_mae()
        request = request_for(["last_hidden_state"])
        probe.trace_and_compare(model, request)
        self.assertEqual([spec["name"] for spec in request["inputs"]], ["pixel_values", "noise"])
        self.assertNotIn("run_seed", request)

    def test_a_canvas_of_random_tokens_becomes_a_token_ids_input(self):
        class Canvas(torch.nn.Module):
            """A forward that draws its decoder tokens when none are given (DiffusionGemma's canvas)."""

            def __init__(self):
                super().__init__()
                self.embed = torch.nn.Embedding(50, 4)

            def forward(self, input_ids, decoder_input_ids=None):
                if decoder_input_ids is None:
                    decoder_input_ids = torch.randint(low=0, high=50, size=(input_ids.shape[0], 6))
                return {"logits": self.embed(decoder_input_ids).sum(-1) + input_ids.float().mean()}

        request = {
            "seed": 0,
            "dims": {"batch": {"size": 2, "varied": 3}},
            "inputs": [{"name": "input_ids", "kind": "token_ids", "shape": ["batch", 5], "dtype": "int64", "range": [0.0, 50.0]}],
            "outputs": [{"name": "logits", "shape": []}],
        }
        model = Canvas().eval()
        with self.assertRaises(probe.Unsupported) as unfed:
            probe.compare_runs(model, request)
        # (The float64 run draws other tokens too, so the unfed output is also chaotic.)
        self.assertIn(unfed.exception.category, ("nondeterministic", "chaotic"))
        fed = probe.randomness_as_input(model, request)
        self.assertEqual(fed["inputs"][-1], {"name": "decoder_input_ids", "kind": "token_ids", "shape": ["batch", 6], "dtype": "int64", "range": [0.0, 50.0]})
        probe.compare_runs(model, fed)

    def test_a_forward_without_such_a_parameter_gets_none(self):
        model = transformers.ViTModel(transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24, image_size=32, patch_size=8)).eval()
        self.assertIsNone(probe.randomness_as_input(model, request_for(["last_hidden_state"])))


if __name__ == "__main__":
    unittest.main()
