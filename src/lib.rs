//! The `tba` service: configuration, the database (private cluster or `DATABASE_URL`), the HTTP
//! service and the CLI commands. The event log itself lives in the `events` crate.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod error_code;
pub mod graphql;
pub mod http;
pub mod ingestion;
pub mod master_key;
pub mod notifier;
pub mod progress;
pub mod read_models;
pub mod spreadsheet;
pub mod telemetry;
