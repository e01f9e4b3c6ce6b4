"""pyproject's licence is an SPDX expression (PEP 639), with a setuptools that reads it: the old
`{ text = ... }` table made every build print a deprecation banner."""

from __future__ import annotations

import re
import tomllib

from tests.locations import REPO


def test_licence_is_an_spdx_string_and_setuptools_supports_it() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert match and int(match[1]) >= 77, setuptools  # 77.0: first with PEP 639 license expressions
    classifiers = pyproject["project"].get("classifiers", [])
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639 forbids both
