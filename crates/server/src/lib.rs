//! The Gravida service as a library: settings, the axum app factory, start-up and the CLI.
//!
//! `src/main.rs` of the root package is a thin shell over [`cli::main`]; the integration tests
//! build an [`startup::Application`] on port 0 and talk to it over HTTP.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod body;
pub mod call;
pub mod card;
pub mod cli;
pub mod clock;
pub mod command;
pub mod demo;
pub mod error;
pub mod export;
pub mod long_form;
pub mod metrics;
pub mod report;
pub mod services;
pub mod settings;
pub mod startup;
pub mod suppress;
pub mod telemetry;
