"""Double reading of the labelled set: a second, blind reading of every passage, agreement
between the two readers, and adjudication of every point where they differ.

    python corpus/labelled/tools/second_reading.py blind OUT_DIR [--batches 6]
        write the passages (id and text only, no labels) for second readers
    python corpus/labelled/tools/second_reading.py import-readings FILE...
        keep the second readings in review/second_reading.jsonl (ids and labels, never text);
        passages not yet in review/first_reading.jsonl enter it with their current labels
    python corpus/labelled/tools/second_reading.py disputes OUT_DIR [--batches 5]
        write, blind (who said what is not shown), every passage where the readers differ
        and what is in question, for an adjudicator
    python corpus/labelled/tools/second_reading.py import-decisions FILE...
        keep the adjudicator's decisions in review/adjudication.jsonl
    python corpus/labelled/tools/second_reading.py agreement
        inter-reader agreement per theme (F1, Cohen's kappa), recommendations and addressees
        -> review/agreement.json
    python corpus/labelled/tools/second_reading.py apply
        final labels = what both readers agreed + the adjudicator's decisions, written into
        the labelled files (idempotent: always starts from the first reading)

Never looks at tagger output. Seed passages are exported for reading from the seed
documents at run time; no file under review/ holds passage text.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELLED = HERE.parent
REVIEW = LABELLED / "review"
FIRST, SECOND, DECISIONS, AGREEMENT = (REVIEW / n for n in (
    "first_reading.jsonl", "second_reading.jsonl", "adjudication.jsonl", "agreement.json"))
sys.path.insert(0, str(LABELLED.parents[1]))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


def labels(rec) -> dict:
    return {"id": rec["id"], "themes": sorted(rec["themes"]), "is_recommendation": bool(rec["is_recommendation"]),
            "addressees": sorted(rec["addressees"]) if rec["is_recommendation"] else []}


def by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(path)}


def examples():
    from dhr import labelled

    return labelled.load().examples


def ordered(items, salt: str):
    return sorted(items, key=lambda d: hashlib.sha1((salt + d["id"]).encode()).hexdigest())


def write_batches(out: Path, items: list[dict], n: int, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        write_jsonl(out / f"{stem}_{k + 1}.jsonl", items[k::n])
    print(f"{len(items)} items in {n} batches under {out}")


def cmd_blind(args) -> None:
    done = set(by_id(SECOND)) if SECOND.exists() else set()  # read twice already
    items = [{"id": e.id, "text": e.text} | ({"cells": e.cells} if e.cells else {})
             for e in examples() if e.id not in done]
    write_batches(Path(args.out), ordered(items, "r2"), args.batches, "batch")


def cmd_import_readings(args) -> None:
    from dhr.tag import load_agencies, load_codebook

    themes, agencies = set(load_codebook().theme_ids), set(load_agencies().agencies)
    # the first reading: kept from earlier rounds; passages added since then enter with their current labels
    first = by_id(FIRST) if FIRST.exists() else {}
    first.update({e.id: labels(vars(e)) for e in examples() if e.id not in first})
    wanted = first
    second: dict[str, dict] = {}
    for f in args.files:
        for r in read_jsonl(Path(f)):
            if r["id"] in wanted and r["id"] not in second:  # the first copy of an id wins
                unknown = (set(r["themes"]) - themes) | (set(r.get("addressees") or []) - agencies)
                if unknown:
                    raise SystemExit(f"{f}: {r['id']}: unknown ids {sorted(unknown)}")
                second[r["id"]] = labels(r) | ({"note": r["note"]} if r.get("note") else {})
    if SECOND.exists():  # readings from earlier rounds stay
        second = {r["id"]: r for r in read_jsonl(SECOND)} | second
    missing = set(wanted) - set(second)
    if missing:
        raise SystemExit(f"{len(missing)} passages have no second reading, e.g. {sorted(missing)[:5]}")
    write_jsonl(FIRST, first.values())
    write_jsonl(SECOND, [second[i] for i in wanted])
    print(f"{len(second)} second readings -> {SECOND.relative_to(LABELLED)}")


def disputes(first: dict, second: dict) -> dict:
    """What two readings of one passage disagree on (empty when nothing)."""
    out = {}
    themes = sorted(set(first["themes"]) ^ set(second["themes"]))
    if themes:
        out["themes_in_question"] = themes
    if first["is_recommendation"] != second["is_recommendation"]:
        out["recommendation_in_question"] = True
        either = sorted(set(first["addressees"]) | set(second["addressees"]))
        if either:
            out["addressees_in_question"] = either
    else:
        addressees = sorted(set(first["addressees"]) ^ set(second["addressees"]))
        if addressees:
            out["addressees_in_question"] = addressees
    return out


def cmd_disputes(args) -> None:
    first, second = by_id(FIRST), by_id(SECOND)
    decided = set(by_id(DECISIONS)) if DECISIONS.exists() else set()  # decided in an earlier round
    items = []
    for e in examples():
        if e.id in decided:
            continue
        d = disputes(first[e.id], second[e.id])
        if d:
            items.append({"id": e.id, "text": e.text} | ({"cells": e.cells} if e.cells else {}) | d)
    write_batches(Path(args.out), ordered(items, "adj"), args.batches, "items")


def cmd_import_decisions(args) -> None:
    first, second = by_id(FIRST), by_id(SECOND)
    decided: dict[str, dict] = {}
    for f in args.files:  # new decisions first: they win over earlier rounds' (added below)
        for r in read_jsonl(Path(f)):
            decided.setdefault(r["id"], r)
    if DECISIONS.exists():
        for r in read_jsonl(DECISIONS):
            decided.setdefault(r["id"], r)
    records = []
    for pid in first:
        asked = disputes(first[pid], second[pid])
        if not asked:
            continue
        d = decided.get(pid)
        if d is None:
            raise SystemExit(f"{pid}: no decision")
        if set(d.get("themes") or {}) != set(asked.get("themes_in_question", [])) or \
                set(d.get("addressees") or {}) != set(asked.get("addressees_in_question", [])) or \
                (asked.get("recommendation_in_question") and "is_recommendation" not in d):
            raise SystemExit(f"{pid}: the decision does not answer exactly what is in question")
        records.append({k: d[k] for k in ("id", "themes", "is_recommendation", "addressees", "reason") if k in d})
    write_jsonl(DECISIONS, records)
    print(f"{len(records)} decisions -> {DECISIONS.relative_to(LABELLED)}")


def final_labels(first: dict, second: dict, decision: dict | None) -> dict:
    themes = set(first["themes"]) & set(second["themes"])
    themes |= {t for t, yes in (decision or {}).get("themes", {}).items() if yes}
    is_rec = first["is_recommendation"] if first["is_recommendation"] == second["is_recommendation"] \
        else bool(decision["is_recommendation"])
    addressees = set(first["addressees"]) & set(second["addressees"])
    addressees |= {a for a, yes in (decision or {}).get("addressees", {}).items() if yes}
    return {"themes": sorted(themes), "is_recommendation": is_rec, "addressees": sorted(addressees) if is_rec else []}


def cmd_apply(_args) -> None:
    first, second, decided = by_id(FIRST), by_id(SECOND), by_id(DECISIONS)
    changed = 0
    for path in sorted(LABELLED.glob("*.jsonl")):
        out, n = [], 0
        for rec in read_jsonl(path):
            pid = rec["id"]
            if pid in first:
                final = final_labels(first[pid], second[pid], decided.get(pid))
                if any(sorted(rec.get(k) or []) != final[k] if k != "is_recommendation"
                       else bool(rec.get(k)) != final[k] for k in final):
                    n += 1
                rec.update(final)
            out.append(rec)
        write_jsonl(path, out)
        changed += n
        print(f"{path.name}: {n} passages' labels differ from the file's previous labels")
    print(f"{changed} passages changed")


def agreement_figures(first: dict, second: dict, split_of: dict | None = None, split: str | None = None) -> dict:
    ids = [i for i in first if split is None or split_of.get(i) == split]
    all_themes = sorted({t for i in ids for t in first[i]["themes"] + second[i]["themes"]})
    per, tp_all, fp_all, fn_all = {}, 0, 0, 0
    for t in all_themes:
        a = sum(1 for i in ids if t in first[i]["themes"] and t in second[i]["themes"])
        b = sum(1 for i in ids if t not in first[i]["themes"] and t in second[i]["themes"])
        c = sum(1 for i in ids if t in first[i]["themes"] and t not in second[i]["themes"])
        d = len(ids) - a - b - c
        po = (a + d) / len(ids)
        pe = ((a + b) * (a + c) + (c + d) * (b + d)) / len(ids) ** 2
        per[t] = {"both": a, "second_only": b, "first_only": c, "f1": round(2 * a / (2 * a + b + c), 3) if a else 0.0,
                  "kappa": round((po - pe) / (1 - pe), 3) if pe < 1 else 1.0}
        tp_all, fp_all, fn_all = tp_all + a, fp_all + b, fn_all + c
    rec_both = sum(1 for i in ids if first[i]["is_recommendation"] and second[i]["is_recommendation"])
    rec_diff = sum(1 for i in ids if first[i]["is_recommendation"] != second[i]["is_recommendation"])
    a_tp = a_fp = a_fn = 0
    for i in ids:
        if first[i]["is_recommendation"] and second[i]["is_recommendation"]:
            f, s = set(first[i]["addressees"]), set(second[i]["addressees"])
            a_tp, a_fp, a_fn = a_tp + len(f & s), a_fp + len(s - f), a_fn + len(f - s)
    return {
        "passages": len(ids),
        "theme_micro_f1": round(2 * tp_all / (2 * tp_all + fp_all + fn_all), 3),
        "theme_macro_kappa": round(sum(v["kappa"] for v in per.values()) / len(per), 3),
        "recommendation_f1": round(2 * rec_both / (2 * rec_both + rec_diff), 3),
        "addressee_micro_f1": round(2 * a_tp / (2 * a_tp + a_fp + a_fn), 3),
        "themes": per,
    }


def cmd_agreement(_args) -> None:
    first, second = by_id(FIRST), by_id(SECOND)
    split_of = {}
    for path in LABELLED.glob("*.jsonl"):
        split_of.update({r["id"]: r.get("split", "train") for r in read_jsonl(path)})
    decided = by_id(DECISIONS) if DECISIONS.exists() else {}
    report = {
        "what": "agreement between two independent readings of every labelled passage (first reading as "
                "reference; F1 is symmetric); disagreements were adjudicated (review/adjudication.jsonl)",
        "all": agreement_figures(first, second),
        "test": agreement_figures(first, second, split_of, "test"),
        "adjudicated_passages": len(decided),
    }
    AGREEMENT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    a = report["all"]
    print(f"{a['passages']} passages: theme micro-F1 {a['theme_micro_f1']}, mean kappa {a['theme_macro_kappa']}, "
          f"recommendation F1 {a['recommendation_f1']}, addressee F1 {a['addressee_micro_f1']} "
          f"(test split: theme micro-F1 {report['test']['theme_micro_f1']})")
    for t, v in sorted(a["themes"].items(), key=lambda kv: kv[1]["kappa"]):
        print(f"  {t:24s} kappa {v['kappa']:.3f}  F1 {v['f1']:.3f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, batches in (("blind", 6), ("disputes", 5)):
        p = sub.add_parser(name)
        p.add_argument("out")
        p.add_argument("--batches", type=int, default=batches)
    for name in ("import-readings", "import-decisions"):
        sub.add_parser(name).add_argument("files", nargs="+")
    sub.add_parser("agreement")
    sub.add_parser("apply")
    args = ap.parse_args(argv)
    {"blind": cmd_blind, "import-readings": cmd_import_readings, "disputes": cmd_disputes,
     "import-decisions": cmd_import_decisions, "agreement": cmd_agreement, "apply": cmd_apply}[args.cmd](args)


if __name__ == "__main__":
    main()
