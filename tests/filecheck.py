#!/usr/bin/env python3
"""tests/filecheck.py - runs the RUN lines of one IR-text test (.kir).

Usage: filecheck.py --kiln PATH --filecheck PATH FILE.kir

Each `// RUN: <command>` line (a trailing backslash continues it on the next
RUN line) is run by `bash -o pipefail` in the test's folder after these
substitutions:
  %s  the test file          %S  its folder          %t  a temporary path
  kiln       the kiln binary given by --kiln
  FileCheck  the FileCheck binary given by --filecheck
  not CMD    succeeds exactly when CMD fails (for expected errors)
The test passes when every RUN line exits 0. The command, its output and the
exit status of a failing line are printed.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

RUN_RE = re.compile(r"^\s*//\s*RUN:\s?(.*)$")
# A bare word, not part of a path, option or longer name.
WORD = r"(?<![\w./%-]){}(?![\w./-])"

PRELUDE = "not() { if \"$@\"; then return 1; else return 0; fi; }\n"


def run_lines(text):
    """The RUN commands of a test, continuations joined."""
    commands, pending = [], ""
    for line in text.splitlines():
        m = RUN_RE.match(line)
        if not m:
            continue
        part = m.group(1).rstrip()
        if part.endswith("\\"):
            pending += part[:-1] + " "
            continue
        commands.append(pending + part)
        pending = ""
    if pending:
        commands.append(pending)
    return commands


def substitute(cmd, path, tmp, kiln, filecheck):
    cmd = cmd.replace("%s", shlex.quote(path))
    cmd = cmd.replace("%S", shlex.quote(os.path.dirname(path)))
    cmd = cmd.replace("%t", shlex.quote(tmp))
    cmd = re.sub(WORD.format("kiln"), lambda _: shlex.quote(kiln), cmd)
    cmd = re.sub(WORD.format("FileCheck"), lambda _: shlex.quote(filecheck), cmd)
    return cmd


def main():
    ap = argparse.ArgumentParser(description="run the RUN lines of a .kir test")
    ap.add_argument("--kiln", required=True, help="path of the kiln binary")
    ap.add_argument("--filecheck", required=True, help="path of FileCheck")
    ap.add_argument("test", help="the .kir test file")
    args = ap.parse_args()

    path = os.path.abspath(args.test)
    with open(path, encoding="utf-8") as f:
        commands = run_lines(f.read())
    if not commands:
        print(f"{args.test}: no RUN lines", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="kiln-filecheck-") as tmpdir:
        tmp = os.path.join(tmpdir, "t")
        for i, raw in enumerate(commands, 1):
            cmd = substitute(raw, path, tmp, os.path.abspath(args.kiln), args.filecheck)
            proc = subprocess.run(["bash", "-o", "pipefail", "-c", PRELUDE + cmd],
                                  cwd=os.path.dirname(path), capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{args.test}: RUN line {i} failed with exit status {proc.returncode}")
                print(f"  RUN: {raw}")
                print(f"  command: {cmd}")
                if proc.stdout:
                    print("--- stdout ---\n" + proc.stdout)
                if proc.stderr:
                    print("--- stderr ---\n" + proc.stderr)
                return 1
    print(f"{args.test}: {len(commands)} RUN line(s) passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
