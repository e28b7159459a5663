"""`dhr evaluate`: measure the tagger on the labelled set's held-out TEST split.

Reports, for each of three methods (rules alone, classifier alone, rules + classifier):
precision / recall / F1 per theme, micro and macro F1, recommendation detection P/R/F1,
agency-mention micro-F1 (per passage, the set of agency ids mentioned) and addressee
micro-F1 (per passage, the set of agency ids asked to act). The same figures are reported for
the seed documents' passages (real reports) on their own. Figures are written to
`models/evaluation.json`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .config import write_atomic

TARGETS = {"theme_micro_f1": 0.80, "theme_min_f1_support10": 0.60, "recommendation_f1": 0.90, "addressee_micro_f1": 0.85}


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "tp": tp, "fp": fp, "fn": fn}


def _set_f1(gold: list[set], pred: list[set]) -> dict:
    tp = sum(len(g & p) for g, p in zip(gold, pred))
    fp = sum(len(p - g) for g, p in zip(gold, pred))
    fn = sum(len(g - p) for g, p in zip(gold, pred))
    return _prf(tp, fp, fn)


def score(examples, results, theme_ids) -> dict:
    per_theme = {}
    micro = [0, 0, 0]
    for tid in theme_ids:
        tp = fp = fn = 0
        for e, r in zip(examples, results):
            g = tid in e.themes
            p = any(t["id"] == tid for t in r["themes"])
            tp += g and p
            fp += p and not g
            fn += g and not p
        m = _prf(tp, fp, fn)
        m["support"] = tp + fn
        per_theme[tid] = m
        micro[0] += tp
        micro[1] += fp
        micro[2] += fn
    with_support = [m["f1"] for m in per_theme.values() if m["support"] > 0]
    rec = [0, 0, 0]
    for e, r in zip(examples, results):
        g, p = e.is_recommendation, r["is_recommendation"]
        rec[0] += g and p
        rec[1] += p and not g
        rec[2] += g and not p
    gold_ag = [{a["id"] for a in e.agencies if a.get("id")} for e in examples]
    pred_ag = [{a["id"] for a in r["agencies"] if a.get("id")} for r in results]
    gold_ad = [set(e.addressees) for e in examples]
    pred_ad = [set(r["addressees"]) for r in results]
    # addressees among the recommendations both sides agree on (isolates the addressee step)
    both = [i for i, (e, r) in enumerate(zip(examples, results)) if e.is_recommendation and r["is_recommendation"]]
    support10 = [m["f1"] for m in per_theme.values() if m["support"] >= 10]
    return {
        "passages": len(examples),
        "themes": per_theme,
        "theme_micro": _prf(*micro),
        "theme_macro_f1": round(sum(with_support) / len(with_support), 3) if with_support else 0.0,
        "theme_min_f1_support10": min(support10) if support10 else None,
        "recommendation": {**_prf(*rec), "support": rec[0] + rec[2]},
        "agency_mention_micro": _set_f1(gold_ag, pred_ag),
        "addressee_micro": {**_set_f1(gold_ad, pred_ad), "support": sum(len(g) for g in gold_ad)},
        "addressee_micro_on_true_recommendations": _set_f1([gold_ad[i] for i in both], [pred_ad[i] for i in both]),
    }


def evaluate(codebook=None, models_dir=None, labelled_dir=None, split: str = "test", write: bool = True) -> dict:
    from . import labelled
    from .tag import METHODS, Tagger, default_models_dir
    from .train import example_item

    t0 = time.time()
    ls = labelled.load(labelled_dir)
    examples = ls.split(split)
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    tagger = Tagger(codebook, models_dir)
    if tagger.model is None:
        raise SystemExit(f"no trained model in {models_dir}: run `dhr train` first")
    items = [example_item(e) for e in examples]
    subsets = {
        "all": list(range(len(examples))),
        "seed": [i for i, e in enumerate(examples) if e.source == "seed"],
        "written": [i for i, e in enumerate(examples) if e.source != "seed"],
    }
    report = {
        "split": split,
        "tagger_version": tagger.version,
        "labelled": {
            "passages": len(ls.examples),
            "train": len(ls.train),
            "test": len(ls.test),
            "test_by_source": {s: sum(1 for e in examples if e.source == s) for s in sorted({e.source for e in examples})},
            "notes": ls.notes,
        },
        "targets": TARGETS,
        "methods": {},
    }
    for method in METHODS:
        results = list(tagger.tag_many(items, method=method))
        report["methods"][method] = {
            name: score([examples[i] for i in idx], [results[i] for i in idx], tagger.theme_ids)
            for name, idx in subsets.items() if idx
        }
    c = report["methods"]["combined"]["all"]
    report["targets_met"] = {
        "theme_micro_f1": c["theme_micro"]["f1"] >= TARGETS["theme_micro_f1"],
        "theme_min_f1_support10": (c["theme_min_f1_support10"] is None
                                   or c["theme_min_f1_support10"] >= TARGETS["theme_min_f1_support10"]),
        "recommendation_f1": c["recommendation"]["f1"] >= TARGETS["recommendation_f1"],
        "addressee_micro_f1": c["addressee_micro"]["f1"] >= TARGETS["addressee_micro_f1"],
    }
    report["seconds"] = round(time.time() - t0, 1)
    if write:
        models_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(models_dir / "evaluation.json", (json.dumps(report, indent=2) + "\n").encode())
    return report


def format_report(report: dict) -> str:
    lines = []
    lab = report["labelled"]
    lines.append(f"Labelled set: {lab['passages']} passages (train {lab['train']}, test {lab['test']}); "
                 f"test by source: {lab['test_by_source']}")
    for n in lab.get("notes", []):
        lines.append(f"note: {n}")
    methods = report["methods"]
    c = methods["combined"]["all"]
    lines.append("")
    lines.append(f"Themes on the {report['split']} split (rules + classifier):")
    lines.append(f"  {'theme':24s} {'P':>6s} {'R':>6s} {'F1':>6s} {'support':>8s}")
    for tid, m in c["themes"].items():
        lines.append(f"  {tid:24s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:8d}")
    lines.append("")
    hdr = f"  {'':34s}" + "".join(f"{m:>12s}" for m in methods)
    for subset, title in (("all", "all test passages"), ("seed", "seed documents only (real reports)"),
                          ("written", "hand-written / demo passages only")):
        if subset not in methods["combined"]:
            continue
        lines.append(f"Summary, {title} (n={methods['combined'][subset]['passages']}):")
        lines.append(hdr)
        rows = [
            ("theme micro-F1", lambda s: s["theme_micro"]["f1"]),
            ("theme micro-P", lambda s: s["theme_micro"]["precision"]),
            ("theme micro-R", lambda s: s["theme_micro"]["recall"]),
            ("theme macro-F1", lambda s: s["theme_macro_f1"]),
            ("min theme F1 (support >= 10)", lambda s: s["theme_min_f1_support10"]),
            ("recommendation P", lambda s: s["recommendation"]["precision"]),
            ("recommendation R", lambda s: s["recommendation"]["recall"]),
            ("recommendation F1", lambda s: s["recommendation"]["f1"]),
            ("addressee micro-F1", lambda s: s["addressee_micro"]["f1"]),
            ("agency-mention micro-F1", lambda s: s["agency_mention_micro"]["f1"]),
        ]
        for label, fn in rows:
            vals = []
            for m in methods:
                v = fn(methods[m][subset])
                vals.append(f"{v:12.3f}" if isinstance(v, (int, float)) else f"{'-':>12s}")
            lines.append(f"  {label:34s}" + "".join(vals))
        lines.append("")
    lines.append("Targets (rules + classifier, all test passages): " + ", ".join(
        f"{k} {'met' if v else 'MISSED'}" for k, v in report["targets_met"].items()))
    return "\n".join(lines)
