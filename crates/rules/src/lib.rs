//! The clinical engine: from a patient's facts to findings. Pure: no I/O, no async, no clock.
//!
//! ```text
//! PatientFacts ──evaluate(kb, facts, now)──▶ Evaluation { findings, diagnostics }
//! ```
//! `kb` ([`RulesKnowledge`]) holds the value sets and thresholds of a profile; `now` is passed in so
//! that the same facts always give the same answer.
mod abortifacient;
mod alloimmune;
mod anti_d;
mod anticoag;
mod bleeding_text;
pub mod engine;
pub mod facts;
pub mod finding;
pub mod ga;
pub mod knowledge;
mod labour;
mod pregnancy_test;
pub mod query;
mod rh_variant;
pub mod testkit;
pub mod text;
mod vasa;

pub use engine::{evaluate, evaluate_unless};
pub use finding::{
    DateProblem, Dating, DatingSource, Diagnostic, Done, Evaluation, Evidence, Finding, HcgTrend,
    Indicator, IupStatus, Label, Modifier, NiceReading, RiskFactor, Role, RuleId, Suspected,
    VitalSign,
};
pub use ga::GestationalAge;
pub use knowledge::{BleedingText, CodeSet, HcgLead, RulesKnowledge, Thresholds, ValueSets};

#[cfg(test)]
mod abortifacient_tests;
#[cfg(test)]
mod chart_shapes_tests;
#[cfg(test)]
mod dating_tests;
#[cfg(test)]
mod escalation_tests;
#[cfg(test)]
mod gtd_tests;
#[cfg(test)]
mod hedged_pul_tests;
#[cfg(test)]
mod placenta_tests;
#[cfg(test)]
mod scaling_tests;
#[cfg(test)]
mod tests;
