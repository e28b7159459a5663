"""Apply the labelling conventions of ../CONVENTIONS.md uniformly to every split of every file.

    python corpus/labelled/tools/harmonise.py [--check]

Idempotent; writes each file atomically; prints every change. Never looks at tagger output.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELLED = HERE.parent
HWB = re.compile(r"\bhealth\s+(?:and|&)\s+well-?being\s+boards?\b", re.I)
CONSULT = re.compile(r"\bin consultation with\b", re.I)


def harmonise(rec: dict) -> list[str]:
    changes = []
    for a in rec.get("agencies") or []:
        if HWB.search(a.get("mention", "")) and a.get("id") != "local_authority":
            changes.append(f"agency {a.get('mention')!r}: {a.get('id')} -> local_authority (convention 1)")
            a["id"] = "local_authority"
    if rec.get("source") == "seed" and "text" in rec:
        changes.append("seed record held text: removed (convention 4)")
        del rec["text"]
    return changes


def main(check: bool = False) -> int:
    total = 0
    for path in sorted(LABELLED.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        out, n = [], 0
        for line in lines:
            if not line.strip():
                out.append(line)
                continue
            rec = json.loads(line)
            ch = harmonise(rec)
            for c in ch:
                print(f"{path.name} {rec.get('id')} [{rec.get('split')}]: {c}")
            if ch:
                n += 1
                out.append(json.dumps(rec, ensure_ascii=False))
            else:
                out.append(line)
            if rec.get("text") and CONSULT.search(rec["text"]) and rec.get("is_recommendation"):
                print(f"{path.name} {rec.get('id')}: 'in consultation with' - addressees {rec.get('addressees')} (check)")
        total += n
        if n and not check:
            tmp = path.with_suffix(".tmp")
            tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
            os.replace(tmp, path)
    print(f"{total} records changed" + (" (check only)" if check else ""))
    return total


if __name__ == "__main__":
    main("--check" in sys.argv)
