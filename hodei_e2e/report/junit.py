"""One JUnit XML file: a `<testsuite>` per suite, readable by the common CI reporters."""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from hodei_e2e.results import Status, SuiteResult

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
SYSTEM_OUT_LINES = 200


def _clean(text: str) -> str:
    return _INVALID_XML.sub("", text)


def _timestamp(started: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started or time.time()))


def build(results: Sequence[SuiteResult], project: str) -> ET.Element:
    root = ET.Element("testsuites", name=project)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for index, result in enumerate(results):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=result.name,
            id=str(index),
            hostname=socket.gethostname(),
            timestamp=_timestamp(result.started),
            time=f"{result.duration:.3f}",
        )
        case = ET.SubElement(
            suite,
            "testcase",
            name=result.name,
            classname=f"{project}.{result.name}",
            time=f"{result.duration:.3f}",
        )
        counts = {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}
        message = _clean(result.reason or result.status.value)
        if result.status in (Status.FAILED, Status.TIMEOUT):
            failure = ET.SubElement(case, "failure", message=message, type=result.status.value)
            failure.text = _clean("\n".join(result.tail[-40:]))
            counts["failures"] = 1
        elif result.status in (Status.ERROR, Status.INTERRUPTED):
            ET.SubElement(case, "error", message=message, type=result.status.value)
            counts["errors"] = 1
        elif result.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", message=message)
            counts["skipped"] = 1
        if result.tail:
            ET.SubElement(case, "system-out").text = _clean(
                "\n".join(result.tail[-SYSTEM_OUT_LINES:])
            )
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        total_time += result.duration
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    return root


def write(path: Path, results: Sequence[SuiteResult], project: str) -> None:
    tree = ET.ElementTree(build(results, project))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
