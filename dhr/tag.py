"""The tagger: themes (with score and evidence), agency mentions, recommendations and addressees.

Method
- A spaCy pipeline on `spacy.blank("en")` with a sentencizer. Each word's NORM is a crude stem
  (lower case, plural and -ed/-ing endings removed), so codebook phrases match their variants.
- Rules: PhraseMatcher/Matcher patterns from the codebook (`dhr/data/codebook.yaml`) and the
  agency alias file (`dhr/data/agencies.yaml`). A theme phrase in a sentence that also holds a
  reassurance cue ("there were no concerns about", "risk was appropriately assessed") does not
  count for the theme.
- Classifiers (scikit-learn, trained by `dhr train` on the labelled set's train split): one
  logistic regression per theme over TF-IDF word 1-2grams plus every rule count, stacked with the
  theme's own rule counts; for "is this a recommendation", the TF-IDF model stacked with the
  recommendation cues. Thresholds are tuned by cross-validation on the train split. Prediction
  runs in plain numpy (`LiteModel`).
- Addressees are found by rule, only for recommendations: the agencies that are the subject of
  the call for action ("The police should ...", "We recommend that the Home Office ...",
  "That the CSP considers ...", "Children's services to ensure ..."), or the agencies in an
  action-plan row's "Lead agency"/"Responsible" cell. A recommendation that names no one has
  no addressees.

Public API: `load_tagger()`, `Tagger.tag()`, `Tagger.tag_many()`, `Tagger.version`, `tag()`
and `tag_store()`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import yaml

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_CODEBOOK = DATA_DIR / "codebook.yaml"
DEFAULT_AGENCIES = DATA_DIR / "agencies.yaml"
REPO = Path(__file__).resolve().parent.parent
MODELS_ENV = "DHR_MODELS_DIR"
MODEL_FILE = "tagger.joblib"
CODE_VERSION = "2"  # bump when the tagging code changes what it outputs
METHODS = ("combined", "rules", "classifier")


def default_models_dir() -> Path:
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else REPO / "models"


# ---------------------------------------------------------------------------------------------
# text normalisation

@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A crude, deterministic stem used as every token's NORM (pattern and text alike)."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4:
        if w.endswith("ies"):
            w = w[:-3] + "y"
        elif w.endswith("sses"):
            w = w[:-2]
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def _sha(*chunks: bytes) -> str:
    h = hashlib.sha1()
    for c in chunks:
        h.update(c)
        h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# codebook and alias file

@dataclass
class Codebook:
    path: Path
    sha: str
    themes: dict[str, dict]
    reassurance: list[str]
    home_office_themes: list[str] = field(default_factory=list)

    @property
    def theme_ids(self) -> list[str]:
        return list(self.themes)


def load_codebook(path: str | os.PathLike | None = None) -> Codebook:
    path = Path(path) if path else DEFAULT_CODEBOOK
    raw = path.read_bytes()
    data = yaml.load(raw, Loader=_YAML_LOADER) or {}
    themes = data.get("themes") or {}
    if not isinstance(themes, dict) or not themes:
        raise ValueError(f"{path}: no 'themes' mapping")
    for tid, t in themes.items():
        if not re.fullmatch(r"[a-z_]+", str(tid)):
            raise ValueError(f"{path}: bad theme id {tid!r}")
        t.setdefault("name", tid)
        t.setdefault("definition", "")
        t["phrases"] = [str(p) for p in (t.get("phrases") or [])]
        t["related"] = [str(p) for p in (t.get("related") or [])]
        t["patterns"] = t.get("patterns") or []
        t["examples"] = t.get("examples") or []
        ho = t.get("home_office") or ["other"]
        t["home_office"] = [ho] if isinstance(ho, str) else list(ho)
    reassurance = [str(p) for p in ((data.get("reassurance") or {}).get("phrases") or [])]
    return Codebook(path, _sha(raw), themes, reassurance, list(data.get("home_office_themes") or []))


@dataclass
class AgencyFile:
    path: Path
    sha: str
    agencies: dict[str, dict]
    unmapped: dict


def load_agencies(path: str | os.PathLike | None = None) -> AgencyFile:
    path = Path(path) if path else DEFAULT_AGENCIES
    raw = path.read_bytes()
    data = yaml.load(raw, Loader=_YAML_LOADER) or {}
    agencies = data.get("agencies") or {}
    for aid, a in agencies.items():
        a.setdefault("name", aid)
        a["aliases"] = [str(x) for x in (a.get("aliases") or [])]
        a["acronyms"] = [str(x) for x in (a.get("acronyms") or [])]
        a["patterns"] = a.get("patterns") or []
    return AgencyFile(path, _sha(raw), agencies, data.get("unmapped") or {})


# ---------------------------------------------------------------------------------------------
# recommendation cues (regular expressions on the raw text: cheap)

_I = re.IGNORECASE
REC_CUES = {
    "we_recommend": re.compile(
        r"\b(?:we|i|panel|review|committee|report|board|author|it is|it was)\b[^.;:]{0,40}?\brecommend(?:s|ed)?\b", _I),
    "recommend_that": re.compile(r"\brecommend(?:s|ed|ation is)? that\b", _I),
    "rec_label": re.compile(r"^\s*(?:recommendation|rec\.?)\s*\d+", _I),
    "rec_word": re.compile(r"\brecommendations?\b", _I),
    "should": re.compile(r"\b(?:should|must|ought to|shall)\b", _I),
    "should_have": re.compile(r"\b(?:should|could|would|must) (?:not )?have\b", _I),
    "asked": re.compile(r"\b(?:is|are|be|being) (?:asked|requested|invited|encouraged|urged|required) to\b", _I),
    "that_start": re.compile(r"^\s*(?:(?:recommendation\s*)?\(?[0-9ivx]+(?:\.[0-9]+)*[.):]?\s+)?that\b", _I),
    "imperative_start": re.compile(
        r"^\s*(?:(?:recommendation\s*)?\(?[0-9a-z]{1,3}(?:\.[0-9]+)*[.):]\s+)?(?:to\s+)?(?:ensure|review|develop|consider|establish|"
        r"introduce|provide|undertake|commission|raise|promote|explore|produce|create|implement|improve|update|adopt|"
        r"agree|continue|deliver|embed|strengthen|publish|set up|share|audit|monitor|design|seek|identify)\b", _I),
    "x_to_verb": re.compile(
        r"\b(?:to|will|should) (?:ensure|review|develop|consider|establish|introduce|provide|undertake|commission|raise|"
        r"promote|explore|produce|create|implement|improve|update|adopt|agree|continue|deliver|embed|strengthen|"
        r"publish|work|share|audit|monitor|seek|lead|issue|make|take|fund|re-?commission|assess|identify)\b", _I),
    "calls_on": re.compile(r"\b(?:call(?:s|ed)? (?:on|for|upon)|urge[sd]?|ask(?:s|ed)?|encourage[sd]?|invite[sd]?)\b[^.]{0,60}\bto\b", _I),
    "past": re.compile(r"\b(?:was|were|had been|has been|have been) (?:recommended|implemented|completed|agreed|introduced|put in place)\b", _I),
    "we_support": re.compile(r"\b(?:we|the committee|the panel) (?:welcome|support|endorse|note|agree)s?\b", _I),
    "action_words": re.compile(r"\b(?:action|actions|action plan|lead agency|target date|by whom|timescale|completed by)\b", _I),
    "modal_now": re.compile(r"\b(?:should|must|shall|needs? to|ought to)\b(?!\s+(?:not\s+)?(?:have|be\s+left)\b)", _I),
    "will_want": re.compile(r"\b(?:will|may) (?:want|wish) to\b|\bwe would (?:like|expect) to see\b|\bit is proposed that\b", _I),
    "report_revision": re.compile(
        r"\b(?:the (?:overview )?report|the executive summary|terms of reference|the chronology|the author|the chair|"
        r"the panel should consider (?:amending|revising)|amend(?:ed|ing)? the|revis(?:e|ed|ing) the|reword|re-word)\b", _I),
}
REC_CUE_NAMES = list(REC_CUES)
REC_SECTION = re.compile(r"recommend|lessons|action plan|learning points|next steps", _I)
LABEL_RE = re.compile(
    r"^\s*(?:(?P<rec>(?:recommendation|rec\.?)\s*(?P<n>\d+[a-z]?(?:\.\d+)*))\b[.:)\-\u2013]?|"
    r"(?P<num>\d+(?:\.\d+)+)\.?(?=\s)|\(?(?P<short>\d{1,2}|[a-z]|[ivx]{1,4})[.)](?=\s))", _I)
ALL_AGENCIES = re.compile(r"^\s*(?:all|each|every)\b", _I)
LEAD_COLUMN = re.compile(r"lead|agency|agencies|responsib|owner|by whom|who|organisation|partner", _I)
ACTION_COLUMN = re.compile(r"recommend|action|task|what", _I)
REPORTS_TO = re.compile(r"reports? to|accountable to|oversight", _I)  # "Owner reports to: CSP" is not the lead

MODALS = {"should", "must", "shall", "will", "need", "needs", "ought"}
ASK_VERBS = {"asked", "requested", "invited", "encouraged", "urged", "required", "expected", "tasked"}
ACTION_VERBS = {stem(w) for w in """
ensure review develop consider establish introduce provide undertake commission raise promote explore produce create
implement improve update adopt agree continue deliver embed strengthen publish work share audit monitor seek lead issue
make take fund recommission assess identify set encourage support use ask write consult evaluate include increase extend
expand clarify reinforce revise refresh collaborate engage look investigate prioritise give invest appoint require
build train offer maintain remind amend note scrutinise approve bid notify reconsider disseminate circulate
introduce lobby""".split()}
ACTION_VERBS |= {w + "s" for w in ACTION_VERBS}
EXCLUDING_PREPS = {"with", "from", "between", "about", "against", "than", "within", "via", "among", "amongst",
                   "through", "by", "to", "of", "for", "including"}
JOINT = {"together", "jointly", "conjunction"}
NOT_JOINT = {"consultation", "consulting", "support", "advice", "help", "assistance", "input"}
ASKING_WORDS = {"for", "on", "upon", "ask", "asks", "urge", "urges", "invite", "invites", "encourage", "encourages",
                "request", "requests", "require", "requires", "recommend", "recommends"}


PIPE_CELL = re.compile(r"^\s*([A-Za-z][A-Za-z /'()-]{1,30}?)\s*:\s*(.*)$", re.S)
LINE_CELL = re.compile(r"^\s*([A-Z][A-Za-z /'()-]{1,30}?)\s*:\s*(.*)$")


def pipe_cells(text: str) -> dict | None:
    """A table row flattened to text: "Recommendation: ... | Lead agency: ... | Action: ...", the same
    as "Key: value" lines, or a header line "Recommendation | Lead agency | Action" and a row under it."""
    if "|" in text:
        cells = {}
        for part in text.split("|"):
            m = PIPE_CELL.match(part)
            if m:
                cells[m.group(1).strip()] = m.group(2).strip()
        if len(cells) >= 2:
            return cells
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) >= 2 and "|" in lines[0] and "|" in lines[1]:
            head = [h.strip() for h in lines[0].split("|")]
            row = [c.strip() for c in " ".join(lines[1:]).split("|")]
            if len(head) == len(row) and all(0 < len(h) <= 30 for h in head):
                return dict(zip(head, row))
        return None
    if "\n" in text:
        cells = {}
        for line in text.splitlines():
            m = LINE_CELL.match(line)
            if m:
                cells[m.group(1).strip()] = m.group(2).strip()
        keys = list(cells)
        if len(cells) >= 2 and any(LEAD_COLUMN.search(k) and not ACTION_COLUMN.search(k) for k in keys) \
                and any(ACTION_COLUMN.search(k) for k in keys):
            return cells
    return None


# ---------------------------------------------------------------------------------------------
# analysis of one passage

@dataclass
class Analysis:
    text: str
    sents: list[tuple[int, int]]  # token index ranges
    sent_chars: list[tuple[int, int]]
    theme_hits: dict[str, list[tuple[int, bool, str]]]  # theme -> [(sentence, negated, surface)]
    agencies: list[tuple[str | None, str, int, int, int]]  # (id, mention, tok_start, tok_end, sentence)
    rec_cues: dict[str, int]
    words: list[str]  # lower-case token texts
    cells: dict | None = None
    section: str = ""
    kind: str = "paragraph"
    label: str = ""

    def sentence_text(self, i: int, limit: int = 400) -> str:
        s, e = self.sent_chars[i]
        out = self.text[s:e].strip()
        return out if len(out) <= limit else out[: limit - 1].rstrip() + "\u2026"

    def sentences(self) -> list[str]:
        """Every sentence whole (the passage itself when it has no sentence boundaries)."""
        return [self.text[s:e] for s, e in self.sent_chars] or [self.text]


def _required_words(pattern: list[dict]) -> set[str] | None:
    """Lower-case words one of which any match of a token pattern must contain (None: no such words);
    from the last token that needs a literal word, usually the head noun ("police", "trust")."""
    for tok in reversed(pattern):
        if tok.get("OP") in ("?", "*", "!"):
            continue
        for key in ("LOWER", "ORTH", "TEXT"):
            v = tok.get(key)
            if isinstance(v, str):
                return {v.lower()}
            if isinstance(v, dict) and "IN" in v:
                return {str(x).lower() for x in v["IN"]}
    return None


def _filter_spans(spans) -> list:
    """Longest match wins; on a tie a mapped agency beats an unmapped organisation; sorted by start."""
    out, taken = [], set()
    for sp in sorted(spans, key=lambda x: (-(x.end - x.start), x.label_ == "__unmapped__", x.start)):
        if not any(k in taken for k in range(sp.start, sp.end)):
            out.append(sp)
            taken.update(range(sp.start, sp.end))
    return sorted(out, key=lambda x: x.start)


def _as_item(x) -> dict:
    if isinstance(x, str):
        return {"text": x}
    return dict(x)


def passage_text(item: dict) -> str:
    text = item.get("text") or ""
    if not text and item.get("cells"):
        text = "\n".join(f"{k}: {v}" for k, v in item["cells"].items() if v)
    return text


HEADER_CELL = re.compile(r"recommendation|lead|agency|action|target|date|scope|milestone|outcome|owner|status|"
                         r"responsib|by whom|timescale|no\.?|ref|rag|progress|measure|evidence|completion|key", _I)


def _header_only(text: str) -> bool:
    """ "Recommendation | Lead agency | Action | Target date" with no row under it."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or "|" not in lines[-1] or ":" in lines[-1]:
        return False
    cells = [c.strip() for c in lines[-1].split("|") if c.strip()]
    return len(cells) >= 3 and all(len(c) <= 60 and HEADER_CELL.search(c) for c in cells)


