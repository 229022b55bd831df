//! The benchmark's patient: public scenario pub01 grown into a realistic chart of about 100 records.
//!
//! pub01 is "implantation bleeding" charted at 10w0d by LMP, with no ultrasound and no hCG: the
//! call must answer a warning card. Around it we put what a real chart of a woman in her thirties
//! holds, so that parsing and mapping cost what they cost in practice:
//!
//! * a problem list of 30 Conditions: chronic problems, resolved infections, and the
//!   pregnancy itself;
//! * pregnancy status recorded at most visits (every four weeks) over five years (`Not pregnant`, then `Pregnant`
//!   during an earlier pregnancy three years ago, then `Not pregnant` again, then `Pregnant` now);
//! * the earlier pregnancy's LMP and estimated delivery date, and Rh typing then and now.
//!
//! Nothing added may change the answer: the earlier pregnancy ended long before this one's LMP and
//! the Rh type is positive, so the cards are pub01's. Every date is relative to `today`, so the
//! server, which reads the real clock, sees the same gestational ages on any day. The output is
//! deterministic for a given `today`.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use time::{Date, Duration};

/// The patient id used in the context and every reference.
pub const PATIENT_ID: &str = "bench-pub01";

/// The patient's resources, grouped by the prefetch key whose search returns them.
#[derive(Debug, Clone)]
pub struct Chart {
    pub by_key: BTreeMap<&'static str, Vec<Json>>,
}

impl Chart {
    /// The chart as of `today`.
    pub fn new(today: Date) -> Chart {
        let mut chart = Builder {
            today,
            by_key: BTreeMap::new(),
            next_id: 0,
        };
        chart.patient();
        chart.conditions();
        chart.pregnancy_records();
        chart.rh();
        Chart {
            by_key: chart.by_key,
        }
    }

    /// How many resources the chart holds.
    pub fn len(&self) -> usize {
        self.by_key.values().map(Vec::len).sum()
    }

    /// True when the chart holds no resource (never, for [`Chart::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value an EHR prefetches for `key`: the search result as a Bundle, or the Patient read.
    pub fn prefetch_value(&self, key: &str) -> Json {
        match key {
            "patient" => self.by_key["patient"][0].clone(),
            _ => searchset(self.by_key.get(key).map(Vec::as_slice).unwrap_or_default()),
        }
    }
}

/// A FHIR `searchset` Bundle of `resources`, as a FHIR server returns a search.
pub fn searchset(resources: &[Json]) -> Json {
    let entries: Vec<Json> = resources
        .iter()
        .map(|resource| {
            json!({
                "fullUrl": format!("https://ehr.example.org/fhir/{}/{}", resource["resourceType"].as_str().unwrap_or_default(), resource["id"].as_str().unwrap_or_default()),
                "resource": resource,
                "search": {"mode": "match"}
            })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": resources.len(),
        "entry": entries
    })
}

struct Builder {
    today: Date,
    by_key: BTreeMap<&'static str, Vec<Json>>,
    next_id: usize,
}

const SNOMED: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";

impl Builder {
    fn day(&self, days_ago: i64) -> String {
        (self.today - Duration::days(days_ago)).to_string()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{PATIENT_ID}-{prefix}-{}", self.next_id)
    }

    fn push(&mut self, key: &'static str, resource: Json) {
        self.by_key.entry(key).or_default().push(resource);
    }

    fn patient(&mut self) {
        self.push(
            "patient",
            json!({
                "resourceType": "Patient", "id": PATIENT_ID, "gender": "female",
                "birthDate": self.day(32 * 365 + 8), "name": [{"family": "Test", "given": ["Bench"]}]
            }),
        );
    }

    /// One Condition. `abated` = days ago it resolved, if it has.
    fn condition(&mut self, code: &str, display: &str, onset: i64, abated: Option<i64>) {
        let mut condition = json!({
            "resourceType": "Condition",
            "id": self.id("cond"),
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": if abated.is_some() { "resolved" } else { "active" }}]},
            "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
            "subject": {"reference": format!("Patient/{PATIENT_ID}")},
            "onsetDateTime": self.day(onset)
        });
        if let Some(abated) = abated {
            condition["abatementDateTime"] = json!(self.day(abated));
        }
        self.push("conditions", condition);
    }

