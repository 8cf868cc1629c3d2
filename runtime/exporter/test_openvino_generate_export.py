"""Unit tests of the stateful OpenVINO generation export (the whole route runs in runtime/tests/generation.rs)."""

import tempfile
import unittest

import openvino

import openvino_generate_export
from test_generation_export import prepared, tiny_llama


class OpenvinoGenerateExportTest(unittest.TestCase):
    def test_a_frontend_failure_names_the_operations_it_could_not_convert(self):
        class OpConversionFailure(Exception):
            pass

        message = "Check 'false' failed at src/frontends/common_translators/src/unconverted_ops_report.cpp:151:\nModel wasn't fully converted.\n-- aten::polar with a message:\nno rule\nSummary:\n-- Conversion is failed for: aten::polar\n"
        raw = OpConversionFailure(message)
        self.assertEqual(openvino_generate_export.reason(raw), "OpConversionFailure: OpenVINO's PyTorch frontend cannot convert aten::polar")
        self.assertEqual(openvino_generate_export.reason(ValueError("first\nsecond")), "ValueError: first")

    def test_the_ir_of_other_weights_fails_its_check(self):
        ready, other = prepared(tiny_llama()), prepared(tiny_llama(shift=0.05))
        with tempfile.TemporaryDirectory() as tmp:
            converted, switched = openvino_generate_export.convert(other, True)
            self.assertTrue(switched, "llama has an sdpa path")
            openvino.save_model(converted, f"{tmp}/model.xml", compress_to_fp16=False)
            self.assertEqual(openvino_generate_export.check(other, f"{tmp}/model.xml", lambda _: None), 2, "both layers' attention fused")
            with self.assertRaises(openvino_generate_export.StepsDiverge):
                openvino_generate_export.check(ready, f"{tmp}/model.xml", lambda _: None)


if __name__ == "__main__":
    unittest.main()
