//! The one integration-test binary: every end-to-end test of Gravida lives in a module here.
//!
//! One binary keeps link time down (the FHIR models are large) and lets tests share helpers.

// A failed unwrap in a test helper is a failed test, with its location: that is what we want.
#![allow(clippy::unwrap_used)]

mod abortifacient_http;
mod architecture;
mod audit_backlog;
mod auth;
mod binary;
mod blind_charts;
mod body_first;
mod bounded_output;
mod card_corpus;
mod cds3;
mod chart_evidence;
mod chart_model;
mod chart_records;
mod chart_shapes;
mod conformance;
mod console;
mod dating_http;
mod demo;
mod deploy;
mod done_today_http;
mod drain;
mod escalation;
mod expect;
mod fhir_sim;
mod fuzz_classes;
mod heavy_charts;
mod hedged_pul_http;
mod helpers;
mod hostile_fhir;
mod http_api;
mod http_front;
mod jwt_edges;
mod late_pregnancy_http;
mod long_form;
mod medications_http;
mod molar_http;
mod new_reads;
mod ops;
mod prefetch_windows;
mod profile_review;
mod real_fhir;
mod real_world;
mod rh_http;
mod rule_modes;
mod scenarios_engine;
mod scenarios_http;
mod shared_button_http;
mod short_cards;
mod site_calendar;
mod site_time;
mod store;
mod store_weekly;
mod suppression;
mod wording_http;