    fn conditions(&mut self) {
        // Chronic problems.
        for (code, display, onset) in [
            ("195967001", "Asthma", 6000),
            ("40930008", "Hypothyroidism", 2200),
            ("197480006", "Anxiety disorder", 1500),
            ("37796009", "Migraine", 4000),
            ("24079001", "Atopic dermatitis", 9000),
            ("162864005", "Body mass index 30+ - obesity", 800),
            ("87522002", "Iron deficiency anemia", 400),
        ] {
            self.condition(code, display, onset, None);
        }
        // Episodes that came and went over five years.
        for (i, (code, display)) in [
            ("68566005", "Urinary tract infectious disease"),
            ("444814009", "Viral sinusitis"),
            ("195662009", "Acute viral pharyngitis"),
            ("10509002", "Acute bronchitis"),
            ("43878008", "Streptococcal sore throat"),
            ("65363002", "Otitis media"),
            ("44465007", "Sprain of ankle"),
        ]
        .into_iter()
        .enumerate()
        {
            for episode in 0..3 {
                let onset = 1800 - (i as i64) * 37 - episode * 521;
                self.condition(code, display, onset, Some(onset - 12));
            }
        }
        // The earlier pregnancy, over long before this one.
        self.condition("72892002", "Normal pregnancy", 1140, Some(900));
        // pub01's record: "implantation bleeding" today, at 10w0d by LMP.
        self.push(
            "conditions",
            json!({
                "resourceType": "Condition", "id": "pub01-cond-3",
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
                "code": {"coding": [{"system": SNOMED, "code": "723665008", "display": "Vaginal bleeding complicating early pregnancy"}],
                         "text": "implantation bleeding"},
                "subject": {"reference": format!("Patient/{PATIENT_ID}")},
                "onsetDateTime": self.day(0), "recordedDate": self.day(0),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
            }),
        );
    }

    /// One Observation with a coded answer or a date, in the `pregnancy` search.
    fn observation(&mut self, key: &'static str, code: (&str, &str), days_ago: i64, value: Json) {
        let mut observation = json!({
            "resourceType": "Observation",
            "id": self.id("obs"),
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code.0, "display": code.1}]},
            "subject": {"reference": format!("Patient/{PATIENT_ID}")},
            "effectiveDateTime": self.day(days_ago)
        });
        if let (Json::Object(target), Json::Object(value)) = (&mut observation, value) {
            target.extend(value);
        }
        self.push(key, observation);
    }

    fn pregnancy_records(&mut self) {
        const STATUS: (&str, &str) = ("82810-3", "Pregnancy status");
        let answer = |pregnant: bool| {
            let (code, display) = if pregnant {
                ("77386006", "Pregnant")
            } else {
                ("60001007", "Not pregnant")
            };
            json!({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": code}], "text": display}})
        };
        // Visits every four weeks over five years; the earlier pregnancy ran from about 1160 to
        // 900 days ago; this one's LMP is 70 days ago.
        let mut days_ago = 1820;
        while days_ago > 75 {
            let pregnant = (900..=1140).contains(&days_ago);
            self.observation("pregnancy", STATUS, days_ago, answer(pregnant));
            days_ago -= 28;
        }
        // The earlier pregnancy's dating, recorded at its booking visit.
        self.observation(
            "pregnancy",
            ("8665-2", "Last menstrual period start date"),
            1120,
            json!({"valueDateTime": self.day(1160)}),
        );
        self.observation(
            "pregnancy",
            (
                "11779-6",
                "Delivery date Estimated from last menstrual period",
            ),
            1120,
            json!({"valueDateTime": self.day(1160 - 280)}),
        );
        // pub01's records: pregnant 30 days ago, LMP 70 days ago recorded 35 days ago.
        for days_ago in [30, 14] {
            self.observation("pregnancy", STATUS, days_ago, answer(true));
        }
        self.observation(
            "pregnancy",
            ("8665-2", "Last menstrual period start date"),
            35,
            json!({"valueDateTime": self.day(70)}),
        );
    }

    fn rh(&mut self) {
        for days_ago in [1120, 28] {
            self.observation(
                "rh",
                ("10331-7", "Rh [Type] in Blood"),
                days_ago,
                json!({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "165747007", "display": "RhD positive"}]}}),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_chart_is_about_a_hundred_records_and_the_same_every_time() {
        let today = date!(2026 - 11 - 22);
        let chart = Chart::new(today);
        assert!((90..=120).contains(&chart.len()), "{} records", chart.len());
        assert_eq!(
            Chart::new(today).prefetch_value("conditions"),
            chart.prefetch_value("conditions")
        );
    }

    #[test]
    fn pub01s_bleeding_record_is_dated_today_and_its_lmp_ten_weeks_ago() {
        let today = date!(2026 - 11 - 22);
        let chart = Chart::new(today);
        let bleed = chart.by_key["conditions"]
            .iter()
            .find(|c| c["id"] == "pub01-cond-3")
            .expect("pub01's bleeding record");
        assert_eq!(bleed["onsetDateTime"], "2026-11-22");
        let lmp = chart.by_key["pregnancy"]
            .iter()
            .rfind(|o| o["code"]["coding"][0]["code"] == "8665-2")
            .expect("the current LMP");
        assert_eq!(
            lmp["valueDateTime"],
            (today - Duration::days(70)).to_string()
        );
    }

    #[test]
    fn a_key_with_no_records_is_an_empty_searchset() {
        let chart = Chart::new(date!(2026 - 11 - 22));
        let bundle = chart.prefetch_value("hcg");
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["total"], 0);
    }
}
