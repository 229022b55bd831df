//! Settings loaded through `Settings::load_from`, as the service loads them: the layering of
//! defaults, file and environment, and every check that refuses a setting.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn rule_modes_are_read_from_a_list_a_variable_per_rule_or_the_files_table() {
    let modes = |s: Settings| {
        s.rule_modes
            .0
            .into_iter()
            .map(|(rule, mode)| format!("{rule}={mode}"))
            .collect::<Vec<_>>()
    };
    let listed =
        Settings::load_from(None, env(&[("GRAVIDA_RULE_MODES", "R12=off, r3=silent")])).unwrap();
    assert_eq!(modes(listed), ["R12=off", "R3=silent"]);
    let one = Settings::load_from(None, env(&[("GRAVIDA_RULE_MODES__R2E", "active")])).unwrap();
    assert_eq!(modes(one), ["R2E=active"]);
    let dir = std::env::temp_dir().join(format!("gravida-modes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gravida.toml");
    std::fs::write(&file, "[rule_modes]\nR15 = \"silent\"\n").unwrap();
    assert_eq!(
        modes(Settings::load_from(Some(&file), env(&[])).unwrap()),
        ["R15=silent"]
    );
    assert!(modes(Settings::load_from(None, env(&[])).unwrap()).is_empty());
    let err = Settings::load_from(None, env(&[("GRAVIDA_RULE_MODES", "R12:off")])).unwrap_err();
    assert!(err.to_string().contains("rule_modes"), "{err}");
}

#[test]
fn the_defaults_listen_on_loopback_with_a_three_second_fhir_budget() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.fhir.deadline_ms, 3_000);
    assert_eq!(s.public_base(), "http://127.0.0.1:8080");
    assert!(!s.insecure_no_auth);
    assert_eq!(s.cors.allowed_origins, vec!["*"]);
}

