//! Start-up: load the knowledge, check the deployment is safe to run, bind, and serve until told
//! to stop.
//!
//! `Application::build` does everything that can fail before the first request, so a
//! misconfigured service refuses to start instead of answering wrongly. Binding happens in
//! `build` too, so tests can ask for port 0 and read the port back before serving.
//!
//! `run_until` serves through the HTTP front in [`front`]: our own accept loop over hyper, which
//! sheds slow and idle clients (header-read and idle timeouts) and caps the connections a
//! replica keeps open, so that no number of slow clients can exhaust its memory or its permits.
//!
//! The drain, on SIGTERM (what Kubernetes sends when it stops a pod):
//!
//! 1. `/readyz` answers 503 at once, so that the Service's endpoints and any load balancer
//!    stop sending new calls here;
//! 2. for `http.drain_grace_ms` the replica goes on accepting and answering as before, because
//!    the endpoints take a few seconds to update and calls keep arriving meanwhile;
//! 3. then it stops accepting, and the calls in flight are finished (each bounded by
//!    `http.request_timeout_ms`);
//! 4. the audit queue is flushed: every card record queued is written;
//! 5. the process exits.
//!
//! The governance console ([`crate::admin`]), when `[admin] listen` is set, is bound here too,
//! on its own listener, and served beside the EHR's front by a front of its own
//! ([`front::serve`] with the same `[http]` limits and its own connection slots: it is not the
//! EHR-facing port, but a slow client there is cut off as on it); it stops with the process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use gravida_auth::ReplayStore;
use gravida_fhir::{FetchLimits, FhirClient};
use gravida_knowledge::KnowledgeBase;
use gravida_store::{SqlReplayStore, Store};
use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::audit::Audit;
use crate::settings::Settings;

/// A bound, ready-to-serve Gravida.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Routes served beside the service's own (`gravida demo` adds its page and FHIR server).
    extra: Router,
    /// The governance console's own listener and state, when `[admin] listen` is set.
    admin: Option<(TcpListener, crate::admin::Console)>,
}

impl Application {
    /// Loads the knowledge base, checks the settings, builds the FHIR client and binds.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let started = Instant::now();
        let kb = load_knowledge(&settings)?;
        let verifier = crate::auth::verifier(&settings.auth, &settings.public_base())
            .context("configuring authentication")?;
        check_exposure(&settings, verifier.is_some())?;
        if settings.metrics.enabled {
            crate::metrics::install();
        }
        let audit = Audit::start(&settings.store).await?;
        if let Some(audit) = &audit {
            audit.record_profile_version(gravida_store::ProfileVersion {
                profile_version: kb.version().to_owned(),
                version: kb.profile_version().to_owned(),
                change_note: kb.change_note().to_owned(),
            });
        }
        // With PostgreSQL, replicas share one replay guard; SQLite serves one replica, whose
        // in-memory guard is enough.
        let shared_replay: Option<Arc<dyn ReplayStore>> = match &audit {
            Some(audit) if matches!(audit.store(), Store::Postgres(_)) => Some(Arc::new(
                SqlReplayStore::new(audit.store().clone(), settings.auth.replay_capacity),
            )),
            _ => None,
        };
        if let Some(verifier) = &verifier {
            // Best effort: an EHR whose JWKS is down now is retried on its first call.
            for problem in verifier.prefetch_keys().await {
                tracing::warn!(
                    problem = problem.as_str(),
                    "could not fetch an issuer's keys at start-up"
                );
            }
        }

        let fhir = FhirClient::new(FetchLimits {
            max_pages: settings.fhir.max_pages,
            max_response_bytes: settings.fhir.max_response_bytes,
            memory_budget_bytes: settings.fhir.memory_budget_bytes,
            max_call_entries: settings.fhir.max_call_entries,
            max_call_bytes: settings.fhir.max_call_bytes,
            ..FetchLimits::default()
        })
        .context("building the FHIR client")?;

        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        // With port 0 the OS picks the port: record the real address.
        settings.listen = listener.local_addr()?;
        let admin = match (settings.admin.listen, &audit) {
            (Some(addr), Some(audit)) => {
                let token = settings.admin.token().context("reading admin.token_file")?;
                if !addr.ip().is_loopback() && token.as_deref().is_none_or(str::is_empty) {
                    anyhow::bail!(
                        "refusing to expose the governance console on {addr} without a token: \
                         admin.token_file is empty"
                    );
                }
                let admin_listener = crate::admin::bind(addr).await?;
                let bound = admin_listener.local_addr()?;
                settings.admin.listen = Some(bound);
                tracing::info!(admin = %bound, token = token.is_some(), "governance console ready");
                let console = crate::admin::Console::new(audit.store().clone(), token.as_deref());
                Some((admin_listener, console))
            }
            // Checked with the settings: a console needs the store.
            (Some(_), None) => anyhow::bail!("admin.listen needs the store"),
            (None, _) => None,
        };

