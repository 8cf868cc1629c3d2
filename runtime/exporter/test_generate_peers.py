"""generate_peers.py's own logic, without the peers (their packages live in .venv-peers): how
ids are compared, the end-of-sequence id onnxruntime-genai gets, and the peak memory measure."""

import os
import subprocess
import sys
import unittest

import numpy as np

import generate_peers
import peer_measure


class GeneratePeersTest(unittest.TestCase):
    def test_equal_ids_pass_and_the_first_difference_is_named(self):
        want = np.array([[5, 6, 7], [8, 9, 10]])
        self.assertIsNone(generate_peers.differs([[5, 6, 7], [8, 9, 10]], want))
        self.assertEqual(generate_peers.differs([[5, 6, 7], [8, 1, 1]], want), "its ids differ from the reference's first at row 1, step 1")
        self.assertIn("shape [1, 3]", generate_peers.differs([[5, 6, 7]], want))

    def test_the_end_of_sequence_id_is_one_the_reference_never_generates(self):
        self.assertEqual(generate_peers.unused_id(np.array([[1, 2], [3, 5]])), 0)
        self.assertEqual(generate_peers.unused_id(np.array([[0, 1], [2, 4]])), 3)
        self.assertEqual(generate_peers.unused_id(np.array([[0, 1, 2]])), 3)

    def test_the_peak_memory_is_the_peer_process_own_not_its_parent_peak(self):
        block = np.ones(512 << 20, dtype=np.uint8)  # 512 MiB touched in this (the parent) process
        self.assertGreater(peer_measure.peak_rss_mib(), 512)
        here = os.path.dirname(os.path.abspath(__file__))
        child = subprocess.run([sys.executable, "-c", "import peer_measure; print(peer_measure.peak_rss_mib())"], cwd=here, capture_output=True, text=True, check=True)
        self.assertLess(float(child.stdout), 256, "a child started after the parent's peak reports its own")
        del block

    def test_an_unknown_peer_is_refused_naming_the_known_ones(self):
        with self.assertRaises(ValueError) as raised:
            generate_peers.run({"peer": "llama.cpp"})
        self.assertIn("optimum-intel, openvino-genai, onnxruntime-genai", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
