//! The breached-password filter's use cases: import a file, show the status, and the running
//! server's reload. Import works on the data dir's files only (no store), so it runs while a
//! server holds the store; the audit record is written by whoever holds the store: the CLI
//! after its import when no server runs, else the server when it loads the new filter.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::super::{Ctx, ServiceError};
use crate::breached::{self, BreachedError, Filter, Live, Meta, Progress, Reload};
use crate::model::{AdminEntry, AuditEntry};

/// What the status and an import report.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct BreachedInfo {
    pub entries: u64,
    pub file_bytes: u64,
    pub bytes_per_entry: f64,
    pub false_positive_rate: f64,
    pub min_count: u64,
    pub source_name: String,
    pub source_bytes: u64,
    /// When it was imported (RFC 3339, UTC).
    pub created: String,
}

impl From<&Meta> for BreachedInfo {
    fn from(m: &Meta) -> Self {
        let created = time::OffsetDateTime::from_unix_timestamp(m.created_unix)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        BreachedInfo {
            entries: m.entries,
            file_bytes: m.file_size,
            bytes_per_entry: if m.entries == 0 {
                0.0
            } else {
                m.file_size as f64 / m.entries as f64
            },
            false_positive_rate: breached::FALSE_POSITIVE_RATE,
            min_count: m.min_count,
            source_name: m.source_name.clone(),
            source_bytes: m.source_size,
            created,
        }
    }
}

fn service_error(e: BreachedError) -> ServiceError {
    match e {
        BreachedError::BadLine { .. } | BreachedError::Empty { .. } => {
            ServiceError::invalid("file", e.to_string())
        }
        BreachedError::NoCount { .. } => ServiceError::invalid("min_count", e.to_string()),
        BreachedError::Damaged { .. } => ServiceError::Conflict(e.to_string()),
        BreachedError::Io { .. } | BreachedError::Build(_) => {
            ServiceError::fault("breached-password filter", e)
        }
    }
}

/// The filter file's path in a data dir.
pub fn breached_path(data_dir: &Path) -> PathBuf {
    breached::path(data_dir)
}

/// The imported filter's header (`None`: nothing imported). Reads the header only.
pub fn breached_status(data_dir: &Path) -> Result<Option<BreachedInfo>, ServiceError> {
    let path = breached::path(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let meta = breached::filter::read_meta(&path).map_err(service_error)?;
    Ok(Some(BreachedInfo::from(&meta)))
}

/// Imports a Pwned-Passwords file into the data dir's filter (see `breached::import`); the
/// old filter stays unless the new one is complete. Blocking: streams the whole file.
pub fn import_breached(
    data_dir: &Path,
    file: &Path,
    min_count: u64,
    progress: &mut dyn FnMut(&Progress),
) -> Result<BreachedInfo, ServiceError> {
    if min_count == 0 {
        return Err(ServiceError::invalid(
            "min_count",
            "min_count must be at least 1",
        ));
    }
    let meta = breached::import(data_dir, file, min_count, progress).map_err(service_error)?;
    Ok(BreachedInfo::from(&meta))
}

/// Loads the data dir's filter file (for `password check` outside a server).
pub fn load_breached(data_dir: &Path) -> Result<Option<Filter>, ServiceError> {
    let path = breached::path(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    Filter::load(&path).map(Some).map_err(service_error)
}

/// Records in the audit chain that a filter came into use (never a hash from it).
pub async fn record_breached(ctx: Ctx<'_>, info: &BreachedInfo) -> Result<(), ServiceError> {
    ctx.store.append_audit(&AuditEntry::Admin(AdminEntry {
        actor: ctx.actor.into(),
        action: "password.breached.import".into(),
        before: None,
        after: serde_json::to_value(info).ok(),
    }))?;
    ctx.durable().await
}

/// A running server's reload: loads the data dir's filter if the file changed (blocking pool)
/// and audits a new one. `Ok(None)`: unchanged. On failure the filter in use stays.
pub async fn reload_breached(
    ctx: Ctx<'_>,
    live: &Arc<Live>,
) -> Result<Option<BreachedInfo>, ServiceError> {
    let dir = ctx.store.dir().to_path_buf();
    let l = live.clone();
    let loaded = super::super::blocking("loading the breached-password filter", move || {
        l.reload_if_changed(&dir)
    })
    .await?
    .map_err(service_error)?;
    match loaded {
        Reload::Unchanged => Ok(None),
        Reload::Loaded(f) => {
            let info = BreachedInfo::from(f.meta());
            record_breached(ctx, &info).await?;
            Ok(Some(info))
        }
    }
}
