"""publish.replace_dir: a reader never finds the artifact absent while it is replaced."""

import os
import tempfile
import threading
import unittest

import publish


class ReplaceDirTest(unittest.TestCase):
    def test_a_new_directory_is_renamed_in(self):
        with tempfile.TemporaryDirectory() as root:
            tmp, final = os.path.join(root, "a.tmp"), os.path.join(root, "a")
            os.makedirs(tmp)
            open(os.path.join(tmp, "manifest.json"), "w").write("new")
            publish.replace_dir(tmp, final)
            self.assertEqual(open(os.path.join(final, "manifest.json")).read(), "new")
            self.assertFalse(os.path.exists(tmp))

    def test_a_reader_never_sees_the_artifact_absent_while_it_is_replaced(self):
        with tempfile.TemporaryDirectory() as root:
            final = os.path.join(root, "a")
            os.makedirs(final)
            open(os.path.join(final, "manifest.json"), "w").write("0")
            absent = []
            stop = threading.Event()

            def read():
                while not stop.is_set():
                    if not os.path.isfile(os.path.join(final, "manifest.json")):
                        absent.append(1)

            reader = threading.Thread(target=read)
            reader.start()
            for n in range(1, 200):
                tmp = os.path.join(root, f"a.tmp-{n}")
                os.makedirs(tmp)
                open(os.path.join(tmp, "manifest.json"), "w").write(str(n))
                publish.replace_dir(tmp, final)
            stop.set()
            reader.join()
            self.assertEqual(open(os.path.join(final, "manifest.json")).read(), "199")
            self.assertEqual(absent, [], "the manifest was missing while the directory was replaced")
            self.assertEqual(sorted(os.listdir(root)), ["a"], "no old directory left behind")


if __name__ == "__main__":
    unittest.main()
