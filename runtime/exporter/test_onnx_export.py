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



class Call(torch.nn.Module):
    """A module whose forward is one function call, for exporting a shim alone."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, *tensors):
        return self.function(*tensors)


def exports_and_matches(case, function, *tensors):
    """The shimmed function matches the original, the TorchScript-based exporter writes it, and
    ONNX Runtime runs the file to the same values."""
    import onnxruntime

    want = function(*tensors)
    with onnx_export.torchscript_exporter_shims():
        got = function(*tensors)
    torch.testing.assert_close(got, want)
    buffer = io.BytesIO()
    names = [f"x{i}" for i in range(len(tensors))]
    with torch.no_grad(), onnx_export.torchscript_exporter_shims():
        torch.onnx.export(Call(function).eval(), tensors, buffer, dynamo=False, opset_version=onnx_export.OPSET_TORCHSCRIPT, input_names=names)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), tensors)}
    ran = session.run(None, feed)
    for value, expected in zip(ran, want if isinstance(want, tuple) else (want,)):
        torch.testing.assert_close(torch.from_numpy(value), expected, rtol=1e-5, atol=1e-5)


class OpsTheTorchScriptExporterLacks(unittest.TestCase):
    def test_isin_matches_and_exports(self):
        ids = torch.tensor([[101, 5, 1012, 7, 0], [3, 102, 9, 1012, 4]])
        tests = torch.tensor([101, 102, 1012, 0])
        exports_and_matches(self, lambda a, b: torch.isin(a, b), ids, tests)
        exports_and_matches(self, lambda a, b: torch.isin(a, b, invert=True), ids, tests)

    def test_searchsorted_matches_and_exports_on_both_sides_and_with_ties(self):
        bounds = torch.tensor([2.0, 5.0, 5.0, 9.0])
        values = torch.tensor([0.0, 2.0, 5.0, 6.0, 9.0, 11.0])
        exports_and_matches(self, lambda a, b: torch.searchsorted(a, b, right=True), bounds, values)
        exports_and_matches(self, lambda a, b: torch.searchsorted(a, b), bounds, values)
        rows = torch.sort(torch.randn(3, 7), dim=-1).values
        exports_and_matches(self, lambda a, b: torch.searchsorted(a, b, side="right"), rows, torch.randn(3, 4))

    def test_cummax_and_cummin_match_and_export_with_ties_on_any_dimension(self):
        marks = torch.tensor([[3, 1, 3, 2, 5, 5, 0], [-1, -1, 4, -1, 2, 4, 7]])
        exports_and_matches(self, lambda x: tuple(torch.cummax(x, dim=1)), marks)
        exports_and_matches(self, lambda x: tuple(torch.cummax(x, 0)), torch.randn(5, 3))
        exports_and_matches(self, lambda x: tuple(torch.cummin(x, dim=1)), marks)
        exports_and_matches(self, lambda x: tuple(torch.cummin(x, -1)), torch.randn(2, 6))

    def test_cumsum_of_a_bool_mask_exports_as_an_integer_sum_onnx_runtime_runs(self):
        import onnxruntime

        mask = torch.tensor([[True, True, False, True], [False, True, True, True]])
        position = Call(lambda m: ((~m).cumsum(-1), torch.cumsum(m, dim=1), m.cumsum(0, dtype=torch.int32)))
        want = position(mask)
        with onnx_export.torchscript_exporter_shims():
            got = position(mask)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w)
            self.assertEqual(g.dtype, w.dtype)
        buffer = io.BytesIO()
        with torch.no_grad(), onnx_export.torchscript_exporter_shims():
            torch.onnx.export(position.eval(), (mask,), buffer, dynamo=False, opset_version=onnx_export.OPSET_TORCHSCRIPT, input_names=["mask"])
        session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
        for g, w in zip(session.run(None, {"mask": mask.numpy()}), want):
            self.assertEqual(g.tolist(), w.tolist())

    def test_a_bool_eye_exports_as_a_mask_onnx_runtime_runs(self):
        marks = torch.tensor([[3, 0, 1], [0, 2, 0], [1, 1, 1]])
        exports_and_matches(self, lambda x: torch.eye(x.shape[-1], dtype=torch.bool) | (x > 1), marks)
        exports_and_matches(self, lambda x: torch.eye(3, 3, dtype=torch.float32) + x, torch.randn(3, 3))

    def test_the_allowzero_route_keeps_a_zero_size_in_a_reshape(self):
        import onnxruntime

        x = torch.ones(2, 5, 0)
        # A rotary part of width 0 (qk_rope_head_dim: 0) joined to the rest.
        module = Call(lambda t: torch.cat([t.reshape(t.shape[0], 1, t.shape[1], 0), torch.ones(t.shape[0], 1, t.shape[1], 2)], -1)).eval()

        def run(shims):
            buffer = io.BytesIO()
            with torch.no_grad(), shims():
                torch.onnx.export(module, (x,), buffer, dynamo=False, opset_version=onnx_export.OPSET_TORCHSCRIPT, input_names=["x"], dynamic_axes={"x": {0: "b", 1: "s"}})
            session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
            return session.run(None, {"x": x.numpy()})[0]

        with self.assertRaises(Exception):  # allowzero=0: the 0 copies a dimension the input lacks
            run(onnx_export.torchscript_exporter_shims)
        self.assertEqual(run(onnx_export.torchscript_zero_size_shims).tolist(), module(x).tolist())
        # The default symbolic is back afterwards.
        with self.assertRaises(Exception):
            run(onnx_export.torchscript_exporter_shims)

    def test_solve_triangular_matches_and_exports_lower_upper_and_unit(self):
        generator = torch.Generator().manual_seed(0)
        system = torch.randn(2, 3, 6, 6, generator=generator) * 0.3 + torch.eye(6) * 2
        right = torch.randn(2, 3, 6, 4, generator=generator)
        for upper in (False, True):
            for unit in (False, True):
                with self.subTest(upper=upper, unitriangular=unit):
                    exports_and_matches(self, lambda a, b: torch.linalg.solve_triangular(a, b, upper=upper, unitriangular=unit), system, right)

    def test_a_changed_solution_is_caught(self):
        system = torch.eye(4) + torch.tril(torch.ones(4, 4), -1) * 0.5
        right = torch.ones(4, 2)
        want = torch.linalg.solve_triangular(system, right, upper=False, unitriangular=True)
        with onnx_export.torchscript_exporter_shims():
            got = torch.linalg.solve_triangular(system, right, upper=False, unitriangular=False)
        torch.testing.assert_close(got, want)  # the diagonal is one: unit or not, the same system
        system[2, 2] = 2.0
        with onnx_export.torchscript_exporter_shims():
            got = torch.linalg.solve_triangular(system, right, upper=False)
        self.assertFalse(torch.allclose(got, want))

    def test_the_shims_are_removed_afterwards(self):
        originals = (torch.isin, torch.searchsorted, torch.linalg.solve_triangular, torch.cumsum, torch.Tensor.cumsum)
        with onnx_export.torchscript_exporter_shims():
            self.assertIsNot(torch.isin, originals[0])
            self.assertIsNot(torch.Tensor.cumsum, originals[4])
        self.assertEqual((torch.isin, torch.searchsorted, torch.linalg.solve_triangular, torch.cumsum, torch.Tensor.cumsum), originals)


if __name__ == "__main__":
    unittest.main()
