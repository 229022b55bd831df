//! One hook call, from a parsed request to the response: the steps after authentication.
//!
//! The HTTP handler and `gravida evaluate` share this, so what a knowledge author sees on the
//! command line is exactly what an EHR gets. The steps, in the order the design fixes:
//! validate the request's context for the service's hook (400), check the `fhirServer` against
//! the deployment's policy and the caller's allow-list (403), gather the facts from prefetch and
//! the FHIR server (412 when the deciding records cannot be had), then evaluate and render cards.
//! Each check runs once, here: the validated [`HookContext`] goes out in [`Answer`] for the
//! steps after the answer, and the checked [`FhirServer`] is what gathering fetches from.

use std::fmt;
use std::time::Duration;

use gravida_auth::{Caller, Verifier};
use gravida_cds_hooks::{HookContext, RequestError, ServiceRequest};
use gravida_fhir::{
    FhirClient, FhirServer, GatherInput, Prefetch, PrefetchSeed, RawPrefetchSeed, read_each,
};
use gravida_knowledge::{KnowledgeBase, Rendered};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::services::ServiceDef;

/// Whether this call may reach the EHR's FHIR server.
#[derive(Debug, Clone, Copy)]
pub enum Network<'a> {
    /// Fetch what prefetch lacks from `fhirServer`, within `deadline`.
    Fetch {
        client: &'a FhirClient,
        deadline: Duration,
        /// The verifier and the authenticated caller, whose issuer's FHIR-server allow-list
        /// applies; `None` on an unauthenticated (loopback) deployment.
        trust: Option<(&'a Verifier, &'a Caller)>,
    },
    /// Use prefetch only (`gravida evaluate`): a missing key is unavailable.
    Offline,
}

/// A hook request as read: its prefetch by the fast reader when it accepts the request, or else
/// by the reference reader (see `gravida_fhir::fast`). Either way the answer is the same; the
/// fast reader only costs less.
pub struct HookRequest {
    pub request: ServiceRequest,
    /// `Some` when the prefetch was read without the reference reader's JSON values, whole by
    /// the fast reader or value by value (`request.prefetch` is then `None`); owned, and taken by
    /// [`answer`].
    fast_prefetch: Option<Prefetch<'static>>,
}

/// Like [`ServiceRequest`]'s: the shape of the request, never the records it carries.
impl fmt::Debug for HookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookRequest")
            .field("request", &self.request)
            .field(
                "fast_prefetch_keys",
                &self.fast_prefetch.as_ref().and_then(Prefetch::keys),
            )
            .finish()
    }
}

impl HookRequest {
    /// Parses a request body. The fast reader is tried first. When it declines, the body is read
    /// again with each prefetch value kept as its JSON text, and each value is read on its own:
    /// each resource by the fast reader, one it declines alone by the reference reader
    /// (`gravida_fhir::by_resource`). When that declines too (a request that is not what it
    /// should be), the body is parsed by [`ServiceRequest::parse`], which gives its error.
    pub fn parse(kb: &KnowledgeBase, body: &[u8]) -> Result<HookRequest, RequestError> {
        let queries = kb.prefetch();
        if let Some((request, fast)) =
            ServiceRequest::parse_with_prefetch(body, PrefetchSeed { queries })
        {
            metrics::counter!("gravida_prefetch_reads_total", "reader" => "fast").increment(1);
            return Ok(HookRequest {
                request,
                fast_prefetch: Some(Prefetch::Fast(fast.unwrap_or_default())),
            });
        }
        if let Some((request, values)) =
            ServiceRequest::parse_with_prefetch(body, RawPrefetchSeed { queries })
        {
            metrics::counter!("gravida_prefetch_reads_total", "reader" => "by-resource")
                .increment(1);
            return Ok(HookRequest {
                request,
                fast_prefetch: Some(Prefetch::ByResource(read_each(values.unwrap_or_default()))),
            });
        }
        let request = ServiceRequest::parse(body)?;
        metrics::counter!("gravida_prefetch_reads_total", "reader" => "reference").increment(1);
        Ok(HookRequest {
            request,
            fast_prefetch: None,
        })
    }
}

