"""Tests of the ONNX writers' trace-time rewrites (`onnx_export.py`).

Run: `.venv/bin/python -m unittest discover -s runtime/exporter -p 'test_*.py'` (the runtime's
test `exporter_unit_tests_pass` runs it).
"""

from __future__ import annotations

import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx  # noqa: E402
import torch  # noqa: E402

import onnx_export  # noqa: E402


class WholeWindowPool(torch.nn.Module):
    """EfficientNet's pooler: a kernel (the hidden size) larger than the feature map, ceil mode."""

    def __init__(self, kernel: int):
        super().__init__()
        self.pool = torch.nn.AvgPool2d(kernel, ceil_mode=True)

    def forward(self, x):
        return self.pool(x)


def exported_ops(module, example) -> set[str]:
    buffer = io.BytesIO()
    with torch.no_grad(), onnx_export.torchscript_exporter_shims():
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=onnx_export.OPSET_TORCHSCRIPT)
    return {node.op_type for node in onnx.load_from_string(buffer.getvalue()).graph.node}


class AvgPoolOverTheWholeInput(unittest.TestCase):
    def test_a_window_larger_than_the_input_exports_as_a_mean_with_the_same_values(self):
        x = torch.randn(2, 8, 4, 4)
        module = WholeWindowPool(64).eval()
        want = module(x)
        with onnx_export.torchscript_exporter_shims():
            got = module(x)
        torch.testing.assert_close(got, want)
        ops = exported_ops(module, x)
        self.assertNotIn("AveragePool", ops)
        self.assertIn("ReduceMean", ops)

    def test_an_ordinary_window_stays_an_average_pool(self):
        x = torch.randn(2, 8, 6, 6)
        self.assertIn("AveragePool", exported_ops(WholeWindowPool(2).eval(), x))

    def test_the_shim_is_removed_afterwards(self):
        original = torch.nn.functional.avg_pool2d
        with onnx_export.torchscript_exporter_shims():
            self.assertIsNot(torch.nn.functional.avg_pool2d, original)
        self.assertIs(torch.nn.functional.avg_pool2d, original)


if __name__ == "__main__":
    unittest.main()
