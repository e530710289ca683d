"""After a batch: note answers that nearly copy another student's or the library's code.

The similarity itself is :mod:`.similarity` (copydetect). The starter code in the
release's answer cells is boilerplate that everybody shares and never counts. A
match changes no score: the row becomes ``flagged`` with the similarity and what it
matches, for a human to look at, and copydetect's report lists every pair.
"""

from __future__ import annotations

from pathlib import Path

from .worker import Outcome, Settings, answers_text, releases_of


def flag_copies(layout, assignment: str, outcomes: list[Outcome], settings: Settings,
                out_dir: Path, log=print) -> Path | None:
    """Flag rows whose answers match; return the report's path (None: nothing to compare)."""
    from .similarity import find_copies, library_references

    answers = {o.student_id: o.answers for o in outcomes if o.answers and o.status != "failed"}
    if not answers:
        return None
    releases = releases_of(settings)
    report = Path(out_dir) / "similarity.html"
    matches = find_copies(answers, boilerplate=answers_text(releases, releases),
                          references=library_references(), report=report)
    names = {o.student_id: o.name for o in outcomes}
    for outcome in outcomes:
        found = matches.get(outcome.student_id) or []
        if not found:
            continue
        described = ", ".join(
            f"{'the library file ' if m.kind == 'library' else ''}"
            f"{names.get(m.other, m.other)} ({m.similarity:.0%})" for m in found[:3])
        outcome.status = "flagged"
        outcome.reason = "; ".join(filter(None, [outcome.reason,
                                                 f"answers nearly copy {described}: see "
                                                 f"{report.name}"]))
    flagged = sum(bool(matches.get(o.student_id)) for o in outcomes)
    if flagged:
        log(f"similarity: {flagged} submission(s) flagged; report: {report}")
    return report
