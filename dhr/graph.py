"""Who is asked to act on what: recommendations as a network, and recommendations that recur.

Two things are built from the tagged passages (`Store.tagged_passages()` dicts):

* `build_graph`: a networkx graph linking agencies (the addressees of recommendations)
  to themes. A node's `size` is the number of recommendations behind it; an edge's
  `weight` is the number of recommendations addressed to that agency that carry that
  theme. When the recommendations are few (after filtering), each becomes a node of its
  own, linked to its addressees and themes. Every node and edge keeps the
  `passage_ids` of the recommendations behind it, so any part of the drawing can be
  traced back to the text.

* `recurring_recommendations`: near-duplicate recommendations made to the same agency
  by different reviews (TF-IDF cosine similarity over the recommendation text), grouped.
  A group spanning several reviews and years is evidence that a lesson was identified
  again and again but not embedded.

Nothing here reads the store or the network; both functions take plain dicts.
"""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

AGENCY, THEME, RECOMMENDATION = "agency", "theme", "recommendation"


def node_id(kind: str, key: str) -> str:
    """The graph's node name for an agency id, theme id or recommendation passage id."""
    prefix = {AGENCY: "agency", THEME: "theme", RECOMMENDATION: "rec"}[kind]
    return f"{prefix}:{key}"


def _theme_ids(passage: dict) -> list[str]:
    return [t["id"] if isinstance(t, dict) else t for t in passage.get("themes") or []]


def _in_years(year, years) -> bool:
    if not years:
        return True
    lo, hi = years
    if year is None:
        return False
    return (lo is None or year >= lo) and (hi is None or year <= hi)


def select_recommendations(
    passages: Iterable[dict],
    *,
    agencies: Sequence[str] | None = None,
    themes: Sequence[str] | None = None,
    years: tuple[int | None, int | None] | None = None,
    doc_types: Sequence[str] | None = None,
    areas: Sequence[str] | None = None,
    doc_ids: Sequence[str] | None = None,
) -> list[dict]:
    """The recommendation passages that match every given filter.

    `agencies` keeps recommendations addressed to any of them; `themes` keeps those
    carrying any of them; an empty or None filter keeps everything.
    """
    agencies, themes = set(agencies or ()), set(themes or ())
    doc_types, areas, doc_ids = set(doc_types or ()), set(areas or ()), set(doc_ids or ())
    out = []
    for p in passages:
        if not p.get("is_recommendation"):
            continue
        if agencies and not agencies.intersection(p.get("addressees") or ()):
            continue
        if themes and not themes.intersection(_theme_ids(p)):
            continue
        if not _in_years(p.get("year"), years):
            continue
        if doc_types and p.get("doc_type") not in doc_types:
            continue
        if areas and p.get("area") not in areas:
            continue
        if doc_ids and p.get("doc_id") not in doc_ids:
            continue
        out.append(p)
    return out


def build_graph(
    recommendations: Iterable[dict],
    *,
    agency_names: dict[str, str] | None = None,
    theme_names: dict[str, str] | None = None,
    include_recommendations: bool | None = None,
    max_recommendation_nodes: int = 25,
) -> nx.Graph:
    """The agencies ↔ themes graph of these recommendations (see the module docstring).

    `recommendations` are tagged passage dicts (filter them first with
    `select_recommendations`). Agency nodes count the recommendations addressed to the
    agency; theme nodes count the recommendations carrying the theme (addressed or not).
    `include_recommendations=None` adds recommendation nodes only when there are at most
    `max_recommendation_nodes` of them.
    """
    recs = [r for r in recommendations if r.get("is_recommendation", True)]
    agency_names, theme_names = agency_names or {}, theme_names or {}
    if include_recommendations is None:
        include_recommendations = 0 < len(recs) <= max_recommendation_nodes

    g = nx.Graph(recommendations=len(recs))
    node_pids: dict[str, set[str]] = defaultdict(set)
    edge_pids: dict[tuple[str, str], set[str]] = defaultdict(set)

    for r in recs:
        pid = r["passage_id"]
        a_nodes = [node_id(AGENCY, a) for a in dict.fromkeys(r.get("addressees") or ()) if a]
        t_nodes = [node_id(THEME, t) for t in dict.fromkeys(_theme_ids(r)) if t]
        for n in a_nodes + t_nodes:
            node_pids[n].add(pid)
        for a in a_nodes:
            for t in t_nodes:
                edge_pids[(a, t)].add(pid)
        if include_recommendations:
            rn = node_id(RECOMMENDATION, pid)
            node_pids[rn].add(pid)
            for n in a_nodes + t_nodes:
                edge_pids[(rn, n)].add(pid)

    by_pid = {r["passage_id"]: r for r in recs}
    for n, pids in node_pids.items():
        kind_prefix, key = n.split(":", 1)
        if kind_prefix == "agency":
            kind, label = AGENCY, agency_names.get(key, key)
        elif kind_prefix == "theme":
            kind, label = THEME, theme_names.get(key, key)
        else:
            kind, r = RECOMMENDATION, by_pid[key]
            label = _rec_label(r)
        g.add_node(n, kind=kind, key=key, label=label, size=len(pids), passage_ids=sorted(pids))
    for (u, v), pids in edge_pids.items():
        g.add_edge(u, v, weight=len(pids), passage_ids=sorted(pids))
    return g


