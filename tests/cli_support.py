"""Running `govshare` commands as a user would, each with its own output."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs `govshare` commands in one child interpreter (its own environment, as a user's
# shell would have it), each with its own output: [[argv, exit code, stdout, stderr], ...].
DRIVER = """
import contextlib, io, json, logging, sys
from govshare.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    logging.getLogger().handlers.clear()  # main() sets up logging to this command's stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        except Exception as error:  # noqa: BLE001  (reported, the next command still runs)
            import traceback
            traceback.print_exc()
            code = f"raised {type(error).__name__}"
    results.append([argv, code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def run_cli(commands: list[list[str]], env: dict) -> list[tuple]:
    """The commands' results, run with the test's own GOVSHARE_* settings only."""
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)],
                          capture_output=True, text=True, timeout=300, env={**base, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return [tuple(r) for r in json.loads(done.stdout.strip().splitlines()[-1])]
