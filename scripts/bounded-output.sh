#!/usr/bin/env bash
# The "every record dated in the future is named on every card" attack, measured: a patient-view
# call whose prefetch holds the motivating chart and 3,000 positive pregnancy tests dated a year
# ahead, sent 200 times to one gravida (SQLite store in a temp folder, so that each card's long
# form is also sealed in the store). Prints the first card's detail characters, its long form's
# bytes, the replica's RSS before and after (and its peak), the store's bytes, and the time of
# the 200 calls.
# Usage: scripts/bounded-output.sh [path/to/gravida] [records] [calls]
#   e.g. scripts/bounded-output.sh target/release/gravida 3000 200
# Needs curl and python3. Compare two builds by running it with each binary.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/gravida}
RECORDS=${2:-3000}
CALLS=${3:-200}
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GRAVIDA_LISTEN=127.0.0.1:$PORT GRAVIDA_STORE__DATA_DIR=$WORK/data GRAVIDA_LOG__FILTER=warn \
  "$BIN" serve >"$WORK/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.2
done
rss() { awk -v k="$1" '$1==k":" {print $2}' "/proc/$PID/status"; }
RSS_BEFORE=$(rss VmRSS)

python3 - "$RECORDS" >"$WORK/body.json" <<'PY'
import datetime, json, sys
n = int(sys.argv[1])
today = datetime.date.today()
day = lambda d: (today + datetime.timedelta(days=d)).isoformat()
p = "attack01"
subject = {"reference": f"Patient/{p}"}
def bundle(resources):
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}
status = {"resourceType": "Observation", "id": "status", "status": "final",
          "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
          "subject": subject, "effectiveDateTime": day(-30),
          "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]}}
lmp = {"resourceType": "Observation", "id": "lmp", "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]},
       "subject": subject, "effectiveDateTime": day(-5), "valueDateTime": day(-70)}
bleed = {"resourceType": "Condition", "id": "bleed",
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "723665008"}], "text": "vaginal bleeding"},
         "subject": subject, "onsetDateTime": day(0)}
future = [dict(status, id=f"future-{i}", effectiveDateTime=day(365 + i % 30),
               code={"coding": [{"system": "http://loinc.org", "code": "82810-3"}], "text": "Pregnancy test"})
          for i in range(n)]
empty = bundle([])
prefetch = {
    "patient": {"resourceType": "Patient", "id": p, "gender": "female", "birthDate": "1993-04-12"},
    "conditions": bundle([bleed]), "pregnancy": bundle([status, lmp] + future),
    "bleeding": empty, "hcg": empty, "rh": empty, "ultrasound": empty, "ultrasoundReports": empty,
    "encounters": empty, "procedures": empty, "vitalSigns": empty,
}
print(json.dumps({"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                  "context": {"userId": "Practitioner/example", "patientId": p},
                  "prefetch": prefetch}))
PY

URL=http://127.0.0.1:$PORT/cds-services/gravida-patient-view
START=$(date +%s.%N)
STATUSES=""
for i in $(seq 1 "$CALLS"); do
  code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -H 'content-type: application/json' \
    --data-binary @"$WORK/body.json" "$URL")
  STATUSES="$STATUSES $code"
  [ "$i" = 1 ] && cp "$WORK/answer.json" "$WORK/first.json"
done
END=$(date +%s.%N)
read -r DETAIL LINK < <(python3 - "$WORK/first.json" <<'PY'
import json, sys
cards = json.load(open(sys.argv[1]))["cards"]
card = cards[0]
link = next((l["url"] for l in card.get("links", []) if l["label"].startswith("Why this card")), "-")
print(len(card.get("detail", "")), link)
PY
)
LONG_FORM=$( [ "$LINK" = "-" ] && echo 0 || curl -s "$LINK" | wc -c)
RSS_AFTER=$(rss VmRSS)
PEAK=$(rss VmHWM)
STORE=$(du -sb "$WORK/data" | cut -f1)
echo "binary: $BIN; $RECORDS records dated in the future; $CALLS calls"
echo "answers: $(echo $STATUSES | tr ' ' '\n' | sort | uniq -c | awk '{printf "%s × %s  ", $1, $2}')"
printf 'first card detail: %s characters\n' "$DETAIL"
printf 'its long form: %s bytes\n' "$LONG_FORM"
printf 'RSS: %s kB before, %s kB after (peak %s kB)\n' "$RSS_BEFORE" "$RSS_AFTER" "$PEAK"
printf 'store folder after: %s bytes\n' "$STORE"
printf '%s calls in %.1f s\n' "$CALLS" "$(echo "$END - $START" | bc -l)"
