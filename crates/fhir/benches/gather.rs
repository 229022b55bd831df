//! Benchmark of hook data-gathering latency against a local stub FHIR server (wiremock).
//!
//! Four prefetch keys, none prefetched, so all four are fetched, concurrently. The stub answers
//! every search in 0 ms and, in a second round, in 50 ms. Because the searches run at once,
//! gathering four keys should cost little more than the slowest single search: the number that
//! matters is that overhead (target: under 2 ms). Criterion measures `one_search` and
//! `gather_4_keys`; the overhead is also computed directly and printed, from paired runs.
//!
//! Run with `cargo bench -p gravida-fhir --bench gather` (add `--profile dev` to skip the
//! optimised build of fhir-sdk on a small machine; the overhead is dominated by I/O either way).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gravida_fhir::{FetchLimits, FhirClient, FhirServer, GatherInput, gather};
use gravida_rules::facts::Input;
use gravida_rules::query::{Need, PrefetchQuery};
use serde_json::{Map, Value, json};
use url::Url;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATIENT: &str = "bench-patient";

fn queries() -> Vec<PrefetchQuery> {
    let query = |key: &str, template: &str, need| PrefetchQuery {
        key: key.to_owned(),
        template: template.to_owned(),
        need,
    };
    vec![
        query("patient", "Patient/{{context.patientId}}", Need::Context),
        query(
            "conditions",
            "Condition?patient={{context.patientId}}",
            Need::Central,
        ),
        query(
            "dating",
            "Observation?patient={{context.patientId}}&code=http://loinc.org|8665-2,http://loinc.org|11779-6",
            Need::Central,
        ),
        query(
            "hcg",
            "Observation?patient={{context.patientId}}&code=http://loinc.org|21198-7",
            Need::Optional(Input::Hcg),
        ),
    ]
}

/// A searchset of `n` small Observations, like a real dating search.
fn bundle(n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({"resource": {
                "resourceType": "Observation", "id": format!("obs-{i}"), "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8665-2"}]},
                "effectiveDateTime": "2025-03-01", "valueDateTime": "2025-01-20"
            }})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

async fn stub(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(bundle(5).to_string(), "application/fhir+json")
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

struct Setup {
    client: FhirClient,
    base: FhirServer,
    queries: Vec<PrefetchQuery>,
    context: Map<String, Value>,
}

impl Setup {
    async fn gather_all(&self) {
        let gathered = gather(GatherInput {
            granted: None,
            today: time::OffsetDateTime::now_utc().date(),
            queries: &self.queries,
            context: &self.context,
            prefetch: gravida_fhir::Prefetch::None,
            fhir: Some((&self.client, &self.base, Some("bench-token"))),
            draft_orders: None,
            deadline: tokio::time::Instant::now() + Duration::from_secs(3),
        })
        .await;
        assert!(gathered.is_ok_and(|gathered| gathered.fetched.len() == 4));
    }

    async fn one_search(&self, relative: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let result = self
            .client
            .search(
                &self.base,
                relative,
                Some("bench-token"),
                deadline,
                &self.client.call_allowance(),
            )
            .await;
        assert!(result.is_ok());
    }

    /// Median of (gather time − slowest of the four searches run one by one), paired per round.
    async fn median_overhead(&self, rounds: usize) -> (Duration, Duration) {
        let searches: Vec<String> = self
            .queries
            .iter()
            .map(|query| query.template.replace("{{context.patientId}}", PATIENT))
            .collect();
        let mut gathers = Vec::with_capacity(rounds);
        let mut slowest = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            self.gather_all().await;
            gathers.push(started.elapsed());
            let mut longest = Duration::ZERO;
            for search in &searches {
                let started = Instant::now();
                self.one_search(search).await;
                longest = longest.max(started.elapsed());
            }
            slowest.push(longest);
        }
        (median(gathers), median(slowest))
    }
}

fn median(mut durations: Vec<Duration>) -> Duration {
    durations.sort();
    durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    for delay_ms in [0u64, 50] {
        let server = runtime.block_on(stub(Duration::from_millis(delay_ms)));
        let Value::Object(context) = json!({"patientId": PATIENT, "userId": "Practitioner/u1"})
        else {
            unreachable!("a literal object");
        };
        let setup = Setup {
            client: FhirClient::new(FetchLimits::default()).expect("client"),
            base: FhirServer::check(&Url::parse(&format!("{}/fhir", server.uri())).expect("url"))
                .expect("base"),
            queries: queries(),
            context,
        };
        let single = format!("Condition?patient={PATIENT}");
        let mut group = c.benchmark_group(format!("stub_{delay_ms}ms"));
        if delay_ms > 0 {
            group.sample_size(20);
        }
        group.bench_function("one_search", |b| {
            b.to_async(&runtime).iter(|| setup.one_search(&single))
        });
        group.bench_function("gather_4_keys", |b| {
            b.to_async(&runtime).iter(|| setup.gather_all())
        });
        group.finish();

        let (gathered, slowest) = runtime.block_on(setup.median_overhead(31));
        println!(
            "stub {delay_ms} ms: median gather of 4 keys {gathered:?}, median slowest single search \
             {slowest:?}, overhead {:?}",
            gathered.saturating_sub(slowest)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
