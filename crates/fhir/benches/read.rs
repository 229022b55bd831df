//! Benchmark of reading a prefetch: the fast reader against the reference reader.
//!
//! The input is every resource of the scenario fixtures (public and extra), as an EHR would
//! prefetch them: the Patient read and a searchset Bundle of the rest, serialised once. Each
//! reader goes from those bytes to the gathered facts:
//!
//! * `fast`: `PrefetchSeed` over the bytes, then `gather` (which moves the records);
//! * `reference`: the bytes parsed into `serde_json::Value`, then `gather`, which maps each
//!   resource with fhir-sdk;
//! * `json_only`: the bytes parsed into `serde_json::Value` and dropped, what the load
//!   benchmark's baseline pays for its body.
//!
//! A second group, `read_fetched_pages`, reads the load benchmark's patient
//! (`tests/fixtures/fhir/bench-patient-pages.json`: the Patient read and the searchsets its FHIR
//! stub answers) as the client reads fetched pages, from each page's bytes to its records.
//!
//! Run with `cargo bench -p gravida-fhir --bench read` (one group: add `-- read_fetched_pages`).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use gravida_fhir::page::{CallAllowance, PageRead, read_page};
use gravida_fhir::{FastPrefetch, GatherInput, Prefetch, PrefetchSeed, gather};
use gravida_rules::query::{Need, PrefetchQuery};
use serde::de::DeserializeSeed;
use serde_json::{Map, Value, json};

fn queries() -> Vec<PrefetchQuery> {
    let query = |key: &str, need| PrefetchQuery {
        key: key.to_owned(),
        template: format!("{key}?patient={{{{context.patientId}}}}"),
        need,
    };
    vec![
        query("patient", Need::Context),
        query("records", Need::Central),
    ]
}

/// The scenario fixtures' resources as a prefetch object, serialised.
fn prefetch_bytes() -> (Vec<u8>, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut resources = Vec::new();
    for dir in ["scenarios", "scenarios-extra"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("scenario folder") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let scenario: Value =
                    serde_json::from_slice(&std::fs::read(&path).expect("scenario")).expect("json");
                resources.extend(
                    scenario["resources"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
    }
    let count = resources.len();
    let (patients, others): (Vec<Value>, Vec<Value>) = resources
        .into_iter()
        .partition(|resource| resource["resourceType"] == "Patient");
    let entries: Vec<Value> = others
        .into_iter()
        .map(|resource| json!({"resource": resource, "search": {"mode": "match"}}))
        .collect();
    let prefetch = json!({
        "patient": patients.into_iter().next().unwrap_or(Value::Null),
        "records": {"resourceType": "Bundle", "type": "searchset", "entry": entries},
    });
    (serde_json::to_vec(&prefetch).expect("serialise"), count)
}

fn gathered(queries: &[PrefetchQuery], prefetch: Prefetch<'_>) -> usize {
    // No `patientId`: the scenarios are many patients' records, and a call's gathering keeps
    // only its patient's (`gather/keep.rs`); without one in the context, all are kept.
    let context = Map::new();
    let input = GatherInput {
        granted: None,
        today: time::OffsetDateTime::now_utc().date(),
        queries,
        context: &context,
        prefetch,
        fhir: None,
        draft_orders: None,
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(5),
    };
    // Nothing is fetched: the future completes on its first poll.
    let gathered = futures::executor::block_on(gather(input)).expect("gathered");
    gathered.facts.records.len()
}

fn read(c: &mut Criterion) {
    let (bytes, count) = prefetch_bytes();
    let queries = queries();
    println!("prefetch of {count} resources, {} bytes", bytes.len());

    let fast = |bytes: &[u8]| {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let prefetch: FastPrefetch = PrefetchSeed { queries: &queries }
            .deserialize(&mut deserializer)
            .expect("the fast reader accepts the scenarios");
        gathered(&queries, Prefetch::Fast(prefetch))
    };
    let reference = |bytes: &[u8]| {
        let value: Value = serde_json::from_slice(bytes).expect("json");
        gathered(&queries, Prefetch::Json(value.as_object().expect("object")))
    };
    assert_eq!(
        fast(&bytes),
        reference(&bytes),
        "both readers find the same records"
    );

    let mut group = c.benchmark_group("read_prefetch");
    group.bench_function("fast", |b| b.iter(|| fast(&bytes)));
    group.bench_function("reference", |b| b.iter(|| reference(&bytes)));
    group.bench_function("json_only", |b| {
        b.iter(|| serde_json::from_slice::<Value>(&bytes).expect("json"))
    });
    group.finish();
}

/// The benchmark patient's pages, each serialised as its stub serves it.
fn fetched_pages() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/fhir/bench-patient-pages.json");
    let pages: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(path).expect("pages")).expect("json");
    pages
        .values()
        .map(|page| serde_json::to_vec(page).expect("serialise"))
        .collect()
}

/// Reads every page as the client does, and counts the resources read.
fn read_pages(pages: &[Vec<u8>]) -> usize {
    let allowance = CallAllowance::new(usize::MAX, usize::MAX);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    pages
        .iter()
        .map(
            |page| match read_page(page, true, deadline, &allowance).expect("read") {
                PageRead::Resource(_) => 1,
                PageRead::Bundle { resources, .. } => resources.len(),
            },
        )
        .sum()
}

fn read_fetched(c: &mut Criterion) {
    let pages = fetched_pages();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let count = read_pages(&pages);
    println!(
        "{} fetched pages, {count} resources, {bytes} bytes",
        pages.len()
    );
    let mut group = c.benchmark_group("read_fetched_pages");
    group.bench_function("pages", |b| b.iter(|| read_pages(&pages)));
    group.finish();
}

criterion_group!(benches, read, read_fetched);
criterion_main!(benches);
