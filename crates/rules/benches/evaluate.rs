//! Benchmark: `evaluate` on patients with 10, 100 and 1,000 records already mapped to facts.
//!
//! The records mix what a real chart holds: the pregnancy status, LMP, repeated hCG and blood
//! pressure results, older bleeding episodes and unrelated Conditions, plus today's bleed.
//! Run: `cargo bench -p gravida-rules -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gravida_rules::facts::{Code, PatientFacts, Record, RecordKind, Value, When};
use gravida_rules::knowledge::{ICD10CM, LOINC, SNOMED};
use gravida_rules::{evaluate, testkit};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2025-04-01 12:00 UTC);

fn record(kind: RecordKind, id: usize, system: &str, code: &str, days_ago: i64) -> Record {
    let mut r = Record::new(kind, format!("r{id}"));
    r.codes = vec![Code::new(system.to_owned(), code)];
    r.status = Some("final".into());
    r.clinical_status = (kind == RecordKind::Condition).then(|| "active".into());
    r.effective = Some(When::day(NOW.date() - Duration::days(days_ago)));
    r
}

/// A chart of `n` records (n ≥ 4) that ends in an R2 card.
fn chart(n: usize) -> PatientFacts {
    let mut records = Vec::with_capacity(n);
    let mut status = record(RecordKind::Observation, 0, LOINC, "82810-3", 30);
    status.value = Some(Value::Concept {
        codes: vec![Code::new(SNOMED, "77386006")],
        text: None,
    });
    records.push(status);
    let mut lmp = record(RecordKind::Observation, 1, LOINC, "8665-2", 20);
    lmp.value = Some(Value::DateTime(When::day(NOW.date() - Duration::days(84))));
    records.push(lmp);
    let mut bleed = record(RecordKind::Condition, 2, SNOMED, "723665008", 0);
    bleed.text = vec!["implantation bleeding".into()];
    records.push(bleed);
    for i in 3..n {
        let days_ago = (i % 300) as i64;
        let r = match i % 5 {
            0 => {
                let mut r = record(RecordKind::Observation, i, LOINC, "21198-7", days_ago);
                r.value = Some(Value::Quantity {
                    value: 1000.0 + i as f64,
                    unit: Some("m[IU]/mL".into()),
                    code: Some("m[IU]/mL".into()),
                    comparator: None,
                });
                r
            }
            1 => {
                let mut r = record(RecordKind::Observation, i, LOINC, "8480-6", days_ago);
                r.text = vec!["Systolic blood pressure".into()];
                r.value = Some(Value::Quantity {
                    value: 118.0,
                    unit: Some("mm[Hg]".into()),
                    code: Some("mm[Hg]".into()),
                    comparator: None,
                });
                r
            }
            2 => {
                let mut r = record(RecordKind::Condition, i, ICD10CM, "J45.909", days_ago + 400);
                r.text = vec!["Asthma, no acute exacerbation".into()];
                r
            }
            3 => {
                let mut r = record(RecordKind::Condition, i, SNOMED, "289530006", days_ago + 30);
                r.clinical_status = Some("resolved".into());
                r.text = vec!["Spotting, resolved".into()];
                r
            }
            _ => {
                let mut r = Record::new(RecordKind::Observation, format!("r{i}"));
                r.text = vec!["Nursing note: patient comfortable, no complaints".into()];
                r.effective = Some(When::day(NOW.date() - Duration::days(days_ago)));
                r
            }
        };
        records.push(r);
    }
    PatientFacts {
        records,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let kb = testkit::knowledge();
    let mut group = c.benchmark_group("evaluate");
    for n in [10usize, 100, 1000] {
        let facts = chart(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &facts, |b, facts| {
            b.iter(|| evaluate(black_box(&kb), black_box(facts), NOW))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
