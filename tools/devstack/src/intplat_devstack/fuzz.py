"""schemathesis against a service's own OpenAPI over a real socket (tests/api/test_openapi_conformance.py)."""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree


@dataclass(frozen=True)
class FuzzReport:
    returncode: int
    output: str
    tested: set[str]  # "METHOD /path" of every operation schemathesis reached
    generated: int
    passed: int


# No 5xx, and every answer as the OpenAPI document says: a documented status code, content type, headers and body.
CONFORMANCE_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


async def run_schemathesis(
    base_url: str, headers: dict[str, str], report_dir: Path, *, max_examples: int = 40
) -> FuzzReport:
    """Any failed check of `CONFORMANCE_CHECKS` fails the run (`returncode` != 0)."""
    schemathesis = Path(sys.executable).with_name("schemathesis")
    header_args = [arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")]
    proc = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", f"{base_url}/openapi.json",
        "--checks", ",".join(CONFORMANCE_CHECKS),
        *header_args,
        "--max-examples", str(max_examples),
        "--phases", "examples,coverage,fuzzing",
        "--seed", "20261127",
        "--workers", "1",
        "--report", "junit", "--report-dir", str(report_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await proc.communicate()
    text = output.decode(errors="replace")
    tested: set[str] = set()
    for report in report_dir.glob("junit-*.xml"):  # noqa: ASYNC240 - the run is over, nothing else waits
        cases = ElementTree.parse(report).getroot().iter("testcase")  # noqa: S314 - our own tool wrote it
        tested |= {name for case in cases if (name := case.get("name"))}
    counts = re.search(r"(\d+) generated, (\d+) passed", text)
    generated, passed = (int(counts.group(1)), int(counts.group(2))) if counts else (0, -1)
    return FuzzReport(proc.returncode or 0, text, tested, generated, passed)
