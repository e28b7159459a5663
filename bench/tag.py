"""Benchmark `dhr tag --jsonl`: start-up time and passages per second on one core.

    python bench/tag.py [N]      (default N = 5000 passages)

Runs the real command in a subprocess pinned to one core (taskset when available), once with
a single line (start-up) and once with N lines; throughput excludes start-up.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "Officers attended the address after a neighbour reported shouting, and a DASH risk assessment was graded standard.",
    "The GP saw Ms A for low mood and prescribed antidepressants; domestic abuse was not asked about.",
    "Recommendation 4: Northshire Police should ensure that every officer completes the DASH at the scene.",
    "He had been drinking heavily and the children were present during the incident.",
    "The IDVA service had a waiting list because caseloads exceeded the recommended level.",
    "No referral was made to MARAC and the information was not shared with children's social care.",
    "The Community Safety Partnership commissioned this review in line with statutory guidance.",
    "She was placed in temporary accommodation far from her family and support network.",
]


def make_lines(n: int) -> str:
    rnd = random.Random(0)
    return "".join(
        json.dumps({"id": f"p{i}", "text": " ".join(rnd.sample(SENTENCES, rnd.randint(2, 5)))}) + "\n" for i in range(n)
    )


def run(lines: str) -> float:
    dhr = shutil.which("dhr") or str(Path(sys.executable).with_name("dhr"))
    cmd = [dhr, "tag", "--jsonl", "-"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    with tempfile.TemporaryFile("w+") as f:
        f.write(lines)
        f.seek(0)
        t = time.perf_counter()
        out = subprocess.run(cmd, stdin=f, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        dt = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    assert len(out.stdout.splitlines()) == lines.count("\n")
    return dt


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    startup = min(run(make_lines(1)) for _ in range(3))
    total = run(make_lines(n))
    rate = n / max(total - startup, 1e-9)
    words = sum(len(json.loads(x)["text"].split()) for x in make_lines(n).splitlines()) / n
    print(f"start-up (1 passage, best of 3): {startup:.2f} s")
    print(f"{n} passages (~{words:.0f} words each): {total:.2f} s in all -> {rate:,.0f} passages/s after start-up (one core)")


if __name__ == "__main__":
    main()
