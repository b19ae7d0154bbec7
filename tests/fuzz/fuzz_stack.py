"""atheris harness over a Stack holding a connection in every state; run as a script.

    pip install 'tcpstack[fuzz]'
    python -m tcpstack.harness.fuzz seeds corpus            # seeds from scenario captures
    python tests/fuzz/fuzz_stack.py corpus/stack -- -max_total_time=600
    python tests/fuzz/fuzz_stack.py crash-<sha1>            # replay one input (no atheris needed)

The world, the input format and the invariants: :mod:`tcpstack.harness.fuzz`
(:func:`~tcpstack.harness.fuzz.stack_one_input`). ``tests/fuzz/test_fuzz_harness.py``
runs it for a bounded number of inputs.
"""

import sys

from tcpstack.harness.fuzz import main

if __name__ == "__main__":
    sys.exit(main(["stack", *sys.argv[1:]]))
