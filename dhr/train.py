"""`dhr train`: fit the theme and recommendation classifiers on the labelled set's TRAIN split.

Two models are fitted and saved together in `models/tagger.joblib`:
- "classifier": TF-IDF word 1-2grams -> one logistic regression per theme and one for
  recommendations (the classifier-alone baseline);
- "combined": the same TF-IDF features plus the codebook rule features (per theme: phrase
  matches outside and inside reassurance sentences; recommendation cues) -> the same models.
  This is what `dhr tag` uses.
Per-theme decision thresholds are chosen by 5-fold cross-validation on the train split only.
The test split is never read here.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

RULE_SCALE = 1.0
MIN_POSITIVES = 3


def _fit_lr(X, y, C=4.0):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=2000)
    clf.fit(X, y)
    return clf


TEXT_WEIGHT = 0.5
RULE_C = 1.0


def _oof(fit_predict, y, k: int = 5, seed: int = 0):
    """Out-of-fold scores on the train split (stratified k-fold)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    k = max(2, min(k, int(y.sum()), int(len(y) - y.sum())))
    oof = np.zeros(len(y))
    for tr, va in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        oof[va] = fit_predict(tr, va)
    return oof


def _best_threshold(scores, y) -> tuple[float, float]:
    import numpy as np

    y = np.asarray(y)
    pos = int(y.sum())
    best_t, best_f = 0.5, 0.0
    for t in np.arange(0.2, 0.81, 0.025):
        p = scores >= t
        tp = float((p & (y == 1)).sum())
        fp = float((p & (y == 0)).sum())
        fn = float((~p & (y == 1)).sum())
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f > best_f + 1e-9:
            best_t, best_f = float(t), f
    # shrink toward 0.5 when positives are few: thresholds from tiny samples are noisy
    w = min(1.0, pos / 30.0)
    return round(w * best_t + (1 - w) * 0.5, 3), round(best_f, 3)


def example_item(e) -> dict:
    return {"id": e.id, "text": e.text, "cells": e.cells, "label": e.label,
            "kind": "table_row" if e.cells else "paragraph"}


