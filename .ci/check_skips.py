"""Fail when a required test was skipped in a pytest junit report.

Required tests are those marked ``required`` or ``shared`` (found by a pytest collection run);
any of them skipped means CI did not check what it claims to. Usage::

    python .ci/check_skips.py build/ci/junit.xml [--markers "required or shared"]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET


def junit_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml writes them for ``nodeid``."""
    path, *rest = nodeid.split("::")
    module = path.replace("/", ".").removesuffix(".py")
    return ".".join([module, *rest[:-1]]), rest[-1]


def required_tests(markers: str) -> set[tuple[str, str]]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", markers,
                           "-p", "no:cacheprovider"], capture_output=True, text=True)
    if proc.returncode not in (0, 5):  # 5: nothing collected
        sys.exit(f"check_skips: collecting required tests failed:\n{proc.stdout}\n{proc.stderr}")
    return {junit_address(line.strip()) for line in proc.stdout.splitlines() if "::" in line}


def skipped_tests(report: str) -> dict[tuple[str, str], str]:
    skipped = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        skip = case.find("skipped")
        if skip is not None:
            skipped[(case.get("classname", ""), case.get("name", ""))] = skip.get("message", "")
    return skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--markers", default="required or shared")
    args = parser.parse_args()
    required = required_tests(args.markers)
    skipped = skipped_tests(args.report)
    bad = sorted(k for k in skipped if k in required)
    for classname, name in bad:
        print(f"required test skipped: {classname}::{name}: {skipped[(classname, name)]}")
    print(f"check_skips: {len(required)} required test(s), {len(skipped)} skipped in total, "
          f"{len(bad)} required skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