def _rec_label(r: dict) -> str:
    label = r.get("recommendation_label") or r.get("label") or ""
    title = r.get("title") or r.get("doc_id") or ""
    year = r.get("year")
    short = f"{title[:40]}{'…' if len(title) > 40 else ''}"
    bits = [b for b in (short, str(year) if year else "", label) if b]
    return " · ".join(bits)


def layout(g: nx.Graph, seed: int = 7, kind: str = "spring") -> dict[str, tuple[float, float]]:
    """Deterministic 2-D positions in [-1, 1] for drawing `g`: "spring" or "columns".

    "columns": agencies in a left column, themes in a right one (recommendations, when
    present, in the middle), each column ordered to keep linked nodes level (barycentre
    ordering), which keeps the drawing readable however dense the links.

    "spring":
    Each connected piece gets its own spring layout (edge weights pull, log-scaled so one
    heavy edge does not collapse the picture), sized by its number of nodes; the pieces are
    then packed in rows, largest first, so small islands do not squeeze the main network.
    """
    if g.number_of_nodes() == 0:
        return {}
    if kind == "columns":
        return columns_layout(g)
    comps = sorted((sorted(c) for c in nx.connected_components(g)), key=lambda c: (-len(c), c[0]))
    boxes = []  # (nodes' positions in a unit box, side length)
    for comp in comps:
        side = math.sqrt(len(comp))
        if len(comp) == 1:
            boxes.append(({comp[0]: (0.5, 0.5)}, side))
            continue
        h = nx.Graph()
        h.add_nodes_from(comp)
        for u, v, d in sorted(g.subgraph(comp).edges(data=True), key=lambda e: (e[0], e[1])):
            h.add_edge(u, v, w=1.0 + math.log1p(d.get("weight", 1)))
        pos = nx.spring_layout(h, weight="w", seed=seed, k=1.8 / math.sqrt(len(comp)), iterations=200)
        xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
        span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
        boxes.append(({n: (0.08 + 0.84 * (x - min(xs)) / span, 0.08 + 0.84 * (y - min(ys)) / span)
                       for n, (x, y) in pos.items()}, side))
    row_width = max(boxes[0][1], math.sqrt(sum(b[1] ** 2 for b in boxes)) * 1.15)
    out: dict[str, tuple[float, float]] = {}
    x0 = y0 = row_h = 0.0
    for pos, side in boxes:
        if x0 > 0 and x0 + side > row_width + 1e-9:
            x0, y0, row_h = 0.0, y0 + row_h, 0.0
        for n, (x, y) in pos.items():
            out[n] = (x0 + x * side, -(y0 + (1 - y) * side))
        x0 += side
        row_h = max(row_h, side)
    xs, ys = [p[0] for p in out.values()], [p[1] for p in out.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return {n: (float((x - cx) * 2 / span), float((y - cy) * 2 / span)) for n, (x, y) in out.items()}


def columns_layout(g: nx.Graph, sweeps: int = 4) -> dict[str, tuple[float, float]]:
    """Agencies left, recommendations middle, themes right; see `layout`."""
    cols = {k: sorted((n for n, d in g.nodes(data=True) if d["kind"] == k),
                      key=lambda n: (-g.nodes[n]["size"], n)) for k in (AGENCY, RECOMMENDATION, THEME)}
    present = [k for k in (AGENCY, RECOMMENDATION, THEME) if cols[k]]
    xs = {1: [0.0], 2: [-0.5, 0.5], 3: [-0.6, 0.0, 0.6]}[len(present)]
    x_of = dict(zip(present, xs))

    def rank(col: list[str]) -> dict[str, float]:
        n = len(col)
        return {v: (i / (n - 1) if n > 1 else 0.5) for i, v in enumerate(col)}

    def reorder(col: list[str], fixed: dict[str, float]) -> list[str]:
        def bary(v):
            ws = [(fixed[u], g[v][u].get("weight", 1)) for u in g[v] if u in fixed]
            total = sum(w for _, w in ws)
            return sum(r * w for r, w in ws) / total if total else 2.0
        return sorted(col, key=lambda v: (bary(v), -g.nodes[v]["size"], v))

    order = [cols[k] for k in present]
    for _ in range(sweeps):  # down and up sweeps: each column follows its neighbours
        for i in range(1, len(order)):
            order[i] = reorder(order[i], rank(order[i - 1]))
        for i in range(len(order) - 2, -1, -1):
            order[i] = reorder(order[i], rank(order[i + 1]))
    pos = {}
    for k, col in zip(present, order):
        n = len(col)
        for i, v in enumerate(col):
            pos[v] = (x_of[k], 1.0 - 2.0 * i / (n - 1) if n > 1 else 0.0)
    return pos


def graph_tables(g: nx.Graph, pos: dict[str, tuple[float, float]] | None = None) -> tuple[list[dict], list[dict]]:
    """Rows for drawing: (nodes, edges), each row keeping its passage ids.

    Node rows: node, kind, key, label, size, x, y, passage_ids.
    Edge rows: edge, source, target, source_label, target_label, weight, x, y, x2, y2,
    xm, ym (midpoint), passage_ids.
    """
    pos = pos if pos is not None else layout(g)
    nodes = []
    for n, d in g.nodes(data=True):
        x, y = pos.get(n, (0.0, 0.0))
        nodes.append({"node": n, "kind": d["kind"], "key": d["key"], "label": d["label"], "size": d["size"],
                      "x": x, "y": y, "passage_ids": list(d["passage_ids"])})
    edges = []
    for u, v, d in g.edges(data=True):
        # agency first, then theme, then recommendation, whatever order networkx keeps
        order = {AGENCY: 0, THEME: 1, RECOMMENDATION: 2}
        if order[g.nodes[u]["kind"]] > order[g.nodes[v]["kind"]]:
            u, v = v, u
        (x, y), (x2, y2) = pos.get(u, (0.0, 0.0)), pos.get(v, (0.0, 0.0))
        edges.append({"edge": f"{u}|{v}", "source": u, "target": v,
                      "source_label": g.nodes[u]["label"], "target_label": g.nodes[v]["label"],
                      "weight": d["weight"], "x": x, "y": y, "x2": x2, "y2": y2,
                      "xm": (x + x2) / 2, "ym": (y + y2) / 2, "passage_ids": list(d["passage_ids"])})
    nodes.sort(key=lambda r: (-r["size"], r["node"]))
    edges.sort(key=lambda r: (-r["weight"], r["edge"]))
    return nodes, edges


# ---- recurring recommendations ------------------------------------------------------

_EXTRA_STOP = {
    "recommend", "recommends", "recommended", "recommendation", "recommendations", "ensure", "ensures",
    "should", "review", "reviews", "panel", "dhr", "dhrs", "agency", "agencies", "partners", "local", "area",
}
_LABEL = re.compile(r"^\s*(recommendation\s*)?\(?\d+(\.\d+)*[.):]?\s*", re.IGNORECASE)


@dataclass
class RecurringGroup:
    """Near-duplicate recommendations to one agency from at least two reviews."""

    agency: str
    passage_ids: list[str]
    doc_ids: list[str]
    years: list[int]
    representative: str          # passage id of the member closest to all the others
    similarity: float            # mean pairwise cosine similarity inside the group
    terms: list[str] = field(default_factory=list)   # the words the members share most

    @property
    def year_span(self) -> int:
        return (max(self.years) - min(self.years)) if self.years else 0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["year_span"] = self.year_span
        return d


def _clean(text: str) -> str:
    return _LABEL.sub("", text or "")


class RecurrenceFinder:
    """Near-duplicate recommendations to the same agency, computed once, grouped at any threshold.

    Fits TF-IDF (words and word pairs) on all the recommendations given, and for each agency
    keeps every pair of its recommendations from *different* documents whose cosine similarity
    is at least `floor`. `groups(threshold)` then only filters those pairs: moving a threshold
    slider costs milliseconds, not a new comparison.
    """

    def __init__(self, recommendations: Iterable[dict], *, floor: float = 0.2,
                 agencies: Sequence[str] | None = None, max_per_agency: int = 5000):
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

        self.recs = [r for r in recommendations
                     if r.get("is_recommendation", True) and (r.get("text") or "").strip()]
        self.floor = floor
        self.pairs: dict[str, list[tuple[int, int, float]]] = {}
        self._vectors = None
        self._vocab = []
        if len(self.recs) < 2:
            return
        vec = TfidfVectorizer(
            stop_words=sorted(ENGLISH_STOP_WORDS | _EXTRA_STOP), ngram_range=(1, 2), sublinear_tf=True,
            token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", min_df=1, dtype=np.float32,
        )
        try:
            X = vec.fit_transform([_clean(r["text"]) for r in self.recs]).tocsr()
        except ValueError:  # nothing but stop words
            return
        self._vectors, self._vocab = X, vec.get_feature_names_out()
        # keep what grouping reads, not the texts: the finder is cached on disk by the explorer
        self.recs = [{k: r.get(k) for k in self._KEPT} for r in self.recs]
        wanted = set(agencies or ())
        by_agency: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(self.recs):
            for a in dict.fromkeys(r.get("addressees") or ()):
                if a and (not wanted or a in wanted):
                    by_agency[a].append(i)
        docs = [r.get("doc_id") for r in self.recs]
        doc_code = np.unique(np.array([str(d) for d in docs], dtype=object), return_inverse=True)[1]
        for agency, idx in sorted(by_agency.items()):
            if len({docs[i] for i in idx}) < 2:
                continue
            idx = np.asarray(idx[:max_per_agency], dtype=np.int64)
            sub = X[idx]
            found_i, found_j, found_s = [], [], []
            for start in range(0, len(idx), 1000):
                # only the upper triangle: rows start.. against columns start.. (j > i below)
                block = (sub[start:start + 1000] @ sub[start:].T).tocoo()
                i = idx[start + block.row]
                j = idx[start + block.col]
                keep = (block.data >= floor) & (block.col > block.row) & (doc_code[i] != doc_code[j])
                found_i.append(i[keep])
                found_j.append(j[keep])
                found_s.append(block.data[keep].astype(np.float64))
            self.pairs[agency] = (np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s))

    _KEPT = ("passage_id", "doc_id", "year", "addressees")

    def save(self, fh) -> None:
        """Write the comparison as plain arrays (numpy's npz, no pickle): the explorer keeps it
        on disk, and loading a data directory must never run code from it."""
        agencies = sorted(self.pairs)
        arrays = {
            "meta": np.array(json.dumps({"floor": self.floor, "agencies": agencies,
                                         "recs": [{k: r.get(k) for k in self._KEPT} for r in self.recs]})),
            "vocab": np.array("\n".join(map(str, self._vocab))),  # terms are letters and spaces only
        }
        X = self._vectors
        if X is not None:
            arrays.update(X_data=X.data, X_indices=X.indices, X_indptr=X.indptr, X_shape=np.array(X.shape))
        for n, agency in enumerate(agencies):
            arrays[f"pairs{n}_i"], arrays[f"pairs{n}_j"], arrays[f"pairs{n}_s"] = self.pairs[agency]
        np.savez(fh, **arrays)

    @classmethod
    def load(cls, path) -> "RecurrenceFinder":
        from scipy.sparse import csr_matrix

        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            finder = object.__new__(cls)
            finder.floor, finder.recs = meta["floor"], meta["recs"]
            vocab = str(z["vocab"])
            finder._vocab = np.array(vocab.split("\n") if vocab else [], dtype=object)
            finder._vectors = (csr_matrix((z["X_data"], z["X_indices"], z["X_indptr"]), shape=tuple(z["X_shape"]))
                               if "X_data" in z.files else None)
            finder.pairs = {a: (z[f"pairs{n}_i"], z[f"pairs{n}_j"], z[f"pairs{n}_s"])
                            for n, a in enumerate(meta["agencies"])}
        return finder

    def restricted(self, passage_ids: Iterable[str]) -> "RecurrenceFinder":
        """The same comparison seen through a filter: only pairs whose two recommendations are
        both among `passage_ids` (similarities stay those of the whole collection, so a
        filter never changes how alike two recommendations are said to be)."""
        wanted = set(passage_ids)
        keep = np.array([r["passage_id"] in wanted for r in self.recs], dtype=bool)
        view = object.__new__(RecurrenceFinder)
        view.__dict__.update(self.__dict__)
        view.pairs = {}
        for agency, (pi, pj, ps) in self.pairs.items():
            both = keep[pi] & keep[pj]
            if both.any():
                view.pairs[agency] = (pi[both], pj[both], ps[both])
        return view

    def groups(self, threshold: float = 0.4, min_documents: int = 2) -> list["RecurringGroup"]:
        """Connected groups of pairs with similarity >= threshold spanning >= min_documents documents,
        the widest spread of years and documents first."""
        if threshold < self.floor - 1e-9:
            raise ValueError(f"threshold {threshold} is below the floor {self.floor} these pairs were found at")
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        recs, X, out = self.recs, self._vectors, []
        for agency, (pi, pj, ps) in self.pairs.items():
            keep = ps >= threshold
            if not keep.any():
                continue
            pi, pj = pi[keep], pj[keep]
            nodes, inv = np.unique(np.concatenate([pi, pj]), return_inverse=True)
            adj = coo_matrix((np.ones(len(pi), dtype=np.int8), (inv[:len(pi)], inv[len(pi):])),
                             shape=(len(nodes), len(nodes)))
            _, label = connected_components(adj, directed=False)
            order = np.argsort(label, kind="stable")
            cuts = np.flatnonzero(np.diff(label[order])) + 1
            for comp in np.split(nodes[order], cuts):
                members = sorted(int(m) for m in comp)
                member_docs = {recs[m]["doc_id"] for m in members}
                if len(member_docs) < min_documents:
                    continue
                m_vecs = X[members]
                n = len(members)
                # without the n x n similarity matrix (a group can have thousands of members):
                # row sums of M M^T are M (sum of rows); its trace is the sum of squared norms
                weights = np.asarray(m_vecs.sum(axis=0), dtype=np.float64).ravel()
                row_sums = np.asarray(m_vecs @ weights).ravel()
                trace = float(m_vecs.multiply(m_vecs).sum())
                mean_sim = float((row_sums.sum() - trace) / (n * (n - 1))) if n > 1 else 1.0
                rep = members[int(row_sums.argmax())]
                top = [str(self._vocab[k]) for k in weights.argsort()[::-1][:6] if weights[k] > 0]
                by_year = sorted(members, key=lambda m: (recs[m].get("year") or 0, recs[m]["passage_id"]))
                out.append(RecurringGroup(
                    agency=agency,
                    passage_ids=[recs[m]["passage_id"] for m in by_year],
                    doc_ids=sorted(member_docs),
                    years=sorted({int(recs[m]["year"]) for m in members if recs[m].get("year")}),
                    representative=recs[rep]["passage_id"],
                    similarity=round(mean_sim, 3),
                    terms=top,
                ))
        out.sort(key=lambda g: (-g.year_span, -len(g.doc_ids), -len(g.passage_ids), -g.similarity, g.agency))
        return out


def recurring_recommendations(
    recommendations: Iterable[dict],
    *,
    threshold: float = 0.4,
    min_documents: int = 2,
    agencies: Sequence[str] | None = None,
    max_per_agency: int = 5000,
) -> list[RecurringGroup]:
    """Group recommendations to the same agency whose wording is nearly the same.

    Two recommendations are linked when they are addressed to the same agency, come from
    different documents and their TF-IDF vectors (words and word pairs, fitted on all the
    recommendations given) have cosine similarity >= `threshold`. Groups are the connected
    pieces of those links that span at least `min_documents` documents; they come sorted
    with the widest spread of years and documents first. (Use `RecurrenceFinder` to try
    several thresholds over the same recommendations.)
    """
    finder = RecurrenceFinder(recommendations, floor=threshold, agencies=agencies, max_per_agency=max_per_agency)
    return finder.groups(threshold, min_documents)
