#!/usr/bin/env python3
"""Scores scenario-format charts against `gravida evaluate`: the blind check of new chart shapes.

    python3 scripts/score-charts.py target/debug/gravida tests/fixtures/blind-2026-12-07

Each chart (the format of tests/fixtures/scenarios/README.md) becomes a prefetch-only request:
`patient` is its Patient, each Observation key holds every Observation, and the other keys every
resource of their type (Condition, DiagnosticReport, Encounter, Procedure, and the medication
records: MedicationAdministration, MedicationStatement, MedicationRequest, Immunization). The EHR's own code
filter is not applied, so the score is what the engine makes of the records once they reach it.
The cards are held to the chart's `expect` block as tests/it/expect.rs holds the scenarios.
Prints one line per chart and `score: N/M`; exits 0 whatever the score (it measures, it does not
gate).
"""
import json
import pathlib
import re
import subprocess
import sys

RANK = {"none": 0, "info": 1, "warning": 2, "critical": 3}
OBSERVATION_KEYS = ["pregnancy", "bleeding", "hcg", "rh", "ultrasound", "vitalSigns"]


def bundle(resources):
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)],
    }


def card_text(card):
    """All the text a clinician sees on a card, as expect.rs reads it."""
    parts = [card.get("summary", ""), card.get("detail", "")]
    for suggestion in card.get("suggestions") or []:
        parts.append(suggestion.get("label", ""))
        for action in suggestion.get("actions") or []:
            parts += [
                action.get("description", ""),
                json.dumps(action.get("resource")),
                action.get("resourceId", "") or "",
            ]
    for link in card.get("links") or []:
        parts += [link.get("label", ""), link.get("url", "")]
    return "\n".join(p for p in parts if p)


def request_for(chart):
    resources = chart["resources"]

    def of(kind):
        return [r for r in resources if r.get("resourceType") == kind]

    patients = of("Patient")
    prefetch = {
        "patient": patients[0] if patients else None,
        "conditions": bundle(of("Condition")),
        "ultrasoundReports": bundle(of("DiagnosticReport")),
        "encounters": bundle(of("Encounter")),
        "procedures": bundle(of("Procedure")),
        "recentProcedures": bundle(of("Procedure")),
        "medicationAdministrations": bundle(of("MedicationAdministration")),
        "medicationStatements": bundle(of("MedicationStatement")),
        "medicationRequests": bundle(of("MedicationRequest")),
        "immunizations": bundle(of("Immunization")),
    }
    for key in OBSERVATION_KEYS:
        prefetch[key] = bundle(of("Observation"))
    return {
        "hook": chart["hook"],
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": chart["context"],
        "prefetch": prefetch,
    }


def failures(binary, chart):
    answer = subprocess.run(
        [binary, "evaluate", "--request", "-", "--now", chart["now"] + "T12:00:00Z"],
        input=json.dumps(request_for(chart)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if answer.returncode != 0:
        return [f"exit {answer.returncode}: {answer.stderr.strip()[:200]}"], []
    cards = json.loads(answer.stdout).get("cards", [])
    expect, out = chart["expect"], []
    highest = max([RANK.get(c.get("indicator"), 0) for c in cards] or [0])
    if highest != RANK[expect.get("max_indicator", "none")]:
        out.append(f"highest indicator {highest}, expected {expect.get('max_indicator')}")
    texts = [card_text(c) for c in cards]
    for pattern in expect.get("mention", []):
        if not any(re.search(pattern, t, re.I) for t in texts):
            out.append(f"missing /{pattern}/")
    for pattern in expect.get("not_mention", []):
        if any(re.search(pattern, t, re.I) for t in texts):
            out.append(f"says /{pattern}/")
    suggestions = [s for c in cards for s in c.get("suggestions") or []]
    for pattern in expect.get("suggest", []):
        if not any(re.search(pattern, card_text({"suggestions": [s]}), re.I) for s in suggestions):
            out.append(f"no suggestion /{pattern}/")
    return out, [c.get("summary") for c in cards]


def main():
    binary, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    charts = sorted(folder.glob("*.json"))
    passed = 0
    for path in charts:
        problems, summaries = failures(binary, json.loads(path.read_text()))
        passed += not problems
        verdict = "PASS" if not problems else "FAIL " + "; ".join(problems)
        print(f"{path.stem}: {verdict}  | cards: {summaries}")
    print(f"\nscore: {passed}/{len(charts)}")


if __name__ == "__main__":
    main()