        tracing::info!(
            listen = %settings.listen,
            public_base = settings.public_base(),
            profile = kb.version(),
            startup_ms = started.elapsed().as_millis() as u64,
            "gravida ready"
        );
        let mut state = AppState::new(kb, fhir, verifier, settings).with_audit(audit);
        if let Some(replay) = shared_replay {
            state = state.with_replay_store(replay);
        }
        Ok(Application {
            listener,
            state,
            extra: Router::new(),
            admin,
        })
    }

    /// Serves `routes` beside the service's own. They get none of the service's middleware, so
    /// they bring their own (CORS, headers); their paths must not overlap the service's.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// Reads hook calls at `clock`'s now instead of the system's: a test of a chart written on
    /// a given day reads it on that day, whatever day the test runs.
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.state.clock = clock;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.settings.listen
    }

    /// The governance console's address, when it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.state
            .settings
            .admin
            .listen
            .filter(|_| self.admin.is_some())
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then drains (see the module doc): `/readyz` answers
    /// 503, calls are accepted and answered for `http.drain_grace_ms` more, then the calls in
    /// flight are finished and the audit queue is flushed.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = front::Limits::from(&self.state.settings.http);
        let grace = Duration::from_millis(self.state.settings.http.drain_grace_ms);
        let draining = self.state.draining.clone();
        let audit = self.state.audit.clone();
        let app = router(self.state).merge(self.extra);
        // The console lives as long as the front: aborted when it returns.
        // The console goes through a front of its own, with the same limits as the EHR's (a
        // head within the header timeout, an idle limit, a connection cap, its own slots): a
        // slow client on the admin port costs a bounded connection there too.
        let console = self.admin.map(|(listener, console)| {
            let console = crate::admin::router(console);
            tokio::spawn(async move {
                let forever = std::future::pending::<()>();
                if let Err(e) = front::serve(listener, console, limits, forever).await {
                    tracing::error!(error = %e, "the governance console stopped");
                }
            })
        });
        let drained = async move {
            signal.await;
            draining.store(true, Ordering::Relaxed);
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "draining: /readyz answers 503, calls are still answered"
            );
            tokio::time::sleep(grace).await;
            tracing::info!("drained: no new connections; finishing the calls in flight");
        };
        let served = front::serve(self.listener, app, limits, drained).await;
        if let Some(console) = console {
            console.abort();
        }
        served?;
        if let Some(audit) = audit {
            if audit.flush().await {
                tracing::info!("the audit queue is written");
            } else {
                tracing::error!("the audit queue could not be written before exit");
            }
            audit.close().await;
        }
        Ok(())
    }
}

/// The profile, with the site's rule modes over its own: a profile, or a site mode, that fails a
/// check stops start-up with every reason.
fn load_knowledge(settings: &Settings) -> anyhow::Result<KnowledgeBase> {
    let kb = match &settings.profiles {
        Some(dir) => KnowledgeBase::load_dir(dir)
            .with_context(|| format!("loading the knowledge profile {}", dir.display()))?,
        None => KnowledgeBase::embedded().context("loading the embedded knowledge profile")?,
    };
    let kb = kb
        .with_site_modes(&settings.rule_modes.0)
        .context("applying the site's rule modes (rule_modes) to the knowledge profile")?;
    let modes: Vec<String> = kb
        .modes()
        .iter()
        .filter(|(_, mode)| *mode != gravida_knowledge::RuleMode::Active)
        .map(|(rule, mode)| format!("{rule}={mode}"))
        .collect();
    tracing::info!(
        profile = kb.version(),
        profile_version = kb.profile_version(),
        not_active = %modes.join(","),
        "knowledge profile loaded"
    );
    Ok(kb)
}

/// Without trusted issuers nobody is authenticated, which is acceptable only on loopback.
fn check_exposure(settings: &Settings, authenticated: bool) -> anyhow::Result<()> {
    if authenticated {
        return Ok(());
    }
    let loopback = settings.listen.ip().is_loopback();
    if loopback {
        tracing::warn!(
            "no trusted issuers are configured: accepting unauthenticated calls on loopback only"
        );
        return Ok(());
    }
    if settings.insecure_no_auth {
        tracing::warn!(
            listen = %settings.listen,
            "insecure_no_auth is set: accepting unauthenticated calls on a non-loopback address"
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {} without trusted issuers: configure [[auth.issuers]], \
         listen on loopback, or pass --insecure-no-auth (never in production)",
        settings.listen
    )
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what Kubernetes sends before it kills a pod).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

mod front;
