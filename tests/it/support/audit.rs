//! Audit records dated in the past, so that a retention has something old enough to archive
//! (records younger than a day, or of a month not yet ended, never go).

pub const DAY_MS: u64 = 86_400_000;

/// An admin record's serialized entry, numbered so each one differs.
pub fn admin_entry(n: u64) -> Vec<u8> {
    serde_json::to_vec(&profilegate::model::AuditEntry::Admin(
        profilegate::model::AdminEntry {
            actor: "test".into(),
            action: format!("change {n}"),
            before: None,
            after: None,
        },
    ))
    .unwrap()
}

/// Appends `batches` batches of two records, all dated `days_ago` days before now.
pub fn append_days_ago(store: &profilegate::store::Store, days_ago: u64, batches: u64) {
    let time =
        profilegate::store::format_unix_ms(profilegate::store::now_unix_ms() - days_ago * DAY_MS);
    for i in 0..batches {
        store
            .append_entries_dated(&[admin_entry(i), admin_entry(i + 1000)], &time)
            .unwrap();
    }
}