class Tagger:
    """Loads the codebook, alias file and trained models once; tags any number of passages."""

    def __init__(self, codebook: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None,
                 agencies: str | os.PathLike | None = None, use_model: bool = True):
        import spacy
        from spacy.attrs import NORM
        from spacy.matcher import Matcher, PhraseMatcher

        self.codebook = load_codebook(codebook)
        self.agency_file = load_agencies(agencies)
        self.theme_ids = self.codebook.theme_ids
        self.notes: list[str] = []

        nlp = spacy.blank("en")
        nlp.vocab.lex_attr_getters[NORM] = stem
        nlp.add_pipe("sentencizer")
        self.nlp = nlp
        make = nlp.make_doc

        # themes
        self.theme_pm = PhraseMatcher(nlp.vocab, attr="NORM")
        self.theme_m = Matcher(nlp.vocab)
        for tid, t in self.codebook.themes.items():
            if t["phrases"]:
                self.theme_pm.add(tid, [make(p) for p in t["phrases"]])
            if t["related"]:
                self.theme_pm.add(tid + "~", [make(p) for p in t["related"]])
            if t["patterns"]:
                self.theme_m.add(tid, [list(p) for p in t["patterns"]])
        self.reassure_pm = PhraseMatcher(nlp.vocab, attr="NORM")
        if self.codebook.reassurance:
            self.reassure_pm.add("REASSURE", [make(p) for p in self.codebook.reassurance])

        # agencies
        self.agency_pm = PhraseMatcher(nlp.vocab, attr="NORM")
        self.agency_acr = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.agency_m = Matcher(nlp.vocab)
        # words at least one of which every local-name pattern needs ("police", "council", "trust", ...):
        # the token Matcher, the slowest step of tagging, only reads sentences that have one
        self._agency_anchors: set[str] | None = set()
        groups = dict(self.agency_file.agencies)
        groups["__unmapped__"] = {
            "aliases": [str(x) for x in (self.agency_file.unmapped.get("aliases") or [])],
            "acronyms": [str(x) for x in (self.agency_file.unmapped.get("acronyms") or [])],
            "patterns": self.agency_file.unmapped.get("patterns") or [],
        }
        for aid, a in groups.items():
            if a["aliases"]:
                self.agency_pm.add(aid, [make(x) for x in a["aliases"]])
            if a["acronyms"]:
                self.agency_acr.add(aid, [make(x) for x in a["acronyms"]])
            if a["patterns"]:
                pats = []
                for p in a["patterns"]:
                    p = [dict(tok) for tok in p]
                    for tok in p:  # a capitalised word in a local-name pattern is never a stop word
                        if tok.get("IS_TITLE") is True:
                            tok.setdefault("IS_STOP", False)
                    pats.append(p)
                self.agency_m.add(aid, pats)
                for p in pats:
                    anchors = _required_words(p)
                    if anchors is None:
                        self._agency_anchors = None
                    elif self._agency_anchors is not None:
                        self._agency_anchors |= anchors

        # trained models
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        self.model = None
        model_path = self.models_dir / MODEL_FILE
        model_sha = b""
        if use_model and model_path.is_file():
            import joblib

            model = joblib.load(model_path)
            model_sha = _sha(model_path.read_bytes()).encode()
            if model.get("format") != "lite-2":
                self.notes.append(f"{model_path} is from another version of dhr: run `dhr train`; using rules only")
            elif list(model.get("theme_ids", [])) != self.theme_ids:
                self.notes.append(
                    f"the trained model in {self.models_dir} knows other theme ids than {self.codebook.path}: "
                    "using the codebook rules only (run `dhr train --codebook ...`)"
                )
            else:
                if model.get("codebook_sha") != self.codebook.sha:
                    self.notes.append("the codebook changed since the model was trained: run `dhr train` to refresh it")
                self.model = model
                self.lite = LiteModel(model)
        self.version = "t" + CODE_VERSION + "-" + _sha(
            self.codebook.sha.encode(), self.agency_file.sha.encode(), model_sha
        )[:12]
        self._agency_names = {aid: a["name"] for aid, a in self.agency_file.agencies.items()}

    # ---- rules -------------------------------------------------------------------------------

    def analyse_docs(self, items: list[dict]) -> list[Analysis]:
        texts = [passage_text(it) for it in items]
        out = []
        for item, text, doc in zip(items, texts, self.nlp.pipe(texts, batch_size=256)):
            out.append(self._analyse(doc, text, item))
        return out

    def _local_name_spans(self, doc, words: list[str], sents: list[tuple[int, int]]) -> list:
        """Token-pattern agency matches ("<Place> Police"), sentence by sentence where a sentence has an anchor word."""
        from spacy.tokens import Span

        anchors = self._agency_anchors
        if anchors is None:
            return [Span(doc, s, e, label=mid) for mid, s, e in self.agency_m(doc)]
        out = []
        for s0, s1 in sents:
            if any(w in anchors for w in words[s0:s1]):
                for mid, s, e in self.agency_m(doc[s0:s1]):
                    out.append(Span(doc, s0 + s, s0 + e, label=mid))
        return out

    def _analyse(self, doc, text: str, item: dict) -> Analysis:
        from spacy.tokens import Span

        sents, sent_chars = [], []
        tok_sent = [0] * len(doc)
        for i, s in enumerate(doc.sents):
            sents.append((s.start, s.end))
            sent_chars.append((s.start_char, s.end_char))
            for k in range(s.start, s.end):
                tok_sent[k] = i
        if not sents:
            sents, sent_chars = [(0, 0)], [(0, 0)]
        strings = self.nlp.vocab.strings

        negated_sents = {tok_sent[s] for _, s, _ in self.reassure_pm(doc)} if len(doc) and len(self.reassure_pm) else set()
        hits: dict[str, list] = {}
        if len(doc):
            theme_matches = list(self.theme_pm(doc)) + (list(self.theme_m(doc)) if len(self.theme_m) else [])
            for mid, s, e in theme_matches:
                si = tok_sent[s]
                hits.setdefault(strings[mid], []).append((si, si in negated_sents, doc[s:e].text))

        words = [t.lower_ for t in doc]
        spans = []
        if len(doc):
            for matcher in (self.agency_pm, self.agency_acr):
                if len(matcher):
                    for mid, s, e in matcher(doc):
                        spans.append(Span(doc, s, e, label=mid))
            if len(self.agency_m):
                spans += self._local_name_spans(doc, words, sents)
        agencies = []
        for sp in _filter_spans(spans):
            aid = sp.label_
            mention = sp.text
            agencies.append((None if aid == "__unmapped__" else aid, mention, sp.start, sp.end, tok_sent[sp.start]))

        cues = {name: len(rx.findall(text)) for name, rx in REC_CUES.items()}
        cells = item.get("cells")
        kind = item.get("kind") or ("table_row" if cells else "paragraph")
        if not cells and ("|" in text or ":" in text):
            cells = pipe_cells(text)
            if cells and kind == "paragraph":
                kind = "table_row"
        return Analysis(
            text=text, sents=sents, sent_chars=sent_chars, theme_hits=hits, agencies=agencies, rec_cues=cues,
            words=words, cells=cells, section=item.get("section") or "",
            kind=kind, label=item.get("label") or "",
        )

    def rule_features(self, analyses: list[Analysis]):
        import numpy as np

        n_t = len(self.theme_ids)
        X = np.zeros((len(analyses), 3 * n_t + len(REC_CUE_NAMES) + 4), dtype=np.float32)
        for r, a in enumerate(analyses):
            for j, tid in enumerate(self.theme_ids):
                h = a.theme_hits.get(tid)
                if h:
                    pos = sum(1 for x in h if not x[1])
                    X[r, 3 * j] = math.log1p(pos)
                    X[r, 3 * j + 1] = math.log1p(len(h) - pos)
                rel = a.theme_hits.get(tid + "~")
                if rel:
                    X[r, 3 * j + 2] = math.log1p(len(rel))
            base = 3 * n_t
            for k, name in enumerate(REC_CUE_NAMES):
                X[r, base + k] = math.log1p(a.rec_cues[name])
            base += len(REC_CUE_NAMES)
            first_line = a.text.split("\n", 1)[0] if "\n" in a.text else ""
            X[r, base] = 1.0 if REC_SECTION.search(a.section or "") or (
                len(first_line) < 60 and REC_SECTION.search(first_line)) else 0.0
            X[r, base + 1] = 1.0 if a.kind == "table_row" else 0.0
            X[r, base + 2] = 1.0 if self._has_subject_addressee(a) else 0.0
            X[r, base + 3] = math.log1p(len(a.words)) / 5.0
        return X

    def rule_themes(self, a: Analysis) -> dict[str, float]:
        """Rules alone: a theme is given when at least one of its phrases matched outside reassurance."""
        out = {}
        for tid, h in a.theme_hits.items():
            if tid.endswith("~"):
                continue
            pos = sum(1 for x in h if not x[1])
            if pos:
                out[tid] = 1.0 - 0.5 ** pos
        return out

    def rule_is_recommendation(self, a: Analysis) -> bool:
        c = a.rec_cues
        if a.kind == "table_row" and a.cells and any(ACTION_COLUMN.search(k or "") for k in a.cells):
            return True
        if c["rec_label"] or c["recommend_that"] or c["asked"] or c["that_start"] or c["imperative_start"]:
            return True
        if c["we_recommend"] and not c["past"]:
            return True
        if c["should"] > c["should_have"] and not c["report_revision"]:
            return True
        if REC_SECTION.search(a.section or "") and (c["x_to_verb"] or c["should"]):
            return True
        return False

    # ---- addressees ---------------------------------------------------------------------------

    def _cell_addressees(self, a: Analysis) -> list[str] | None:
        """The agencies of an action-plan row's lead cell: the column headed Lead/Agency/Owner..., or in a
        row without headers ("3 | Audit notes | Northvale Police | March 2024 | Green") the first cell
        after the first that is little more than agency names. None when the row has no such cell."""
        if not a.cells:
            return self._unheaded_lead(a)
        lead_cols = [k for k in a.cells if k and LEAD_COLUMN.search(k) and not ACTION_COLUMN.search(k)
                     and not REPORTS_TO.search(k)]
        if not lead_cols:
            return None
        out: list[str] = []
        for col in lead_cols:
            val = str(a.cells.get(col) or "")
            if not val.strip():
                continue
            doc = self.nlp.make_doc(val)
            for aid, _m in self._agency_spans(doc):
                if aid and aid not in out:
                    out.append(aid)
        return out

    def _unheaded_lead(self, a: Analysis) -> list[str] | None:
        parts = [p.strip() for p in a.text.split("|")]
        if len(parts) < 3:
            return None
        for part in parts[1:]:
            if not part or len(part.split()) > 12:
                continue
            spans = self._agency_spans(self.nlp.make_doc(part))
            named = sum(len(m) for _aid, m in spans)
            rest = len(re.sub(r"[\W_]+|\b(?:and|the|of|with|lead)\b", "", part, flags=re.I))
            # a short cell that names an agency ("Brackenmoor ICB", "Northmoor Police - Head of PPU"), or
            # a longer one that is mostly agency names ("Wrexby Police / Castlebridge Adult Social Care")
            if spans and (len(part.split()) <= 6 or named >= 0.5 * max(rest, 1)):
                ids = [aid for aid, _m in spans if aid]
                return list(dict.fromkeys(ids)) or None
        return None

    def _agency_spans(self, doc) -> list[tuple[str | None, str]]:
        from spacy.tokens import Span

        spans = []
        for matcher in (self.agency_pm, self.agency_acr, self.agency_m):
            if len(matcher):
                for mid, s, e in matcher(doc):
                    spans.append(Span(doc, s, e, label=mid))
        return [
            (None if sp.label_ == "__unmapped__" else sp.label_, sp.text)
            for sp in _filter_spans(spans)
        ]

    def _subject_addressees(self, a: Analysis) -> list[str]:
        """Agencies that are the subject of a call for action in some sentence of the passage."""
        words = a.words
        by_sent: dict[int, list] = {}
        for ag in a.agencies:
            by_sent.setdefault(ag[4], []).append(ag)
        out: list[str] = []
        for si, ags in by_sent.items():
            s0, s1 = a.sents[si]
            # the clause starts after "recommend(s) that" / a leading "That" / a label
            start = s0
            for k in range(s0, s1 - 1):
                if words[k] == "that" and (k == s0 or stem(words[k - 1]) in {"recommend", "recommendation", "is", ":"}
                                            or k - s0 <= 3):
                    start = k + 1
                    break
            ends = {e for (_i, _m, _s, e, _si) in ags}
            inside = {k for (_i, _m, s_, e_, _si) in ags for k in range(s_, e_)}
            trigger = None
            for k in range(start, s1):
                w = words[k]
                if k in inside:  # "Housing Needs service": not the modal "needs"
                    continue
                if w in MODALS:
                    trigger = k
                    break
                if w in ("is", "are", "be") and k + 1 < s1 and words[k + 1] in ASK_VERBS:
                    trigger = k
                    break
                if w == "to" and (k in ends or (k - 1 in ends) or (k > 0 and words[k - 1] in (")", ":", "-"))):
                    nxt = k + 1
                    while nxt < s1 - 1 and words[nxt].endswith("ly"):  # "to jointly review"
                        nxt += 1
                    if nxt < s1 and (stem(words[nxt]) in ACTION_VERBS or words[nxt] in ACTION_VERBS | {"be", "have"}):
                        trigger = k
                        break
                if k in ends or (k - 1 in ends and words[k - 1] in (")",)):
                    if stem(w) in ACTION_VERBS or w in ACTION_VERBS:
                        trigger = k
                        break
            if trigger is None and start > s0:
                # "recommend that the Government, in consultation with X, updates ...": the first
                # action verb after the first agency of the that-clause
                first_end = min((e for (_i, _m, s, e, _si) in ags if s >= start), default=None)
                if first_end is not None:
                    for k in range(first_end, s1):
                        if words[k].endswith("ing"):  # "X, working with Y, develops ...": not the main verb
                            continue
                        if stem(words[k]) in ACTION_VERBS or words[k] in ACTION_VERBS:
                            trigger = k
                            break
            found = []
            if trigger is not None:
                starts = {s: aid for (aid, _m, s, _e, _si) in ags}
                for aid, _m, s, e, _si in ags:
                    if s >= start and e <= trigger:
                        before = words[max(start, s - 4):s]
                        # "in consultation with X", "with the support of X", "through the Board": not asked to act
                        near = before[-2:]
                        for w in reversed(before):  # "supported by NHS Elmford ICB": the nearest preposition
                            if w in EXCLUDING_PREPS:
                                near = near + [w]
                                break
                            if w in (",", "and", "&", ";", "or", "that", ":"):
                                break
                        # "X, with Y, to ensure", "X, working with Y, ...": Y supports, X acts; but
                        # "X together with Y" / "jointly with Y" ask both
                        joint = "with" in near and any(w in JOINT for w in before) and \
                            not any(w in NOT_JOINT for w in before)
                        if any(w in EXCLUDING_PREPS for w in near) and not joint:
                            continue
                        # "Northshire County Council Children's Services", "the Council's Housing Needs service":
                        # the department is the addressee, not the council
                        if aid == "local_authority":
                            nxt = e + 1 if e < len(words) and words[e] in ("'s", "’s") else e
                            if nxt in starts and starts[nxt] not in (None, "local_authority"):
                                continue
                        found.append(aid)
            # "asks / urges / calls on / for X to ..." anywhere in the sentence
            for aid, _m, s, e, _si in ags:
                if s - 1 >= s0 and words[s - 1] in ASKING_WORDS | {"the"}:
                    back = s - 1 if words[s - 1] != "the" else s - 2
                    if back >= s0 and words[back] in ASKING_WORDS and e < s1 and words[e] == "to":
                        found.append(aid)
            for aid in found:
                if aid and aid not in out:
                    out.append(aid)
        # "Recommendation 3 - Police: ..." / "Recommendation 9 (Adult Social Care)" at the very start
        if not out and a.agencies:
            aid, _m, s, e, si = a.agencies[0]
            s0 = a.sents[0][0]
            head = [w for w in words[s0:s] if not re.fullmatch(r"[\d.()\-\u2013:]+|recommendation|rec|the", w)]
            if aid and not head and e < len(words) and words[e] in (":", "-", "\u2013", ")"):
                out.append(aid)
        return out

    def _has_subject_addressee(self, a: Analysis) -> bool:
        return bool(a.agencies) and bool(self._subject_addressees(a))

    def addressees(self, a: Analysis) -> list[str]:
        cell = self._cell_addressees(a)
        if cell:
            # "GP practices to record ... | Lead: Northvale ICB": the row's own subject acts too
            bar = a.words.index("|") if "|" in a.words else 0
            in_first_cell = {ag[0] for ag in a.agencies if ag[2] < bar}
            subject = [x for x in self._subject_addressees(a) if x in in_first_cell] if in_first_cell else []
            return list(dict.fromkeys(cell + subject))
        if cell is not None and self._all_agencies(a):
            return []  # "Lead agency: All agencies": no one in particular
        return self._subject_addressees(a)

    @staticmethod
    def _all_agencies(a: Analysis) -> bool:
        return any(LEAD_COLUMN.search(k or "") and ALL_AGENCIES.search(str(v or "")) for k, v in (a.cells or {}).items())

    # ---- labels and evidence ------------------------------------------------------------------

    @staticmethod
    def recommendation_label(a: Analysis) -> str:
        if a.label:
            return a.label
        m = LABEL_RE.match(a.text)
        if not m:
            return ""
        if m.group("rec"):
            return "Recommendation " + m.group("n")
        return m.group("num") or m.group("short") or ""

    def _evidence(self, a: Analysis, tid: str) -> str:
        hits = [h for h in a.theme_hits.get(tid, []) if not h[1]]
        if hits:
            counts: dict[int, int] = {}
            for si, _neg, _w in hits:
                counts[si] = counts.get(si, 0) + 1
            best = max(counts, key=lambda k: (counts[k], -k))
            return a.sentence_text(best)
        terms = (self.model or {}).get("evidence_terms", {}).get(tid)
        stemmed = bool((self.model or {}).get("config", {}).get("stem"))
        if terms and len(a.sents) > 1:
            best, best_n = 0, -1
            for si, (s, e) in enumerate(a.sents):
                n = sum(1 for w in a.words[s:e] if (snowball(w) if stemmed else w) in terms)
                if n > best_n:
                    best, best_n = si, n
            return a.sentence_text(best)
        return a.sentence_text(0)

    # ---- prediction ---------------------------------------------------------------------------

    def _predict(self, analyses: list[Analysis], method: str = "combined"):
        """Return per passage: ({theme: score}, is_rec, rec_score)."""
        import numpy as np

        n = len(analyses)
        model = self.model
        if method == "rules" or model is None:
            out = []
            for a in analyses:
                rec = self.rule_is_recommendation(a)
                out.append((self.rule_themes(a), rec, 1.0 if rec else 0.0))
            return out
        texts = [a.text for a in analyses]
        part = model[method]
        col = {tid: j for j, tid in enumerate(model["text"]["ids"])}
        theme_scores = np.zeros((n, len(self.theme_ids)))
        if method == "combined":
            R = self.rule_features(analyses) * model.get("rule_scale", 1.0)
            tp, rp = self.lite.scores(texts, R, "joint")
            stack = part["mode"] == "stack"
            B = self.lite.best_sentence(analyses) if "sentence" in model else None

            def combine(p_joint, st, cols, best=None):
                if not stack or st is None:
                    return p_joint
                # logistic regression over (joint log-odds[, best sentence's log-odds], the label's own rule features)
                coef, icpt = st
                z = _logit(p_joint) * coef[0] + icpt
                if best is not None:
                    z += best * coef[1]
                    coef = coef[1:]
                return _sigmoid(z + R[:, cols] @ coef[1:])

            for j, tid in enumerate(self.theme_ids):
                if tid in col:
                    theme_scores[:, j] = combine(tp[:, col[tid]], part["stack"].get(tid), part["columns"][tid],
                                                 B[:, col[tid]] if B is not None else None)
            rec_scores = combine(rp, part["rec_stack"], part["rec_columns"])
        else:
            tp, rp = self.lite.scores(texts, None, "text")
            for j, tid in enumerate(self.theme_ids):
                if tid in col:
                    theme_scores[:, j] = tp[:, col[tid]]
            rec_scores = rp
        out = []
        for i, a in enumerate(analyses):
            themes = {}
            for j, tid in enumerate(self.theme_ids):
                thr = part["thresholds"].get(tid, 0.5)
                sc = theme_scores[i, j]
                if method == "combined" and sc >= thr:
                    h = a.theme_hits.get(tid)
                    if h and all(x[1] for x in h):
                        continue  # every codebook match sits in a reassurance sentence: the opposite of the theme
                if sc >= thr:
                    # report a calibrated-looking score: 0.5 at the threshold
                    themes[tid] = _rescale(sc, thr)
            rthr = part["rec_threshold"]
            rs = float(rec_scores[i])
            if _header_only(a.text):
                rs = min(rs, 0.5 * rthr)  # a table's header row asks no one to do anything
            out.append((themes, rs >= rthr, _rescale(rs, rthr)))
        return out

    def tag_many(self, items: Iterable, method: str = "combined", batch_size: int = 512) -> Iterator[dict]:
        """Tag texts (str) or dicts {"id", "text", "cells", "section", "label", "kind"}, in order."""
        batch: list[dict] = []
        for x in items:
            batch.append(_as_item(x))
            if len(batch) >= batch_size:
                yield from self._tag_batch(batch, method)
                batch = []
        if batch:
            yield from self._tag_batch(batch, method)

    def _tag_batch(self, items: list[dict], method: str) -> list[dict]:
        analyses = self.analyse_docs(items)
        return self.results(items, analyses, method)

    def results(self, items: list[dict], analyses: list[Analysis], method: str = "combined") -> list[dict]:
        """The interfaces.md objects for already-analysed passages."""
        preds = self._predict(analyses, method)
        results = []
        for item, a, (themes, is_rec, rec_score) in zip(items, analyses, preds):
            res: dict = {}
            if item.get("id") is not None:
                res["id"] = item["id"]
            res["themes"] = [
                {"id": tid, "score": round(float(sc), 3), "evidence": self._evidence(a, tid)}
                for tid, sc in sorted(themes.items(), key=lambda kv: -kv[1])
            ]
            seen = set()
            ags = []
            for aid, mention, *_ in a.agencies:
                if (aid, mention) not in seen:
                    seen.add((aid, mention))
                    ags.append({"id": aid, "mention": mention})
            res["agencies"] = ags
            res["is_recommendation"] = bool(is_rec)
            addressees = self.addressees(a) if is_rec else []
            res["addressees"] = addressees
            if is_rec:
                for aid in addressees:  # an addressee named only in a table cell is also a mention
                    if not any(g["id"] == aid for g in ags):
                        ags.append({"id": aid, "mention": self._cell_mention(a, aid)})
                res["recommendation_label"] = self.recommendation_label(a)
            res["recommendation_score"] = round(float(rec_score), 3)
            results.append(res)
        return results

    def _cell_mention(self, a: Analysis, aid: str) -> str:
        for v in (a.cells or {}).values():
            for got, mention in self._agency_spans(self.nlp.make_doc(str(v or ""))):
                if got == aid:
                    return mention
        return self._agency_names.get(aid, aid)

    def tag(self, text: str | dict, id=None, **extra) -> dict:
        """Tag one passage; returns the interfaces.md object (plus extra fields)."""
        item = _as_item(text)
        if id is not None:
            item["id"] = id
        item.update(extra)
        return next(iter(self.tag_many([item])))


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@functools.lru_cache(maxsize=100_000)
def _strip_accents(tok: str) -> str:
    import unicodedata

    nk = unicodedata.normalize("NFKD", tok)
    return "".join(c for c in nk if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=200_000)
def snowball(word: str) -> str:
    """The Snowball (Porter 2) stem of a lower-case word: "assessed", "assessment" -> "assess"."""
    return _stemmer().stemWord(word)


def _prepare(text: str) -> str:
    """Lower case, accents removed: scikit-learn's preprocessing with strip_accents="unicode"."""
    text = text.lower()
    if not text.isascii():
        text = _strip_accents(text) if len(text) < 200 else "".join(_strip_accents(w) for w in re.split(r"(\s+)", text))
    return text


def words(text: str, stemmed: bool = False) -> list[str]:
    """The classifier's tokens: lower case, accents removed, words of two or more characters,
    stemmed when the model was trained on stems (so that the 809 training passages teach
    "assessed", "assessing" and "assessment" as one word)."""
    toks = _TOKEN.findall(_prepare(text))
    return [snowball(t) for t in toks] if stemmed else toks


def word_terms(text: str, stemmed: bool = False) -> list[str]:
    """Unigrams and bigrams of `words` (the classifier's features; scikit-learn's analyser in training)."""
    toks = words(text, stemmed)
    return toks + [a + " " + b for a, b in zip(toks, toks[1:])]


class LiteModel:
    """TF-IDF (word 1-2grams, char_wb 3-5grams) + logistic regression in plain numpy: what scikit-learn
    computes, without importing it."""

    def __init__(self, model: dict):
        self.m = model
        self.vocab = model["vocabulary"]
        self.idf = model["idf"]
        self.cvocab = model.get("char_vocabulary") or {}
        self.cidf = model.get("char_idf")
        self.n_word = len(self.vocab)
        self.n_text = self.n_word + len(self.cvocab)
        self.stemmed = bool(model.get("config", {}).get("stem"))
        self._gram_cache: dict[str, tuple] = {}

    @staticmethod
    def _norm(counts: dict, idf, offset: int = 0):
        import numpy as np

        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        val = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * idf[idx]
        val /= np.sqrt((val * val).sum())
        return idx + offset, val

    def _vector(self, text: str):
        counts: dict[int, int] = {}
        get = self.vocab.get
        for t in word_terms(text, self.stemmed):  # the very terms scikit-learn counted in training
            j = get(t)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        return self._norm(counts, self.idf)

    def _word_grams(self, w: str) -> tuple:
        """Vocabulary indices of one word's char_wb 3-5grams (scikit-learn's analyser), cached per word."""
        got = self._gram_cache.get(w)
        if got is None:
            get = self.cvocab.get
            ww = " " + w + " "
            L = len(ww)
            idx = []
            for n in (3, 4, 5):
                if L <= n:  # a short word counts once, whole
                    j = get(ww)
                    if j is not None:
                        idx.append(j)
                    break
                for o in range(L - n + 1):
                    j = get(ww[o:o + n])
                    if j is not None:
                        idx.append(j)
            got = tuple(idx)
            if len(self._gram_cache) < 300_000:
                self._gram_cache[w] = got
        return got

    def _char_vector(self, text: str):
        text = _prepare(text)
        counts: dict[int, int] = {}
        grams = self._word_grams
        for w in text.split():
            for j in grams(w):
                counts[j] = counts.get(j, 0) + 1
        return self._norm(counts, self.cidf, self.n_word)

    def best_sentence(self, analyses) -> "np.ndarray":
        """Per passage and theme, the highest log-odds any one of its sentences gets from the sentence
        model: a theme is often carried by one sentence that the passage's other words dilute."""
        import numpy as np

        p = self.m["sentence"]
        W, b = p["W"], p["b"]
        out = np.zeros((len(analyses), W.shape[1]))
        for r, a in enumerate(analyses):
            best = None
            for sent in a.sentences():
                idx, val = self._vector(sent)
                z = b + (val @ W[idx] if len(idx) else 0.0)
                best = z if best is None else np.maximum(best, z)
            out[r] = best
        return out

    def scores(self, texts: list[str], R, part: str = "text"):
        """(theme probabilities [n, len(ids)], recommendation probabilities [n]) of the "text" model
        (classifier alone) or the "joint" model (TF-IDF + rule features R)."""
        import numpy as np

        p = self.m[part]
        W, b = p["W"], p["b"]
        Z = np.tile(b, (len(texts), 1))
        for r, t in enumerate(texts):
            idx, val = self._vector(t)
            if len(idx):
                Z[r] += val @ W[idx]
            if self.cvocab:
                idx, val = self._char_vector(t)
                if len(idx):
                    Z[r] += val @ W[idx]
        if part == "joint" and R is not None:
            Z += (np.asarray(R, dtype=np.float64) * self.m.get("rule_weight", 1.0)) @ W[self.n_text:]
        P = 1.0 / (1.0 + np.exp(-Z))
        return P[:, :-1], P[:, -1]


