//! The `gravida` command line: `serve`, `demo`, `evaluate`, `check-profiles` and `profile diff`.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gravida_cds_hooks::{Hook, ServiceResponse};
use gravida_knowledge::KnowledgeBase;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::call::{self, HookRequest, Network};
use crate::command::{load_settings, one_shot_runtime, write_stdout};
use crate::demo;
use crate::services;
use crate::settings::Settings;
use crate::startup::Application;
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "gravida",
    version,
    about = "CDS Hooks service: bleeding in pregnancy by gestational age"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the CDS Hooks service (the default when no command is given).
    Serve(ServeArgs),
    /// Answer one CDS Hooks request from a file, using its prefetch only; no network.
    Evaluate {
        /// The request JSON, or `-` for standard input.
        #[arg(long)]
        request: PathBuf,
        /// Evaluate as of this moment (RFC 3339), instead of now.
        #[arg(long)]
        now: Option<String>,
        /// The site's IANA time zone, whose calendar day is "today" (as the `time_zone` setting).
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// A knowledge profile folder instead of the embedded default.
        #[arg(long)]
        profiles: Option<PathBuf>,
    },
    /// Run the service with a demo EHR page (`/demo`) and synthetic patients (`/demo/fhir`).
    Demo(DemoArgs),
    /// Print the governance report from the audit store: per rule, how often it fired, its
    /// acceptance and override rates, the top override reasons and the suggestions taken; or,
    /// with `--format csv|json`, the governance console's numbers per week, rule and hook.
    Report {
        /// Only cards issued at or after this date (YYYY-MM-DD, UTC) or RFC 3339 date-time.
        #[arg(long)]
        since: Option<String>,
        /// A TOML settings file (for `[store]`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// `text` (the per-rule table), or the console's weekly numbers as `csv` or `json`.
        #[arg(long, value_enum, default_value_t)]
        format: crate::report::Format,
    },
    /// Validate a knowledge profile folder; print every problem.
    CheckProfiles {
        /// The profile folder to check.
        dir: PathBuf,
    },
    /// Review a knowledge profile.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// List what changed between two profile folders: rule modes, thresholds, value-set codes,
    /// the engine's words, card text (a unified diff), order codes, source URLs, other files.
    /// Exit status: 0 when nothing needs clinical sign-off, 1 when a rule mode, a threshold, a
    /// value set or the engine's words changed, 2 when a folder cannot be read.
    Diff {
        /// The profile as it is (the version in production).
        old: PathBuf,
        /// The profile as proposed.
        new: PathBuf,
    },
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A TOML settings file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A knowledge profile folder instead of the embedded default.
    #[arg(long)]
    profiles: Option<PathBuf>,
    /// Allow a non-loopback address without trusted issuers (never in production).
    #[arg(long)]
    insecure_no_auth: bool,
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Allow an unspecified address (0.0.0.0, [::]): the demo is unauthenticated.
    #[arg(long)]
    public: bool,
    /// First fill the audit store with this many days of synthetic activity (marked
    /// `synthetic-demo`), ending today, for the governance console.
    #[arg(long)]
    days: Option<u32>,
    /// The audit store (`sqlite:PATH` or `postgres://…`) instead of `data/gravida.db`.
    #[arg(long)]
    store: Option<String>,
    /// The governance console's address [default: loopback, the demo's port + 1].
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Fill the store (with --days) and exit, without serving.
    #[arg(long)]
    fill_only: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args),
        Command::Evaluate {
            request,
            now,
            time_zone,
            profiles,
        } => evaluate(&request, now.as_deref(), &time_zone, profiles.as_deref()),
        Command::Demo(args) => demo(args),
        Command::Report {
            since,
            config,
            format,
        } => crate::report::main(since.as_deref(), config.as_deref(), format),
        Command::CheckProfiles { dir } => check_profiles(&dir),
        Command::Profile(ProfileCommand::Diff { old, new }) => profile_diff(&old, &new),
    }
}

/// Says which `GRAVIDA_` variables were not settings, by name: a service link at debug (every pod
/// has them), anything else as a warning, since it may be a setting misspelt at the top level.
fn log_ignored_env(settings: &Settings) {
    for var in &settings.ignored_env {
        if var.service_link {
            tracing::debug!(variable = %var.name, "ignoring a Kubernetes service-link variable");
        } else {
            tracing::warn!(variable = %var.name, "ignoring a GRAVIDA_ variable that names no setting");
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut settings = match load_settings(args.config.as_deref()) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    // Command-line flags win over the file and the environment.
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    if let Some(profiles) = args.profiles {
        settings.profiles = Some(profiles);
    }
    settings.insecure_no_auth |= args.insecure_no_auth;
    telemetry::init(&settings.log);
    log_ignored_env(&settings);
    run(settings, Application::build)
}

/// `gravida demo`: the embedded defaults (and `GRAVIDA_` variables) with the demo beside them,
/// and the governance console on loopback; with `--days`, the store filled first.
fn demo(args: DemoArgs) -> ExitCode {
    let mut settings = match load_settings(None) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    if let Some(store) = args.store {
        settings.store.url = Some(store);
        settings.store.url_file = None;
    }
    if let Some(admin) = args.admin {
        settings.admin.listen = Some(admin);
    } else if settings.admin.listen.is_none() && settings.store.enabled {
        let port = settings
            .listen
            .port()
            .checked_add(1)
            .filter(|_| settings.listen.port() != 0);
        settings.admin.listen = Some(SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0))));
    }
    telemetry::init(&settings.log);
    log_ignored_env(&settings);
    if let Some(days) = args.days
        && let Err(code) = fill_demo(&settings, days)
    {
        return code;
    }
    if args.fill_only {
        return ExitCode::SUCCESS;
    }
    run(settings, |settings| demo::build(settings, args.public))
}

