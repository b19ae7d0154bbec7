"""atheris harness over the packet parser (IPv4, IPv6, TCP options); run as a script.

    pip install 'tcpstack[fuzz]'
    python -m tcpstack.harness.fuzz seeds corpus            # seeds from scenario captures
    python tests/fuzz/fuzz_parser.py corpus/parser -- -max_total_time=600
    python tests/fuzz/fuzz_parser.py crash-<sha1>           # replay one input (no atheris needed)

The target and its checks: :func:`tcpstack.harness.fuzz.parser_one_input`.
``tests/fuzz/test_fuzz_harness.py`` runs it for a bounded number of inputs.
"""

import sys

from tcpstack.harness.fuzz import main

if __name__ == "__main__":
    sys.exit(main(["parser", *sys.argv[1:]]))
