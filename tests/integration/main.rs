//! The integration tests, one binary: each module drives the service through its real interfaces (HTTP,
//! GraphQL, the `tba` binary) on a real PostgreSQL (a private cluster, or `DATABASE_URL`'s server), with
//! the helpers of `common`. `cargo test --test integration MODULE::` runs one module's tests.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

mod adversarial;
mod backup;
mod cli;
mod connu;
mod console;
mod console_administration;
mod console_audit;
mod console_browser;
mod console_cfa;
mod console_comptes;
mod console_dossiers;
mod console_france_travail;
mod console_indicateurs;
mod console_suivi;
mod consumption;
mod crash;
mod deca;
mod demo;
mod dossiers_projection;
mod erp_push;
mod errors;
mod event_store;
mod france_travail;
mod graphql;
mod http;
mod imports;
mod indicateurs;
mod integrity;
mod keys;
mod native_events;
mod organismes;
mod personnes;
mod quarantaine;
mod roles;
mod ruptures;
mod voeux;
