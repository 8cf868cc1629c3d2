"""Unit tests of contract.py's rules that need no torch: which failures are the machine's."""

import errno
import os
import unittest

import contract


class EnvironmentFaultTest(unittest.TestCase):
    def test_machine_faults_are_named(self):
        self.assertEqual(contract.environment_fault(OSError(errno.ENOSPC, "No space left on device")), "the disk is full")
        self.assertIn("MemoryError", contract.environment_fault(MemoryError()))
        allocation = RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 bytes")
        self.assertEqual(contract.environment_fault(allocation), "an allocation failed in native code")

    def test_a_rename_race_is_one_only_inside_the_exports_own_work(self):
        race = FileNotFoundError(errno.ENOENT, "No such file or directory", "/cache/artifacts/bert-onnx.tmp-12/model.onnx")
        self.assertIn("rename race", contract.environment_fault(race, "/cache/artifacts"))
        elsewhere = FileNotFoundError(errno.ENOENT, "No such file or directory", "/usr/share/model/vocab.txt")
        self.assertIsNone(contract.environment_fault(elsewhere, "/cache/artifacts"))

    def test_model_failures_stay_the_models(self):
        self.assertIsNone(contract.environment_fault(ValueError("hidden_size must be divisible by heads")))
        self.assertIsNone(contract.environment_fault(RuntimeError("shape mismatch")))
        self.assertIsNone(contract.environment_fault(OSError(errno.EINVAL, "bad argument")))


if __name__ == "__main__":
    unittest.main()