def train(codebook=None, models_dir=None, labelled_dir=None, C: float = 4.0, verbose: bool = True) -> dict:
    import joblib
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from . import labelled
    from .tag import MODEL_FILE, Tagger, default_models_dir

    t0 = time.time()
    ls = labelled.load(labelled_dir)
    train_set = ls.train
    if not train_set:
        raise SystemExit("no labelled training passages found")
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    tagger = Tagger(codebook, models_dir, use_model=False)
    theme_ids = tagger.theme_ids
    items = [example_item(e) for e in train_set]
    analyses = tagger.analyse_docs(items)
    R = tagger.rule_features(analyses) * RULE_SCALE
    texts = [a.text for a in analyses]
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True, strip_accents="unicode",
                          max_features=40000, dtype=np.float32)
    Xt = vec.fit_transform(texts).tocsr()
    Y = {tid: np.array([int(tid in e.themes) for e in train_set]) for tid in theme_ids}
    yrec = np.array([int(e.is_recommendation) for e in train_set])

    model = {
        "theme_ids": theme_ids,
        "codebook_sha": tagger.codebook.sha,
        "agencies_sha": tagger.agency_file.sha,
        "vectorizer": vec,
        "rule_scale": RULE_SCALE,
        "trained_on": {"passages": len(train_set), "by_source": _count(e.source for e in train_set)},
        "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    cv = {}
    n_t = len(theme_ids)
    rec_cols = list(range(3 * n_t, R.shape[1]))
    theme_cols = {tid: [3 * j, 3 * j + 1, 3 * j + 2] for j, tid in enumerate(theme_ids)}
    # classifier alone: TF-IDF -> logistic regression
    part = {"themes": {}, "thresholds": {}}
    oof_text = {}
    for tid in theme_ids:
        y = Y[tid]
        if y.sum() < MIN_POSITIVES:
            continue
        part["themes"][tid] = _fit_lr(Xt, y, C)
        oof_text[tid] = _oof(lambda tr, va, y=y: _fit_lr(Xt[tr], y[tr], C).predict_proba(Xt[va])[:, 1], y)
        part["thresholds"][tid], f = _best_threshold(oof_text[tid], y)
        cv.setdefault("classifier", {})[tid] = {"threshold": part["thresholds"][tid], "cv_f1": f}
    part["rec"] = _fit_lr(Xt, yrec, C)
    oof_text["_rec"] = _oof(lambda tr, va: _fit_lr(Xt[tr], yrec[tr], C).predict_proba(Xt[va])[:, 1], yrec)
    part["rec_threshold"], f = _best_threshold(oof_text["_rec"], yrec)
    cv.setdefault("classifier", {})["_recommendation"] = {"threshold": part["rec_threshold"], "cv_f1": f}
    model["classifier"] = part

    # rules + classifier: average of the TF-IDF model and a small model on the theme's own rule counts
    part = {"themes": {}, "rule_models": {}, "thresholds": {}, "columns": theme_cols, "rec_columns": rec_cols,
            "weight": TEXT_WEIGHT}
    for tid in theme_ids:
        y = Y[tid]
        if tid not in oof_text:
            continue
        cols = theme_cols[tid]
        Rt = R[:, cols]
        part["themes"][tid] = model["classifier"]["themes"][tid]
        part["rule_models"][tid] = _fit_lr(Rt, y, RULE_C)
        oof_rule = _oof(lambda tr, va, y=y, Rt=Rt: _fit_lr(Rt[tr], y[tr], RULE_C).predict_proba(Rt[va])[:, 1], y)
        comb = TEXT_WEIGHT * oof_text[tid] + (1 - TEXT_WEIGHT) * oof_rule
        part["thresholds"][tid], f = _best_threshold(comb, y)
        cv.setdefault("combined", {})[tid] = {"threshold": part["thresholds"][tid], "cv_f1": f}
    Rr = R[:, rec_cols]
    part["rec"] = model["classifier"]["rec"]
    part["rec_rule"] = _fit_lr(Rr, yrec, RULE_C)
    oof_rule = _oof(lambda tr, va: _fit_lr(Rr[tr], yrec[tr], RULE_C).predict_proba(Rr[va])[:, 1], yrec)
    comb = TEXT_WEIGHT * oof_text["_rec"] + (1 - TEXT_WEIGHT) * oof_rule
    part["rec_threshold"], f = _best_threshold(comb, yrec)
    cv.setdefault("combined", {})["_recommendation"] = {"threshold": part["rec_threshold"], "cv_f1": f}
    model["combined"] = part

    # words that carry each theme, for evidence when no codebook phrase matched
    vocab = np.array(vec.get_feature_names_out())
    n_text = len(vocab)
    terms = {}
    for tid, clf in model["classifier"]["themes"].items():
        coef = clf.coef_[0][:n_text]
        top = [vocab[i] for i in np.argsort(-coef)[:60] if coef[i] > 0 and " " not in vocab[i]]
        terms[tid] = set(top[:40])
    model["evidence_terms"] = terms

    lite = to_lite(model)
    # the plain-numpy model must give the same probabilities as scikit-learn
    from .tag import LiteModel

    lm = LiteModel(lite)
    check = texts[:50]
    Xs = vec.transform(check)
    ref = model["classifier"]["rec"].predict_proba(Xs)[:, 1]
    got = lm.text_scores(check, "classifier")[1]
    assert np.allclose(ref, got, atol=1e-4), float(np.abs(ref - got).max())
    model = lite

    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / MODEL_FILE
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    summary = {
        "model": str(path),
        "size_bytes": path.stat().st_size,
        "train_passages": len(train_set),
        "by_source": model["trained_on"]["by_source"],
        "notes": ls.notes,
        "cv": cv,
        "seconds": round(time.time() - t0, 1),
    }
    (models_dir / "training.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def to_lite(model: dict) -> dict:
    """The saved model: plain numpy arrays and dicts, so tagging never imports scikit-learn or scipy."""
    import numpy as np

    vec = model["vectorizer"]
    n_feat = len(vec.vocabulary_)
    lite = {k: v for k, v in model.items() if k not in ("vectorizer", "classifier", "combined")}
    lite["format"] = "lite-1"
    lite["vocabulary"] = {str(k): int(v) for k, v in vec.vocabulary_.items()}
    lite["idf"] = vec.idf_.astype(np.float32)
    for name in ("classifier", "combined"):
        part = model[name]
        ids = list(part["themes"])
        W = np.zeros((n_feat, len(ids) + 1), dtype=np.float32)
        b = np.zeros(len(ids) + 1, dtype=np.float64)
        for j, tid in enumerate(ids):
            W[:, j] = part["themes"][tid].coef_[0][:n_feat]
            b[j] = part["themes"][tid].intercept_[0]
        W[:, -1] = part["rec"].coef_[0][:n_feat]
        b[-1] = part["rec"].intercept_[0]
        out = {"ids": ids, "W": W, "b": b, "thresholds": part["thresholds"], "rec_threshold": part["rec_threshold"]}
        if name == "combined":
            out["weight"] = part["weight"]
            out["columns"] = part["columns"]
            out["rec_columns"] = part["rec_columns"]
            out["rule_models"] = {tid: (m.coef_[0].astype(np.float64), float(m.intercept_[0]))
                                  for tid, m in part["rule_models"].items()}
            out["rec_rule"] = (part["rec_rule"].coef_[0].astype(np.float64), float(part["rec_rule"].intercept_[0]))
        lite[name] = out
    return lite


def _count(it) -> dict:
    out: dict = {}
    for x in it:
        out[x] = out.get(x, 0) + 1
    return out
