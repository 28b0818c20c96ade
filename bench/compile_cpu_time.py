#!/usr/bin/env python3
"""Compiler CPU time (user + sys) of one or more CMake targets' objects, ccache bypassed.

Runs each compile command of the targets from a build's compile_commands.json one after
another and sums the children's CPU time: on a shared machine CPU time moves far less with the
load than wall time does. Used for the CI-time figures in bench/RESULTS.md.

    bench/compile_cpu_time.py BUILD_DIR/compile_commands.json npuconv_cli,npuconv_pipeline
"""
import json
import re
import resource
import subprocess
import sys
import tempfile


def main():
    commands = json.load(open(sys.argv[1]))
    targets = sys.argv[2].split(",")
    total, count = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for entry in commands:
            out = re.search(r" -o (\S+)", entry["command"]).group(1)
            if not any(f"/{t}.dir/" in out for t in targets):
                continue
            cmd = entry["command"].replace("/usr/bin/ccache ", "")
            cmd = re.sub(r" -o \S+", f" -o {tmp}/object.o", cmd)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd, shell=True, cwd=entry["directory"], check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            total += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            count += 1
    print(f"{sys.argv[2]}: {count} compiles, {total:.1f} CPU s")


if __name__ == "__main__":
    main()
