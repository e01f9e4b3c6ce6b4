"""Small readers for the Dockerfile, the Makefile's pip steps and .dockerignore, for the tests.

Only what the tests compare: instructions with their stage, ARG defaults, `pip install` steps, and
the .dockerignore decision for a path (Docker's rules: Go filepath.Match patterns, `**` for any
depth, a pattern also covers everything under a matching directory, the last match wins)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

# pip options that take a value (the value is not an install target).
_VALUED = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint", "-t"}


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # continuation lines joined, comments dropped
    stage: str  # name (AS ...) of the stage it belongs to; "" before the first FROM


@dataclass(frozen=True)
class PipInstall:
    targets: tuple[str, ...]
    editable: bool
    options: tuple[str, ...]


def parse_dockerfile(path: Path) -> list[Instruction]:
    result: list[Instruction] = []
    stage = ""
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        pending += " " + line.removesuffix("\\").strip() if pending else line.removesuffix("\\").strip()
        if line.endswith("\\"):
            continue
        keyword, _, args = pending.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.search(r"\bAS\s+(\S+)", args, re.IGNORECASE)
            stage = match.group(1) if match else args
        result.append(Instruction(keyword, args.strip(), stage))
        pending = ""
    return result


def arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    defaults = {}
    for ins in instructions:
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            defaults[name.strip()] = value.strip()
    return defaults


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m[1] or m[2], m[0]), text)


def pip_installs(command: str) -> list[PipInstall]:
    """Every `pip install` in a shell command line (split on &&, ;), in order."""
    steps = []
    for part in re.split(r"&&|;|\|\|", command):
        tokens = shlex.split(part)
        if "pip" not in tokens or "install" not in tokens:
            continue
        rest = tokens[tokens.index("install") + 1 :]
        targets, options, editable = [], [], False
        it = iter(rest)
        for token in it:
            if token in ("-e", "--editable"):
                editable = True
                targets.append(next(it))
            elif token in _VALUED:
                options.append(f"{token}={next(it)}")
            elif token.startswith("-"):
                options.append(token)
            else:
                targets.append(token)
        steps.append(PipInstall(tuple(targets), editable, tuple(options)))
    return steps


def makefile_pip_installs(path: Path) -> list[PipInstall]:
    steps = []
    for line in path.read_text().splitlines():
        if line.startswith("\t") and "pip install" in line:
            steps.extend(pip_installs(line.strip().replace("$(PY)", "python")))
    return steps


def split_extras(target: str) -> tuple[str, frozenset[str]]:
    """'.[dev,gpu]' -> ('.', {'dev', 'gpu'})."""
    match = re.fullmatch(r"([^\[]+)(?:\[([^\]]*)\])?", target)
    assert match, target
    extras = frozenset(e.strip() for e in (match[2] or "").split(",") if e.strip())
    return match[1], extras


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def dockerignore_excludes(ignore_file: Path, path: str) -> bool:
    """Whether `path` (relative, '/'-separated) is left out of the build context."""
    rules = []
    for line in ignore_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _glob_regex(line.lstrip("!").strip("/"))))
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded
