"""Search benchmark: a synthetic corpus of DHR-like passages, indexed and queried through dhr.index.

    .venv/bin/python bench/search.py                       # 200,000 passages (the full run)
    .venv/bin/python bench/search.py --passages 20000      # a quick try
    .venv/bin/python bench/search.py --data-dir /tmp/b --reuse   # query an index built earlier

Reports the load average (start and end: the machine may be shared), store population time, index
build time, index size, the cost of opening the index (reading the per-passage facet arrays), the
first (cold) search, and latency median / p95 for: a two-word query, a phrase query, a query with
two filters plus facet counts plus highlighted top 10 (target p95 < 150 ms on 2 cores), a
filters-only listing, a year-sorted query and more-like-this. Every search
goes through SearchIndex.search, so each measured call also counts the total and all facets over
the whole result set and highlights its page of 10.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dhr import config  # noqa: E402
from dhr.index import SearchIndex  # noqa: E402
from dhr.records import Document, Passage, ProcessedDocument  # noqa: E402
from dhr.store import Store, passage_id  # noqa: E402

THEMES = ["missed_risk", "information_sharing", "multi_agency_working", "training_awareness", "record_keeping",
          "professional_curiosity", "coercive_control", "mental_health", "substance_misuse",
          "children_safeguarding", "adult_safeguarding", "housing", "resources_capacity", "referral_pathways",
          "victim_voice", "perpetrator_management", "governance_leadership", "equality_diversity",
          "criminal_justice"]
AGENCIES = ["police", "pcc", "cps", "courts", "probation", "prisons", "gp_primary_care", "nhs_acute",
            "mental_health_services", "health_commissioners", "public_health", "ambulance", "adult_social_care",
            "childrens_social_care", "mash", "education", "housing", "local_authority", "csp", "marac", "idva",
            "specialist_da_services", "drug_alcohol_services", "dwp", "central_government", "inspectorates"]
TYPES = ["dhr_overview", "dhr_summary", "action_plan", "qa_letter", "inspection_report"]
AREAS = ["Kent", "Essex", "Hertfordshire", "Greater Manchester", "West Midlands", "Cardiff", "Swansea", "Leeds",
         "Bristol", "Norfolk", "Suffolk", "Devon", "Cornwall", "Cumbria", "Lancashire", "Merseyside", "Surrey",
         "Sussex", "Hampshire", "Dorset", "Wiltshire", "Somerset", "Derbyshire", "Nottinghamshire", "Lincolnshire",
         "Staffordshire", "Shropshire", "Gwent", "Dyfed-Powys", "North Wales", "Croydon", "Hackney", "Camden",
         "Southwark", "Lambeth", "Newham", "Tower Hamlets", "Birmingham", "Sheffield", "Bradford"]

ACTORS = ["the police", "officers", "the GP", "the GP practice", "the health visitor", "the midwife",
          "A&E staff", "the emergency department", "the hospital trust", "the community mental health team",
          "the IDVA", "the MARAC", "the MASH", "children's social care", "adult social care", "the housing officer",
          "the housing association", "probation", "the offender manager", "the drug and alcohol service",
          "the school", "the refuge", "Women's Aid", "the Community Safety Partnership", "the CCG", "the panel",
          "the ambulance crew", "paramedics", "the council", "the DWP", "the Jobcentre", "the employer",
          "Victim Support", "the outreach worker", "the substance misuse worker", "the safeguarding lead"]
VICTIMS = ["Adult A", "the victim", "she", "her", "Ms B", "Mrs C", "the deceased", "Adult B", "Mr D", "the mother"]
PERPS = ["the perpetrator", "he", "Mr X", "her partner", "her ex-partner", "her son", "Adult C", "the husband"]
VERBS = ["did not complete", "did not share", "failed to recognise", "recorded", "assessed", "referred",
         "did not refer", "graded", "missed", "identified", "escalated", "did not escalate", "discussed",
         "did not ask about", "noted", "shared", "reviewed", "closed", "declined", "offered"]
OBJECTS = ["a DASH risk assessment", "the risk of serious harm", "non-fatal strangulation", "the history of abuse",
           "coercive and controlling behaviour", "the threat to kill", "the separation", "the pregnancy",
           "the referral to MARAC", "information about previous incidents", "the safeguarding concern",
           "the child protection plan", "the housing application", "the alcohol misuse", "her mental health",
           "his drug use", "the stalking", "the harassment", "the breach of bail conditions",
           "the non-molestation order", "the domestic violence protection notice", "the injuries",
           "the disclosure", "routine enquiry", "the care and support needs", "the financial abuse",
           "the suicide risk", "the missed appointments", "the interpreter", "the immigration status"]
WHEN = ["in 2014", "in March 2016", "after the third incident", "two weeks before the homicide",
        "during the pregnancy", "following the separation", "at the initial contact", "on several occasions",
        "at the strategy meeting", "when she attended A&E", "after his release from prison",
        "during the home visit", "at the review", "throughout the period under review"]
FINDINGS = ["This was a missed opportunity to identify the escalating risk.",
            "Practitioners did not demonstrate professional curiosity.",
            "The panel found that information was held in silos and not shared between agencies.",
            "Records were incomplete and the risk was not flagged on the system.",
            "There is no evidence that the victim was seen alone or asked directly about abuse.",
            "Staff had not received domestic abuse training and did not recognise the signs.",
            "Caseloads were high and the service was under-resourced at the time.",
            "The review heard from her family, who felt that her voice was not heard.",
            "Thresholds for referral were unclear and applied inconsistently.",
            "The incident-by-incident response missed the pattern of coercive control.",
            "Language barriers and the lack of an interpreter limited what she could disclose.",
            "The perpetrator's history of violence towards previous partners was not known to agencies."]
RECS = ["{a} should ensure that all staff complete training on {o}.",
        "{a} should review its policy on {o} and report to the Board within six months.",
        "We recommend that {a} strengthens information sharing about {o} with partner agencies.",
        "{a} should introduce routine enquiry about domestic abuse, including {o}.",
        "The Community Safety Partnership should seek assurance from {a} that {o} is recognised as a risk factor."]

SYLL = ["bar", "ton", "wick", "ley", "mor", "ham", "ford", "stead", "bury", "wood", "lan", "ridge", "dale",
        "field", "cot", "win", "ash", "brook", "hurst", "mere", "thorn", "gate", "well", "ing", "ston"]


def _name(rng):
    return "".join(rng.choice(SYLL) for _ in range(rng.randint(2, 3))).capitalize()


def passage_text(rng, rec: bool) -> str:
    parts = []
    if rec:
        parts.append(rng.choice(RECS).format(a=rng.choice(ACTORS).capitalize(), o=rng.choice(OBJECTS)))
    while sum(len(p.split()) for p in parts) < rng.randint(45, 95):
        r = rng.random()
        if r < 0.45:
            parts.append(f"{rng.choice(WHEN).capitalize()}, {rng.choice(ACTORS)} {rng.choice(VERBS)} "
                         f"{rng.choice(OBJECTS)} relating to {rng.choice(VICTIMS)}.")
        elif r < 0.65:
            parts.append(rng.choice(FINDINGS))
        elif r < 0.85:
            parts.append(f"{rng.choice(PERPS).capitalize()} was known to {rng.choice(ACTORS)} in {_name(rng)}, "
                         f"where {rng.choice(VICTIMS)} lived with {_name(rng)} {_name(rng)}.")
        else:
            parts.append(f"{rng.choice(ACTORS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}; "
                         f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}.")
    return " ".join(parts)


def populate(store: Store, n_passages: int, per_doc: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    n_docs = (n_passages + per_doc - 1) // per_doc
    made = 0
    for d in range(n_docs):
        k = min(per_doc, n_passages - made)
        add_document(store, rng, d, k)
        made += k
    return n_docs


def add_document(store: Store, rng: random.Random, d: int, k: int, tagger_version: str = "bench-1") -> str:
    """One synthetic tagged document of k passages, numbered d; returns its doc_id."""
    theme_w = [1 / (i + 1) ** 0.7 for i in range(len(THEMES))]
    agency_w = [1 / (i + 1) ** 0.8 for i in range(len(AGENCIES))]
    year = rng.randint(2011, 2024)
    area = rng.choice(AREAS)
    doc = Document(path=f"/synthetic/dhr-{d:05d}.pdf", file_name=f"dhr-{d:05d}.pdf", content_hash=f"h{d}",
                   format="pdf", page_count=k // 4 + 1,
                   title=f"Domestic Homicide Review {d:05d}: Adult {chr(65 + d % 26)}, {area}",
                   year=year, area=area, doc_type=rng.choices(TYPES, [5, 3, 1, 1, 1])[0])
    recs = set(rng.sample(range(k), max(1, k // 10)))
    passages, tags = [], []
    for i in range(k):
        text = passage_text(rng, i in recs)
        passages.append(Passage(seq=i, text=text, page=i // 4 + 1, page_end=i // 4 + 1,
                                section=rng.choice(["Introduction", "Chronology", "Analysis", "Conclusions",
                                                    "Lessons learned", "Recommendations"]),
                                label=f"{i // 10 + 1}.{i % 10 + 1}"))
        themes = set(rng.choices(THEMES, theme_w, k=rng.choice([0, 1, 1, 2, 2, 3])))
        agencies = set(rng.choices(AGENCIES, agency_w, k=rng.choice([0, 1, 2, 2, 3, 4])))
        addressees = sorted(rng.sample(sorted(agencies), min(len(agencies), 2))) if i in recs and agencies else []
        tags.append({"themes": [{"id": t, "score": 0.8, "evidence": ""} for t in themes],
                     "agencies": [{"id": a, "mention": a} for a in agencies],
                     "is_recommendation": i in recs, "addressees": addressees,
                     "recommendation_label": f"Recommendation {i}" if i in recs else ""})
    doc_id = store.save_document(ProcessedDocument(doc, ["page"] * doc.page_count, passages), f"fp{d}")
    store.save_tags(doc_id, [(passage_id(doc_id, i), t) for i, t in enumerate(tags)], tagger_version)
    return doc_id


def timed(fn, runs):
    out = []
    for arg in runs:
        t = time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - t) * 1000)
    return out


def summary(ms):
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1), "max_ms": round(ms[-1], 1),
            "runs": len(ms)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=200_000)
    ap.add_argument("--per-doc", type=int, default=100, help="passages per synthetic document")
    ap.add_argument("--runs", type=int, default=60, help="queries per kind")
    ap.add_argument("--procs", type=int, default=None,
                    help="indexing processes for the build (default: SearchIndex.rebuild's choice, 2 on 2+ cores)")
    ap.add_argument("--data-dir", help="keep the store and index here (default: a temp dir, removed after)")
    ap.add_argument("--reuse", action="store_true", help="use the store and index already in --data-dir")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = None
    if args.data_dir:
        d = Path(args.data_dir)
        d.mkdir(parents=True, exist_ok=True)
    else:
        tmp = d = Path(tempfile.mkdtemp(prefix="dhr-bench-"))
    report: dict = {"passages": args.passages, "procs": args.procs or "auto"}
    try:
        report["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    try:
        store = Store(config.db_path(d))
        if not args.reuse:
            t = time.perf_counter()
            report["documents"] = populate(store, args.passages, args.per_doc)
            report["store_seconds"] = round(time.perf_counter() - t, 1)
            print(f"store: {report['documents']:,} documents, {args.passages:,} passages in "
                  f"{report['store_seconds']} s", file=sys.stderr)
            idx = SearchIndex(d)
            t = time.perf_counter()
            idx.rebuild(store, progress=sys.stderr.isatty(), procs=args.procs)
            report["build_seconds"] = round(time.perf_counter() - t, 1)
            print(f"index built in {report['build_seconds']} s", file=sys.stderr)
        idx = SearchIndex(d)
        t = time.perf_counter()
        st = idx.stats()  # opens the index: reads the per-passage arrays (tags, years) once
        report["open_index_ms"] = round((time.perf_counter() - t) * 1000, 1)
        report["indexed_passages"] = st["passages"]
        report["index_mb"] = round(st["size_bytes"] / 1e6, 1)
        report["segments"] = st["segments"]
        text_bytes = store.conn.execute("SELECT SUM(LENGTH(text)) FROM passages").fetchone()[0] or 0
        report["raw_text_mb"] = round(text_bytes / 1e6, 1)

        t = time.perf_counter()
        first = idx.search("risk assessment")
        report["first_search_ms"] = round((time.perf_counter() - t) * 1000, 1)  # cold: decodes its words' postings

        rng = random.Random(11)
        words = ["risk", "assessment", "strangulation", "referral", "GP", "police", "housing", "alcohol",
                 "training", "disclosure", "MARAC", "safeguarding", "separation", "pregnancy", "stalking",
                 "interpreter", "escalating", "curiosity", "records", "threat", "injuries", "bail", "refuge",
                 "caseloads", "thresholds", "mental", "children", "family", "appointments", "financial"]
        phrases = ["non-fatal strangulation", "risk assessment", "coercive and controlling behaviour",
                   "threat to kill", "missed opportunity", "professional curiosity", "child protection plan",
                   "seen alone", "information sharing", "domestic abuse training", "routine enquiry",
                   "breach of bail conditions", "mental health", "suicide risk", "escalating risk"]
        two = [f"{a} {b}" for a, b in (rng.sample(words, 2) for _ in range(args.runs))]
        phr = [f'"{rng.choice(phrases)}"' for _ in range(args.runs)]
        filt = []
        for _ in range(args.runs):
            lo = rng.randint(2011, 2020)
            filt.append((rng.choice(words), {"theme": [rng.choice(THEMES[:10])], "year": (lo, lo + 4)}))
        page = lambda q: idx.search(q, page_size=10)  # noqa: E731
        report["two_word"] = summary(timed(page, two))
        report["phrase"] = summary(timed(page, phr))
        report["two_filters_facets_top10"] = summary(timed(lambda a: idx.search(a[0], a[1], page_size=10), filt))
        report["filters_only_listing"] = summary(timed(
            lambda a: idx.search("", {"agency": ["police"], "rec": True, "year": a[1]["year"]}, page_size=10), filt))
        report["sort_by_year"] = summary(timed(lambda q: idx.search(q, page_size=10, sort="year"), two))
        pids = [h.passage_id for h in first.hits] or ["x"]
        report["more_like"] = summary(timed(lambda p: idx.more_like(p, n=10), [pids[i % len(pids)] for i in range(20)]))
        sample = idx.search(filt[0][0], filt[0][1], page_size=10)
        report["sample"] = {"query": filt[0], "total": sample.total,
                            "facet_theme": sample.facets["theme"][:3],
                            "snippet": sample.hits[0].snippet_html[:160] if sample.hits else ""}
        store.close()
        idx.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for k, v in report.items():
            print(f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