def _sigmoid(z):
    import numpy as np

    return 1.0 / (1.0 + np.exp(-z))


def _logit(p):
    import numpy as np

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _rescale(score: float, thr: float) -> float:
    """Map a probability so that the decision threshold reads as 0.5 (monotone, in [0, 1])."""
    score = float(score)
    if thr <= 0 or thr >= 1:
        return score
    if score >= thr:
        return 0.5 + 0.5 * (score - thr) / (1 - thr)
    return 0.5 * score / thr


# ---------------------------------------------------------------------------------------------
# module-level conveniences

_CACHE: dict = {}


def load_tagger(codebook=None, models_dir=None, agencies=None) -> Tagger:
    """The tagger for a codebook and models folder, built once per process."""
    key = (str(codebook or DEFAULT_CODEBOOK), str(models_dir or default_models_dir()), str(agencies or DEFAULT_AGENCIES))
    paths = [Path(key[0]), Path(key[1]) / MODEL_FILE, Path(key[2])]
    stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)
    hit = _CACHE.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    tagger = Tagger(codebook, models_dir, agencies)
    for note in tagger.notes:
        print(f"dhr tag: {note}", file=sys.stderr)
    _CACHE[key] = (stamp, tagger)
    return tagger


def tag(text: str, id=None, **extra) -> dict:
    """Tag one passage with the default codebook and models: the same object `dhr tag` prints."""
    return load_tagger().tag(text, id=id, **extra)


