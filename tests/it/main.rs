//! All integration tests, in one binary so the build stays fast. Each test starts the real
//! server in-process on 127.0.0.1:0 with a temporary data dir and talks HTTP to it. The
//! folders mirror `src/`; `support/` holds the harnesses (server, mail server, admin
//! session, test CA); `security/` the attacker's-review regression tests, by threat.

mod action;
mod admin;
mod audit_anchor;
mod audit_retention;
mod auth;
mod cli;
mod config;
mod department_sync;
mod doctor;
mod forward;
mod http;
mod install;
mod keys;
mod notify;
mod oauth;
mod overview;
mod security;
mod simulate;
mod store;
mod support;
mod sync;
