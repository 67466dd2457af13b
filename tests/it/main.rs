//! All integration tests, in one binary so the build stays fast. Each test starts the real
//! server in-process on 127.0.0.1:0 with a temporary data dir and talks HTTP to it.

mod abuse;
mod action;
mod admin;
mod admin_api;
mod admin_openapi;
mod auth;
mod backup;
mod browser;
mod cli;
mod config;
mod crash;
mod durability;
mod hardening;
mod held;
mod install;
mod jwe;
mod mail;
mod notify;
mod ops;
mod props;
mod support;
mod tls;
