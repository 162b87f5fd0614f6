"""Lint action.yml and every GitHub Actions workflow shown in the Markdown docs.

    .venv/bin/python scripts/lint_actions.py [FILE.md ...]

Each ```yaml block of README.md and docs/*.md (or of the files given) that is a workflow (it has
`jobs:`), a job's `steps:` or a list of steps is written to a temporary workflow file (a list of
steps is wrapped in a one-job workflow); other blocks (e2e.yaml examples) are left alone. A block
is written at the same line numbers it has in its Markdown file, so every message's line number
is the Markdown's. Then, on action.yml and those files:

  actionlint                                          (any message is an error)
  zizmor --offline --persona=pedantic                 (any finding fails, the pedantic ones too)
  check-jsonschema --builtin-schema vendor.github-actions / vendor.github-workflows

Exits 1 when any of them reports anything, 2 when a tool is missing; prints each tool's output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ZIZMOR_CONFIG = ROOT / "scripts" / "zizmor.yml"  # why a rule is off is said there
FENCE = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# A list of steps becomes this one-job workflow; its steps start on the block's own line.
WRAPPER = """\
# a list of steps from {source}, wrapped in a workflow to be linted
name: docs
on: push
permissions: {{}}
concurrency:
  group: docs-${{{{ github.ref }}}}
  cancel-in-progress: true
jobs:
  docs:
    name: docs
    runs-on: ubuntu-latest
    permissions:
      contents: read
{matrix}    steps:
"""
MATRIX = "    strategy:\n      matrix:\n        shard: [1, 2, 3]\n"


@dataclass(frozen=True)
class Block:
    source: Path
    line: int  # of the block's first line in its Markdown file
    text: str

    @property
    def where(self) -> str:
        return f"{os.path.relpath(self.source, ROOT)}:{self.line}"


def yaml_blocks(markdown: Path) -> list[Block]:
    text = markdown.read_text(encoding="utf-8")
    return [
        Block(markdown, text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in FENCE.finditer(text)
    ]


def kind(block: Block) -> str:
    """workflow, steps, or other (not GitHub Actions)."""
    try:
        data = yaml.safe_load(textwrap.dedent(block.text))
    except yaml.YAMLError as error:
        raise SystemExit(f"lint-actions: {block.where}: not valid YAML: {error}") from None
    if isinstance(data, dict) and "jobs" in data:
        return "workflow"
    if isinstance(data, dict) and set(data) == {"steps"}:
        data = data["steps"]
    if (
        isinstance(data, list)
        and data
        and all(isinstance(step, dict) and ("uses" in step or "run" in step) for step in data)
    ):
        return "steps"
    return "other"


def as_workflow(block: Block, what: str) -> str:
    """The block as a workflow file whose block lines sit at their Markdown line numbers."""
    body = textwrap.dedent(block.text)
    if what == "workflow":
        return "\n" * (block.line - 1) + body
    if body.startswith("steps:"):
        body = textwrap.dedent(body.removeprefix("steps:").lstrip("\n"))
    matrix = MATRIX if "matrix." in body else ""
    head = WRAPPER.format(source=block.where, matrix=matrix)
    padding = block.line - 1 - head.count("\n")
    if padding < 0:
        raise SystemExit(f"lint-actions: {block.where}: too near the top to keep its lines")
    return head + "\n" * padding + textwrap.indent(body, "      ")


def run(command: list[str]) -> bool:
    print(f"lint-actions: $ {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True)
    output = (done.stdout + done.stderr).strip()
    if output:
        print(textwrap.indent(output, "  "))
    print(f"lint-actions:   exit {done.returncode}", flush=True)
    # actionlint and check-jsonschema exit 0 only when clean; zizmor prints "No findings to
    # report" when it found nothing, and exits non-zero for any finding.
    return done.returncode == 0


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        raise SystemExit(
            f"lint-actions: {name} is missing: install the test extra "
            "(.venv/bin/pip install -e '.[test]', or scripts/bootstrap)"
        )
    return str(found)


def main(argv: list[str]) -> int:
    sources = [Path(a).resolve() for a in argv] or [
        ROOT / "README.md",
        *sorted(ROOT.glob("docs/*.md")),
    ]
    tools = {name: tool(name) for name in ("actionlint", "zizmor", "check-jsonschema")}
    with tempfile.TemporaryDirectory(prefix="hodei-lint-actions.") as tmp:
        workflows: list[str] = []
        for source in sources:
            for block in yaml_blocks(source):
                what = kind(block)
                if what == "other":
                    print(f"lint-actions: {block.where}: not a workflow, skipped")
                    continue
                target = Path(tmp, f"{block.where.replace(':', '.L').lstrip('./')}.yml")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(as_workflow(block, what), encoding="utf-8")
                workflows.append(str(target))
                print(f"lint-actions: {block.where}: {what} -> {target}")
        if not workflows:
            print("lint-actions: no workflow found in the docs", file=sys.stderr)
            return 1
        action = str(ROOT / "action.yml")
        schema = tools["check-jsonschema"]
        zizmor = [tools["zizmor"], "--offline", "--no-progress", "--persona=pedantic"]
        zizmor += ["--config", str(ZIZMOR_CONFIG)]
        results = [
            run([tools["actionlint"], "-no-color", *workflows]),
            run([*zizmor, action, *workflows]),
            run([schema, "--builtin-schema", "vendor.github-actions", action]),
            run([schema, "--builtin-schema", "vendor.github-workflows", *workflows]),
        ]
    failed = results.count(False)
    print(
        f"lint-actions: {len(workflows)} workflow(s) from the docs and action.yml: "
        + (f"{failed} of 4 checks FAILED" if failed else "4 checks passed, zero findings")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
