"""The examples of every assignment that has no test file of its own, graded end to end.

Adding an assignment means writing its solution notebook and its spec, nothing else:
its example submissions are graded here (each earns its declared score, and plain
``nbgrader autograde`` agrees on one of them), by the same two tests that an
assignment's own ``tests/test_assignment_<NN>.py`` binds once it has one. Each
assignment is graded in exactly one file (``test_assignments.py`` checks it), so that
``--dist loadfile`` grades it on one worker, once.
"""

from assignment_helpers import ASSIGNMENTS, example_tests, own_test_file

for _name in ASSIGNMENTS:
    if not own_test_file(_name).exists():
        (globals()[f"test_each_example_earns_its_declared_score_{_name}"],
         globals()[f"test_plain_nbgrader_autograde_agrees_{_name}"]) = example_tests(_name)