def tag_store(store, all: bool = False, progress: bool = True, tagger: Tagger | None = None) -> int:
    """Tag every stored document whose tags are missing or from another tagger version.

    Works from the stored passages (no re-extraction). Returns the number of documents tagged.
    """
    tagger = tagger or load_tagger()
    if all:
        doc_ids = [d["doc_id"] for d in store.documents()]
    else:
        doc_ids = store.documents_needing_tags(tagger.version)
    bar = None
    if progress and doc_ids:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(doc_ids), desc="tagging", unit="doc", file=sys.stderr)
        except ImportError:  # pragma: no cover
            bar = None
    for doc_id in doc_ids:
        passages = store.passages(doc_id)
        items = [
            {"id": p["passage_id"], "text": p["text"], "cells": p.get("cells"), "section": p.get("section", ""),
             "label": p.get("label", ""), "kind": p.get("kind", "paragraph")}
            for p in passages
        ]
        results = list(tagger.tag_many(items))
        store.save_tags(doc_id, [(r["id"], r) for r in results], tagger.version)
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    return len(doc_ids)


def tag_jsonl(lines: Iterable[str], out, tagger: Tagger) -> int:
    """`dhr tag --jsonl`: one {"id", "text"} object per line in, one result per line out, in order."""
    n = 0

    def items():
        for line in lines:
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            if isinstance(obj, str):
                obj = {"text": obj}
            yield obj

    for res in tagger.tag_many(items(), batch_size=256):
        out.write(json.dumps(res, ensure_ascii=False) + "\n")
        n += 1
    return n
