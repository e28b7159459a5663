"""`dhr train`: fit the theme and recommendation classifiers on the labelled set's TRAIN split.

Two models are fitted and saved together in `models/tagger.joblib`:
- "classifier": TF-IDF word 1-2grams -> one logistic regression per theme and one for
  recommendations (the classifier-alone baseline);
- "combined" (what `dhr tag` uses): a small stacked logistic regression per theme (and one for
  recommendations) over the classifier's out-of-fold log-odds and the codebook rule features
  (for a theme: phrase matches outside and inside reassurance sentences, related-word matches;
  for recommendations: the recommendation cues, heading, table row, subject-addressee flag).
Decision thresholds are chosen by k-fold cross-validation on the train split only.
The test split is never read here. `fit()` is also used by `bench/cv_tagger.py` to
cross-validate the whole tagger on the train split.
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from .config import write_atomic

RULE_SCALE = 1.0
MIN_POSITIVES = 3
DEFAULTS = {
    "C": 4.0,            # TF-IDF logistic regressions
    "stack_C": 1.0,      # stacked (classifier log-odds + rule counts) logistic regressions
    "min_df": 2,
    "stem": True,        # Snowball stems for the word n-grams: +0.02-0.03 classifier-alone micro-F1 in train CV
    "k": 5,              # folds for out-of-fold scores and thresholds
    "shrink": 30.0,      # thresholds from few positives are shrunk toward 0.5
    "combine": "stack",  # "stack": a small LR over (joint log-odds, own rule features); "joint": the joint LR alone
    "char": False,       # char_wb 3-5gram TF-IDF: +0.01 theme micro-F1 in train CV but halves tagging speed
    "char_min_df": 2,
    "char_max_features": 30000,
    "rule_weight": 0.3,  # scale of the rule features inside the joint model
    "C_rec": 4.0,
    "rec_joint": False,
    "seed_weight": 1.0,  # sample weight of passages from real reports (the seed documents)
    "sentence": True,    # themes: the best sentence's log-odds from a sentence-level model as a stack feature  # recommendations: stack the text model with the cues rather than one joint model
}


class _Padded:
    """A fitted text-only model seen as a joint model whose rule-feature weights are zero."""

    def __init__(self, m, n_feat):
        import numpy as np

        self.m = m
        self.coef_ = np.zeros((1, n_feat))
        self.coef_[0, : m.coef_.shape[1]] = m.coef_[0]
        self.intercept_ = m.intercept_

    def predict_proba(self, X):
        return self.m.predict_proba(X[:, : self.m.coef_.shape[1]])


def _fit_lr(X, y, C=4.0, w=None):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=2000)
    clf.fit(X, y, sample_weight=w)
    return clf


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


def _best_threshold(scores, y, shrink: float = 30.0) -> tuple[float, float]:
    import numpy as np

    y = np.asarray(y)
    pos = int(y.sum())
    best_t, best_f = 0.5, 0.0
    for t in np.arange(0.1, 0.951, 0.025):
        p = scores >= t
        tp = float((p & (y == 1)).sum())
        fp = float((p & (y == 0)).sum())
        fn = float((~p & (y == 1)).sum())
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f > best_f + 1e-9:
            best_t, best_f = float(t), f
    # shrink toward 0.5 when positives are few: thresholds from tiny samples are noisy
    w = min(1.0, pos / shrink) if shrink else 1.0
    return round(w * best_t + (1 - w) * 0.5, 3), round(best_f, 3)


def _logit(p):
    import numpy as np

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def example_item(e) -> dict:
    return {"id": e.id, "text": e.text, "cells": e.cells, "label": e.label,
            "kind": "table_row" if e.cells else "paragraph"}


def fit(tagger, analyses, examples, cfg: dict | None = None, seed: int = 0) -> tuple[dict, dict]:
    """Fit both models on (analyses, examples); returns (lite model, cross-validation summary).

    - classifier alone ("text"): word 1-2gram TF-IDF (+ char_wb 3-5gram TF-IDF) -> logistic regression;
    - rules + classifier ("joint"): the same TF-IDF blocks plus every codebook rule feature (scaled)
      in one logistic regression per label; with combine="stack", a second small logistic regression
      over the joint model's out-of-fold log-odds and the label's own rule features.
    """
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .tag import word_terms

    cfg = {**DEFAULTS, **(cfg or {})}
    C, SC, k = cfg["C"], cfg["stack_C"], cfg["k"]
    theme_ids = tagger.theme_ids
    R = tagger.rule_features(analyses) * RULE_SCALE
    texts = [a.text for a in analyses]
    vec = TfidfVectorizer(analyzer=functools.partial(word_terms, stemmed=bool(cfg["stem"])), min_df=cfg["min_df"],
                          max_df=0.9, sublinear_tf=True, max_features=40000, dtype=np.float32)
    blocks = [vec.fit_transform(texts)]
    cvec = None
    if cfg["char"]:
        cvec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=cfg["char_min_df"], sublinear_tf=True,
                               strip_accents="unicode", max_features=cfg["char_max_features"], dtype=np.float32)
        blocks.append(cvec.fit_transform(texts))
    Xt = sp.hstack(blocks).tocsr()
    Xj = sp.hstack(blocks + [sp.csr_matrix(R * cfg["rule_weight"])]).tocsr()
    Y = {tid: np.array([int(tid in e.themes) for e in examples]) for tid in theme_ids}
    Y["_rec"] = np.array([int(e.is_recommendation) for e in examples])
    # passages of real published reports count more: they are what the tagger is for, and few
    wt = np.array([cfg["seed_weight"] if e.source == "seed" else 1.0 for e in examples])
    n_t = len(theme_ids)
    rec_cols = list(range(3 * n_t, R.shape[1]))
    cols = {tid: [3 * j, 3 * j + 1, 3 * j + 2] for j, tid in enumerate(theme_ids)}
    cols["_rec"] = rec_cols

    def lr_oof(X, y, s):
        return _oof(lambda tr, va: _fit_lr(X[tr], y[tr], C, wt[tr]).predict_proba(X[va])[:, 1], y, k, s)

    # sentence level: every sentence inherits its passage's labels; a passage's feature is its best sentence
    sentences = [a.sentences() for a in analyses]
    owner = np.repeat(np.arange(len(texts)), [len(x) for x in sentences])
    Xs = vec.transform([t for x in sentences for t in x]).tocsr() if cfg["sentence"] else None

    def best_of(z, rows):
        """Each passage's highest sentence score, given the scores z of the sentences of `rows` in order."""
        pos = {r: i for i, r in enumerate(rows)}
        out = np.full(len(rows), -np.inf)
        np.maximum.at(out, [pos[o] for o in owner[np.isin(owner, rows)]], z)
        return out

    def sentence_oof(y, s):
        def fit_predict(tr, va):
            rows = owner[np.isin(owner, tr)]
            m = _fit_lr(Xs[np.isin(owner, tr)], y[rows], C, wt[rows])
            return best_of(m.decision_function(Xs[np.isin(owner, va)]), va)
        return _oof(fit_predict, y, k, s)

    cv: dict = {"classifier": {}, "combined": {}}
    text_models, joint_models, stack_models, thr_text, thr_comb, sent_models = {}, {}, {}, {}, {}, {}
    for tid in theme_ids + ["_rec"]:
        y = Y[tid]
        if tid != "_rec" and y.sum() < MIN_POSITIVES:
            continue
        cw = cfg["C_rec"] if tid == "_rec" else C
        text_models[tid] = _fit_lr(Xt, y, cw, wt)
        oof_t = lr_oof(Xt, y, seed)
        thr_text[tid], f = _best_threshold(oof_t, y, cfg["shrink"])
        cv["classifier"][tid] = {"threshold": thr_text[tid], "cv_f1": f}
        if tid == "_rec" and not cfg["rec_joint"]:
            # recommendations: the text model's log-odds + the recommendation cues (stacked below)
            joint_models[tid] = _Padded(text_models[tid], Xj.shape[1])
            oof_j = oof_t
        else:
            joint_models[tid] = _fit_lr(Xj, y, cw, wt)
            oof_j = lr_oof(Xj, y, seed)
        if cfg["combine"] == "stack":
            feats = [_logit(oof_j)[:, None]]
            if Xs is not None and tid != "_rec":
                sent_models[tid] = _fit_lr(Xs, y[owner], C, wt[owner])
                feats.append(sentence_oof(y, seed + 2)[:, None])
            S = np.hstack(feats + [R[:, cols[tid]]])
            stack_models[tid] = _fit_lr(S, y, SC, wt)
            oof_s = _oof(lambda tr, va, y=y, S=S: _fit_lr(S[tr], y[tr], SC, wt[tr]).predict_proba(S[va])[:, 1],
                         y, k, seed + 1)
        else:
            oof_s = oof_j
        thr_comb[tid], f = _best_threshold(oof_s, y, cfg["shrink"])
        cv["combined"][tid] = {"threshold": thr_comb[tid], "cv_f1": f}

    ids = [t for t in theme_ids if t in text_models]

    def pack(models, n_feat):
        W = np.zeros((n_feat, len(ids) + 1), dtype=np.float32)
        b = np.zeros(len(ids) + 1, dtype=np.float64)
        for j, tid in enumerate(ids + ["_rec"]):
            if tid in models:  # the sentence level has no recommendation model: its column stays zero
                W[:, j] = models[tid].coef_[0]
                b[j] = models[tid].intercept_[0]
        return {"ids": ids, "W": W, "b": b}

    # words that carry each theme, for evidence when no codebook phrase matched
    vocab = np.array(vec.get_feature_names_out())
    text = pack(text_models, Xt.shape[1])
    terms = {}
    for j, tid in enumerate(ids):
        coef = text["W"][: len(vocab), j]
        top = [vocab[i] for i in np.argsort(-coef)[:60] if coef[i] > 0 and " " not in vocab[i]]
        terms[tid] = set(top[:40])

    lite = {
        "format": "lite-2",
        "theme_ids": theme_ids,
        "codebook_sha": tagger.codebook.sha,
        "agencies_sha": tagger.agency_file.sha,
        "rule_scale": RULE_SCALE,
        "rule_weight": cfg["rule_weight"],
        "config": cfg,
        "vocabulary": {str(t): int(i) for t, i in vec.vocabulary_.items()},
        "idf": vec.idf_.astype(np.float32),
        "char_vocabulary": {str(t): int(i) for t, i in cvec.vocabulary_.items()} if cvec else {},
        "char_idf": cvec.idf_.astype(np.float32) if cvec else np.zeros(0, dtype=np.float32),
        "text": text,
        "joint": pack(joint_models, Xj.shape[1]),
        "classifier": {"thresholds": {t: thr_text[t] for t in ids}, "rec_threshold": thr_text["_rec"]},
        "combined": {
            "mode": cfg["combine"],
            "thresholds": {t: thr_comb[t] for t in ids}, "rec_threshold": thr_comb["_rec"],
            "columns": {t: cols[t] for t in ids}, "rec_columns": rec_cols,
            "stack": {t: (stack_models[t].coef_[0].astype(np.float64), float(stack_models[t].intercept_[0]))
                      for t in ids if t in stack_models},
            "rec_stack": ((stack_models["_rec"].coef_[0].astype(np.float64), float(stack_models["_rec"].intercept_[0]))
                          if "_rec" in stack_models else None),
        },
        "evidence_terms": terms,
        **({"sentence": pack(sent_models, Xt.shape[1] - (len(cvec.vocabulary_) if cvec else 0))} if Xs is not None else {}),
        "trained_on": {"passages": len(examples), "by_source": _count(e.source for e in examples)},
        "trained_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    # the plain-numpy model must give the same probabilities as scikit-learn
    from .tag import LiteModel

    lm = LiteModel(lite)
    check = list(range(min(50, len(texts))))
    ref = joint_models["_rec"].predict_proba(Xj[check])[:, 1]
    got = lm.scores([texts[i] for i in check], R[check], "joint")[1]
    assert np.allclose(ref, got, atol=1e-4), float(np.abs(ref - got).max())
    ref = text_models[ids[0]].predict_proba(Xt[check])[:, 1]
    got = lm.scores([texts[i] for i in check], None, "text")[0][:, 0]
    assert np.allclose(ref, got, atol=1e-4), float(np.abs(ref - got).max())
    if Xs is not None:
        rows = np.isin(owner, check)
        ref = best_of(sent_models[ids[0]].decision_function(Xs[rows]), check)
        got = lm.best_sentence([analyses[i] for i in check])[:, 0]
        assert np.allclose(ref, got, atol=1e-3), float(np.abs(ref - got).max())
    return lite, cv


def train(codebook=None, models_dir=None, labelled_dir=None, cfg: dict | None = None, verbose: bool = True) -> dict:
    import joblib

    from . import labelled
    from .tag import MODEL_FILE, Tagger, default_models_dir

    t0 = time.time()
    ls = labelled.load(labelled_dir)
    train_set = ls.train
    if not train_set:
        raise SystemExit("no labelled training passages found")
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    tagger = Tagger(codebook, models_dir, use_model=False)
    analyses = tagger.analyse_docs([example_item(e) for e in train_set])
    model, cv = fit(tagger, analyses, train_set, cfg)

    path = write_atomic(models_dir / MODEL_FILE, lambda fh: joblib.dump(model, fh, compress=3))
    summary = {
        "model": str(path),
        "size_bytes": path.stat().st_size,
        "train_passages": len(train_set),
        "by_source": model["trained_on"]["by_source"],
        "config": model["config"],
        "notes": ls.notes,
        "cv": cv,
        "seconds": round(time.time() - t0, 1),
    }
    write_atomic(models_dir / "training.json", (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
    return summary


def _count(it) -> dict:
    out: dict = {}
    for x in it:
        out[x] = out.get(x, 0) + 1
    return out
