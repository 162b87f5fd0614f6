"""scripts/lint_actions.py: a workflow block in the docs that a linter faults fails the check,
with the linter's message at the Markdown's own line; a clean list of steps passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINT = Path(__file__).resolve().parents[2] / "scripts" / "lint_actions.py"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    not all((BIN / tool).exists() or shutil.which(tool) for tool in ("actionlint", "zizmor")),
    reason="the test extra's linters are not installed",
)

CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
BAD = """\
# Docs

Some text.

```yaml
name: bad
on: pull_request_target
jobs:
  e2e:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
```
"""
GOOD = f"""\
# Docs

A config block, not a workflow:

```yaml
version: 1
suites: {{a: {{command: "true"}}}}
```

Some steps, far enough down for the wrapper workflow to fit above them
(a block keeps its Markdown line numbers).






```yaml
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - name: E2E
        env:
          SHARD: ${{{{ matrix.shard }}}}/3
        run: exec hodei-e2e run --shard "$SHARD"
```
"""


def lint(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    doc = tmp_path / "doc.md"
    doc.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(LINT), str(doc)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_faulty_workflow_block_fails_with_each_linters_message(tmp_path: Path) -> None:
    done = lint(tmp_path, BAD)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert 'doc.md.L6.yml:12:15: runtime "node20" is deprecated' in out  # the Markdown's line
    assert "error[unpinned-uses]" in out
    assert "error[dangerous-triggers]" in out
    assert "template-injection" in out
    assert "checks FAILED" in out


def test_clean_steps_pass_and_other_blocks_are_skipped(tmp_path: Path) -> None:
    done = lint(tmp_path, GOOD)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "doc.md:6: not a workflow, skipped" in out
    assert "doc.md:19: steps" in out
    assert "4 checks passed, zero findings" in out