/// What one hook call concluded: the cards to send, each with the finding it renders, and the
/// request's context.
#[derive(Debug)]
pub struct Answer {
    pub cards: Vec<Rendered>,
    /// The request's context, validated for the service's hook once, by [`answer`]. What comes
    /// after the answer (suppression, the audit trail) reads the patient and the encounter from
    /// it and validates nothing again.
    pub context: HookContext,
}

/// Answers one hook call.
pub async fn answer(
    kb: &KnowledgeBase,
    service: &ServiceDef,
    hook_request: &mut HookRequest,
    network: Network<'_>,
    now: OffsetDateTime,
) -> Result<Answer, ApiError> {
    let HookRequest {
        request,
        fast_prefetch,
    } = hook_request;
    let request = &*request;
    // The fast reader's records are moved into the facts (so the request loses them).
    let prefetch = match fast_prefetch.take() {
        Some(prefetch) => prefetch,
        None => request.prefetch.as_ref().into(),
    };
    // The one validation of the context for this hook (400). Everything after reads `context`.
    let context = request.context_for(service.hook)?;

    // The FHIR server is checked before anything is fetched from it, and whether or not
    // anything will be: a request naming a forbidden server is refused outright (403). The
    // request parser made it a URL; this is the one check of the deployment's policy, and the
    // `FhirServer` it gives is what the allow-list and the FHIR client are handed.
    let fhir_server = request
        .fhir_server
        .as_ref()
        .map(FhirServer::check)
        .transpose()?;
    // An authenticated caller may only send a FHIR server its issuer lists: otherwise a caller
    // could point Gravida, and the token it carries, at any host.
    if let (
        Some(server),
        Network::Fetch {
            trust: Some((verifier, caller)),
            ..
        },
    ) = (&fhir_server, network)
        && !verifier.fhir_server_allowed(caller, server.url())
    {
        return Err(ApiError::ForbiddenFhirServer(
            "fhirServer is not on the allow-list of the caller's issuer".to_owned(),
        ));
    }

    let token = request
        .fhir_authorization
        .as_ref()
        .map(|a| a.access_token.as_str());
    let (fhir, deadline) = match network {
        Network::Fetch {
            client, deadline, ..
        } => (
            fhir_server.as_ref().map(|server| (client, server, token)),
            Instant::now() + deadline,
        ),
        Network::Offline => (None, Instant::now() + Duration::from_secs(1)),
    };

    // Draft orders are read only at the order hooks: that is what keeps the methotrexate rule
    // (R6) off patient-view and encounter-start.
    let draft_orders = if service.hook.has_draft_orders() {
        context.draft_orders()
    } else {
        None
    };

    let gathered = gravida_fhir::gather(GatherInput {
        queries: kb.prefetch(),
        context: context.fields(),
        prefetch,
        fhir,
        draft_orders,
        deadline,
        granted: request.fhir_authorization.as_ref().map(|a| &a.granted),
    })
    .await?;

    if !gathered.diagnostics.is_empty() {
        tracing::warn!(
            count = gathered.diagnostics.len(),
            "some records could not be read; see the cards for what this means"
        );
    }
    let assessment = kb.evaluate(&gathered.facts, context.patient_id(), now);
    // Records refused as not this patient's (or with a bad id): a count, never which patient.
    metrics::counter!("gravida_records_refused_total").increment(gathered.refused as u64);
    tracing::info!(
        cards = assessment.cards.len(),
        rules = ?assessment.findings.iter().map(|f| f.rule.to_string()).collect::<Vec<_>>(),
        fetched = ?gathered.fetched,
        diagnostics = assessment.diagnostics.len() + gathered.diagnostics.len(),
        profile = kb.version(),
        "hook answered"
    );
    Ok(Answer {
        cards: assessment.cards,
        context,
    })
}