#[test]
fn environment_variables_override_the_file_with_double_underscore_nesting() {
    let dir = std::env::temp_dir().join(format!("gravida-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gravida.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\nprofiles = \"site\"\n[fhir]\ndeadline_ms = 2000\n",
    )
    .unwrap();
    let s = Settings::load_from(
        Some(&file),
        env(&[
            ("GRAVIDA_FHIR__DEADLINE_MS", "1500"),
            ("GRAVIDA_PUBLIC_BASE_URL", "https://cds.example.org/"),
            ("GRAVIDA_TEST_FHIR_URL", "http://ignored"),
            ("OTHER", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.fhir.deadline_ms, 1500);
    assert_eq!(s.public_base(), "https://cds.example.org");
    assert_eq!(s.profiles.unwrap(), dir.join("site"));
}

#[test]
fn issuers_are_read_with_jwks_files_relative_to_the_settings_file() {
    let dir = std::env::temp_dir().join(format!("gravida-issuers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gravida.toml");
    std::fs::write(
        &file,
        r#"
[[auth.issuers]]
iss = "https://ehr-a.example.org"
jwks_url = "https://ehr-a.example.org/.well-known/jwks.json"
fhir_servers = ["https://fhir.ehr-a.example.org/R4"]
tenants = ["org-1"]

[[auth.issuers]]
iss = "https://ehr-b.example.org"
jwks_file = "keys/ehr-b.jwks.json"
algorithms = ["RS384"]
"#,
    )
    .unwrap();
    let s = Settings::load_from(Some(&file), env(&[])).unwrap();
    assert_eq!(s.auth.issuers.len(), 2);
    assert_eq!(
        s.auth.issuers[0].tenants.as_deref(),
        Some(&["org-1".to_owned()][..])
    );
    assert_eq!(
        s.auth.issuers[1].jwks_file.as_deref(),
        Some(dir.join("keys/ehr-b.jwks.json").as_path())
    );

    std::fs::write(&file, "[[auth.issuers]]\niss = \"x\"\n").unwrap();
    let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("exactly one of jwks_url and jwks_file"),
        "{err}"
    );
}

#[test]
fn issuer_audiences_default_to_the_endpoint_and_a_bad_list_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("gravida-aud-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gravida.toml");
    let issuer = "[[auth.issuers]]\niss = \"https://ehr.example.org\"\njwks_url = \"https://ehr.example.org/jwks\"\n";
    let load = |top: &str, audiences: &str| {
        std::fs::write(&file, format!("{top}\n{issuer}{audiences}\n")).unwrap();
        Settings::load_from(Some(&file), env(&[]))
    };

    let s = load("", "").unwrap();
    assert_eq!(s.auth.issuers[0].audiences, [IssuerAudience::Endpoint]);
    let base = "public_base_url = \"https://cds.example.org\"";
    let s = load(base, "audiences = [\"endpoint\", \"public_base_url\"]").unwrap();
    assert_eq!(
        s.auth.issuers[0].audiences,
        [IssuerAudience::Endpoint, IssuerAudience::PublicBaseUrl]
    );

    for (top, audiences, expected) in [
        (
            base,
            "audiences = [\"base_url\"]",
            "unknown audience \"base_url\"",
        ),
        (
            base,
            "audiences = \"endpoint\"",
            "auth.issuers audiences: invalid type",
        ),
        (base, "audiences = []", "audiences must list at least one"),
        (
            "",
            "audiences = [\"public_base_url\"]",
            "public_base_url must be set",
        ),
    ] {
        let err = load(top, audiences).unwrap_err().to_string();
        assert!(err.contains(expected), "{audiences}: {err}");
    }
}

#[test]
fn kubernetes_service_links_are_ignored_and_reported_by_name_only() {
    let s = Settings::load_from(
        None,
        env(&[
            ("GRAVIDA_SERVICE_HOST", "10.0.0.7"),
            ("GRAVIDA_SERVICE_PORT", "80"),
            ("GRAVIDA_SERVICE_PORT_HTTP", "80"),
            ("GRAVIDA_PORT", "tcp://10.0.0.7:80"),
            ("GRAVIDA_PORT_80_TCP", "tcp://10.0.0.7:80"),
            ("GRAVIDA_PORT_80_TCP_PROTO", "tcp"),
            ("GRAVIDA_PORT_80_TCP_PORT", "80"),
            ("GRAVIDA_PORT_80_TCP_ADDR", "10.0.0.7"),
            ("GRAVIDA_METRICS_SERVICE_HOST", "10.0.0.8"),
            ("GRAVIDA_FHIR__DEADLINE_MS", "1500"),
        ]),
    )
    .unwrap();
    assert_eq!(s.fhir.deadline_ms, 1500);
    assert_eq!(s.ignored_env.len(), 9, "{:?}", s.ignored_env);
    assert!(
        s.ignored_env.iter().all(|v| v.service_link),
        "{:?}",
        s.ignored_env
    );
    assert!(
        s.ignored_env
            .iter()
            .all(|v| !format!("{v:?}").contains("10.0.0"))
    );
}

#[test]
fn another_programs_gravida_variable_is_ignored_but_not_taken_for_a_service_link() {
    let s = Settings::load_from(None, env(&[("GRAVIDA_HOME", "/opt/x")])).unwrap();
    assert_eq!(
        s.ignored_env,
        vec![IgnoredVariable {
            name: "GRAVIDA_HOME".into(),
            service_link: false
        }]
    );
}

#[test]
fn a_misspelt_section_is_still_an_error() {
    let err = Settings::load_from(None, env(&[("GRAVIDA_FHR__DEADLINE_MS", "10")])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("GRAVIDA_FHR__DEADLINE_MS"), "{text}");
    assert!(text.contains("unknown section `fhr`"), "{text}");
}

#[test]
fn an_unknown_key_is_an_error_that_names_where_it_came_from() {
    let err = Settings::load_from(None, env(&[("GRAVIDA_FHIR__DEADLINE", "10")])).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("GRAVIDA_FHIR__DEADLINE"), "{text}");
    assert!(text.contains("deadline"), "{text}");
}

#[test]
fn a_zero_hook_call_limit_is_refused() {
    let err = Settings::load_from(
        None,
        env(&[("GRAVIDA_HTTP__MAX_CONCURRENT_HOOK_CALLS", "0")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("max_concurrent_hook_calls"),
        "{err}"
    );
    let default = Settings::load_from(None, env(&[])).expect("defaults");
    assert_eq!(default.http.max_concurrent_hook_calls, 256);
}

#[test]
fn an_enqueue_wait_over_a_second_is_refused_and_one_longer_than_a_short_request_timeout_is_not() {
    let err =
        Settings::load_from(None, env(&[("GRAVIDA_STORE__ENQUEUE_WAIT_MS", "1001")])).unwrap_err();
    assert!(err.to_string().contains("enqueue_wait_ms"), "{err}");
    // A call never waits past its deadline, so the default 250 ms wait stands beside a 200 ms
    // request timeout (a test's, or a site's that wants answers fast).
    let short = Settings::load_from(
        None,
        env(&[
            ("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "200"),
            ("GRAVIDA_FHIR__DEADLINE_MS", "100"),
        ]),
    )
    .expect("a short request timeout with the default enqueue wait");
    assert_eq!(short.store.enqueue_wait_ms, 250);
}

#[test]
fn a_body_budget_whose_large_share_cannot_hold_the_largest_body_is_refused() {
    // Three quarters of 1,000,000 is 750,000: a largest body of 750,000 fits, 750,001 not.
    let fits = [
        ("GRAVIDA_HTTP__MAX_BODY_BYTES", "750000"),
        ("GRAVIDA_HTTP__MAX_BODY_BYTES_IN_FLIGHT", "1000000"),
    ];
    Settings::load_from(None, env(&fits)).expect("the largest body fits");
    let err = Settings::load_from(
        None,
        env(&[
            ("GRAVIDA_HTTP__MAX_BODY_BYTES", "750001"),
            ("GRAVIDA_HTTP__MAX_BODY_BYTES_IN_FLIGHT", "1000000"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("four thirds"), "{err}");
}

#[test]
fn card_settings_have_safe_defaults_and_refuse_a_link_that_never_works_or_lasts_for_days() {
    let default = Settings::load_from(None, env(&[])).expect("defaults");
    assert_eq!(default.cards.repeat_window_hours, 12);
    assert_eq!(default.cards.long_form_ttl_s, 1800);
    let set = Settings::load_from(None, env(&[("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "0")]))
        .expect("a window of 0 is allowed");
    assert_eq!(set.cards.repeat_window_hours, 0);
    for (key, value) in [
        ("GRAVIDA_CARDS__LONG_FORM_TTL_S", "0"),
        ("GRAVIDA_CARDS__LONG_FORM_TTL_S", "604800"),
        ("GRAVIDA_CARDS__LONG_FORM_CAPACITY", "0"),
        ("GRAVIDA_CARDS__REPEAT_WINDOW_HOURS", "720"),
    ] {
        let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err();
        assert!(err.to_string().contains("cards."), "{key}={value}: {err}");
    }
}

#[test]
fn a_request_timeout_shorter_than_the_fhir_deadline_is_refused() {
    let err = Settings::load_from(None, env(&[("GRAVIDA_HTTP__REQUEST_TIMEOUT_MS", "1000")]))
        .unwrap_err();
    assert!(err.to_string().contains("request_timeout_ms"), "{err}");
}

#[test]
fn the_store_is_sqlite_in_the_data_dir_unless_a_url_or_url_file_says_otherwise() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.store.url().unwrap(), "sqlite://data/gravida.db");
    assert!(s.metrics.enabled);

    let dir = std::env::temp_dir().join(format!("gravida-store-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("url"), "postgres://u:secret-pw@db/g\n").unwrap();
    let file = dir.join("gravida.toml");
    std::fs::write(&file, "[store]\nurl_file = \"url\"\nretention_days = 30\n").unwrap();
    let s = Settings::load_from(Some(&file), env(&[])).unwrap();
    assert_eq!(s.store.url().unwrap(), "postgres://u:secret-pw@db/g");
    assert_eq!(s.store.retention_days, Some(30));

    let s = Settings::load_from(
        None,
        env(&[("GRAVIDA_STORE__URL", "postgres://u:secret-pw@db/g")]),
    )
    .unwrap();
    assert!(
        !format!("{s:?}").contains("secret-pw"),
        "Debug hides the password"
    );

    let err =
        Settings::load_from(Some(&file), env(&[("GRAVIDA_STORE__URL", "sqlite:x")])).unwrap_err();
    assert!(
        err.to_string().contains("at most one of url and url_file"),
        "{err}"
    );
    let err =
        Settings::load_from(None, env(&[("GRAVIDA_STORE__RETENTION_DAYS", "0")])).unwrap_err();
    assert!(err.to_string().contains("retention_days"), "{err}");
}

#[test]
fn the_http_front_has_finite_timeouts_and_a_connection_cap_by_default() {
    let s = Settings::load_from(None, env(&[])).expect("defaults");
    assert_eq!(s.http.header_read_timeout_ms, 5_000);
    assert_eq!(s.http.idle_timeout_ms, 75_000);
    assert_eq!(s.http.max_connections, 1024);
    assert_eq!(s.http.body_read_timeout_ms, 5_000);

    let s = Settings::load_from(
        None,
        env(&[
            ("GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS", "300"),
            ("GRAVIDA_HTTP__MAX_CONNECTIONS", "2"),
        ]),
    )
    .expect("overrides");
    assert_eq!(s.http.header_read_timeout_ms, 300);
    assert_eq!(s.http.max_connections, 2);

    for key in [
        "GRAVIDA_HTTP__MAX_CONNECTIONS",
        "GRAVIDA_HTTP__IDLE_TIMEOUT_MS",
        "GRAVIDA_HTTP__BODY_READ_TIMEOUT_MS",
        "GRAVIDA_HTTP__HEADER_READ_TIMEOUT_MS",
    ] {
        let err = Settings::load_from(None, env(&[(key, "0")])).unwrap_err();
        let field = key
            .trim_start_matches("GRAVIDA_HTTP__")
            .to_ascii_lowercase();
        assert!(err.to_string().contains(&field), "{key}: {err}");
    }
}

#[test]
fn a_malformed_listen_address_is_an_error() {
    let err = Settings::load_from(None, env(&[("GRAVIDA_LISTEN", "not-an-address")])).unwrap_err();
    assert!(err.to_string().contains("GRAVIDA_LISTEN"), "{err}");
}
