"""Cross-validate the whole tagger on the labelled set's TRAIN split only (never the test split).

    python bench/cv_tagger.py [--k 5] [--repeats 2] [--set key=value ...] [--errors addressees|recommendation|THEME]

For each fold the models are fitted by `dhr.train.fit` on the other folds (thresholds by an inner
CV), and the held-out fold is tagged exactly as `dhr tag` would. Prints the same figures as
`dhr evaluate`, averaged over repeats. Folds are grouped by document for seed passages (passages
of one real report stay together) so that document-specific words do not leak.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def folds(examples, k, seed):
    import random

    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        key = f"{e.file}#{int(e.id.rsplit('-', 1)[-1]) // 12}" if e.source == "seed" else e.id
        groups.setdefault(key, []).append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    out = [[] for _ in range(k)]
    for n, key in enumerate(keys):
        out[n % k].extend(groups[key])
    return out


def run(k=5, repeats=2, cfg=None, errors=None, method="combined"):
    from dhr import labelled
    from dhr.evaluate import score
    from dhr.tag import LiteModel, Tagger
    from dhr.train import example_item, fit

    ls = labelled.load()
    ex = ls.train  # the test split is never read here
    tagger = Tagger(use_model=False)
    items = [example_item(e) for e in ex]
    analyses = tagger.analyse_docs(items)
    reports = []
    err_rows = []
    for rep in range(repeats):
        preds = [None] * len(ex)
        for va in folds(ex, k, rep):
            vs = set(va)
            tr = [i for i in range(len(ex)) if i not in vs]
            model, _cv = fit(tagger, [analyses[i] for i in tr], [ex[i] for i in tr], cfg, seed=rep)
            tagger.model, tagger.lite = model, LiteModel(model)
            res = tagger.results([items[i] for i in va], [analyses[i] for i in va], method)
            for i, r in zip(va, res):
                preds[i] = r
        subsets = {"all": range(len(ex)), "seed": [i for i, e in enumerate(ex) if e.source == "seed"],
                   "written": [i for i, e in enumerate(ex) if e.source != "seed"]}
        reports.append({n: score([ex[i] for i in idx], [preds[i] for i in idx], tagger.theme_ids)
                        for n, idx in subsets.items()})
        if errors and rep == 0:
            for e, r in zip(ex, preds):
                if errors == "addressees":
                    if set(e.addressees) != set(r["addressees"]):
                        err_rows.append((e, r, f"gold {sorted(e.addressees)} pred {sorted(r['addressees'])} "
                                                f"rec gold={e.is_recommendation} pred={r['is_recommendation']}"))
                elif errors == "recommendation":
                    if e.is_recommendation != r["is_recommendation"]:
                        err_rows.append((e, r, f"gold {e.is_recommendation} score {r['recommendation_score']}"))
                else:
                    g, p = errors in e.themes, any(t["id"] == errors for t in r["themes"])
                    if g != p:
                        err_rows.append((e, r, "FN" if g else "FP"))
    return reports, err_rows


def summary(reports) -> dict:
    import statistics as st

    def avg(f, sub="all"):
        vals = [f(r[sub]) for r in reports]
        return round(st.mean(vals), 3)

    out = {
        "theme_micro_f1": avg(lambda r: r["theme_micro"]["f1"]),
        "theme_micro_p": avg(lambda r: r["theme_micro"]["precision"]),
        "theme_micro_r": avg(lambda r: r["theme_micro"]["recall"]),
        "theme_macro_f1": avg(lambda r: r["theme_macro_f1"]),
        "rec_f1": avg(lambda r: r["recommendation"]["f1"]),
        "rec_p": avg(lambda r: r["recommendation"]["precision"]),
        "rec_r": avg(lambda r: r["recommendation"]["recall"]),
        "addressee_f1": avg(lambda r: r["addressee_micro"]["f1"]),
        "addressee_on_true_recs": avg(lambda r: r["addressee_micro_on_true_recommendations"]["f1"]),
        "seed_theme_micro_f1": avg(lambda r: r["theme_micro"]["f1"], "seed"),
        "seed_rec_f1": avg(lambda r: r["recommendation"]["f1"], "seed"),
        "written_theme_micro_f1": avg(lambda r: r["theme_micro"]["f1"], "written"),
    }
    themes = reports[0]["all"]["themes"]
    out["per_theme_f1"] = {t: avg(lambda r, t=t: r["themes"][t]["f1"]) for t in themes}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--errors")
    ap.add_argument("--method", default="combined")
    a = ap.parse_args()
    cfg = {}
    for kv in a.set:
        key, v = kv.split("=", 1)
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
        cfg[key] = v
    reports, errs = run(a.k, a.repeats, cfg, a.errors, a.method)
    s = summary(reports)
    per = s.pop("per_theme_f1")
    print(json.dumps(s))
    print(" ".join(f"{t[:12]}={v:.2f}" for t, v in sorted(per.items(), key=lambda kv: kv[1])))
    for e, r, why in errs:
        print("-" * 80)
        print(e.id, e.form, why)
        print(e.text[:700].replace("\n", " / "))
        if e.cells:
            print("cells:", e.cells)


if __name__ == "__main__":
    main()