/// Fills the store with `days` days of synthetic activity and says what it wrote.
fn fill_demo(settings: &Settings, days: u32) -> Result<(), ExitCode> {
    if !(1..=366).contains(&days) {
        eprintln!("gravida: --days must be between 1 and 366");
        return Err(ExitCode::from(2));
    }
    let url = settings.store.url().map_err(|e| {
        eprintln!("gravida: store.url_file: {e}");
        ExitCode::from(2)
    })?;
    let kb = match &settings.profiles {
        Some(dir) => KnowledgeBase::load_dir(dir),
        None => KnowledgeBase::embedded(),
    }
    .map_err(|e| {
        eprintln!("gravida: knowledge profile: {e}");
        ExitCode::from(2)
    })?;
    // The first weeks' profile: the embedded one with a rule silent (demo::dry_run).
    let dry_run = demo::dry_run::dry_run_profile().map_err(|e| {
        eprintln!("gravida: the demo's dry-run profile: {e}");
        ExitCode::FAILURE
    })?;
    let profiles = demo::fill::Profiles {
        dry_run: &dry_run,
        shipped: &kb,
    };
    let runtime = one_shot_runtime()?;
    let filled = runtime.block_on(async {
        let store = gravida_store::Store::connect(&url).await?;
        demo::fill::fill(store, profiles, days, demo::fill::today()).await
    });
    match filled {
        Ok(f) => {
            write_stdout(&format!(
                "filled {} day(s) of synthetic activity (issuer {}): {} calls, {} cards, \
                 {} silent cards, {} accepted, {} overridden\n",
                f.days,
                demo::fill::SYNTHETIC,
                f.calls,
                f.cards,
                f.silent,
                f.accepted,
                f.overridden
            ));
            Ok(())
        }
        Err(e) => {
            eprintln!("gravida: filling the demo store: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Builds the application with `build` on a multi-threaded runtime and serves until stopped.
fn run<F, Fut>(settings: Settings, build: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gravida: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = build(settings).await?;
        app.run_until_stopped().await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gravida stopped");
            eprintln!("gravida: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn evaluate(
    request: &Path,
    now: Option<&str>,
    time_zone: &str,
    profiles: Option<&Path>,
) -> ExitCode {
    let zone = match crate::clock::SiteTimeZone::named(time_zone) {
        Ok(zone) => zone,
        Err(e) => {
            eprintln!("gravida: --time-zone: {e}");
            return ExitCode::from(2);
        }
    };
    let body = if request == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(request)
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gravida: cannot read {}: {e}", request.display());
            return ExitCode::from(2);
        }
    };
    let now = match now {
        None => zone.now(),
        Some(text) => match OffsetDateTime::parse(text, &Rfc3339) {
            Ok(t) => zone.at(t),
            Err(e) => {
                eprintln!("gravida: --now must be an RFC 3339 date-time: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let kb = match profiles {
        Some(dir) => KnowledgeBase::load_dir(dir),
        None => KnowledgeBase::embedded(),
    };
    let kb = match kb {
        Ok(kb) => kb,
        Err(e) => {
            eprintln!("gravida: knowledge profile: {e}");
            return ExitCode::from(2);
        }
    };
    let mut request = match HookRequest::parse(&kb, &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gravida: invalid request: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(service) = Hook::from_name(&request.request.hook)
        .and_then(|hook| services::SERVICES.iter().find(|s| s.hook == hook))
    else {
        eprintln!("gravida: no service answers the hook in this request");
        return ExitCode::from(2);
    };
    let runtime = match one_shot_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    // The command line waits as long as the evaluation takes.
    let pool = call::Pool::new(1);
    let answer = runtime.block_on(async {
        let work = call::Work {
            pool: &pool,
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(24 * 3600),
        };
        call::answer(
            &std::sync::Arc::new(kb),
            service,
            &mut request,
            Network::Offline,
            now,
            work,
        )
        .await
    });
    match answer {
        Ok(answer) => match serde_json::to_string_pretty(&ServiceResponse::with_cards(
            answer
                .cards
                .into_iter()
                .map(|r| {
                    // No client here has declared support for `actionSelectionBehavior`.
                    let mut card = r.card;
                    crate::card::for_client(&mut card, false);
                    card
                })
                .collect(),
        )) {
            Ok(json) => write_stdout(&format!("{json}\n")),
            Err(e) => {
                eprintln!("gravida: cannot write the response: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("gravida: {} ({})", e, e.status());
            ExitCode::from(3)
        }
    }
}

/// `gravida profile diff OLD NEW`: the diff on standard output; exit 1 when it needs sign-off.
fn profile_diff(old: &Path, new: &Path) -> ExitCode {
    match gravida_knowledge::diff::ProfileDiff::between(old, new) {
        Ok(diff) => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(diff.to_string().as_bytes())
                .and_then(|()| stdout.flush())
            {
                // A reader that stopped early (`| head`) still gets the verdict.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("gravida: cannot write the output: {e}");
                    ExitCode::from(2)
                }
                _ if diff.needs_sign_off() => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("gravida: profile diff: {e}");
            ExitCode::from(2)
        }
    }
}

fn check_profiles(dir: &Path) -> ExitCode {
    match KnowledgeBase::load_dir(dir) {
        Ok(kb) => write_stdout(&format!("{}: valid ({})\n", dir.display(), kb.version())),
        Err(e) => {
            eprintln!("{}: invalid\n{e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
