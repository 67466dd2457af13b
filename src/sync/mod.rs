//! Keeping a department list in step with the company's own source (issue 19). The stored
//! directory stays the one decisions use; a sync fetches the source's list, computes what it
//! would change and applies it whole, or holds it for an administrator when it would empty the
//! list or remove more than the set share of it (a broken source must not turn every
//! department change into a rejection).
//!
//! - `parse.rs` (pure): a source's answer (JSON or CSV) as normalized names.
//! - `judge.rs` (pure): apply, hold, or nothing to do.
//! - `http.rs`: the HTTP(S) source (authentication, a private CA, `ETag`/`If-Modified-Since`,
//!   size and time limits) over `outbound`.
//! - `ldap.rs`: the LDAP / Active Directory source (a bind, a paged subtree search for one
//!   attribute, LDAPS or StartTLS with the same trust as `outbound`).
//! - `source.rs`: an organization's sync settings and the state its syncs leave.

pub mod http;
pub mod judge;
pub mod ldap;
pub mod parse;
pub mod source;

pub use http::{fetch, Fetch, HttpAuth, HttpSource, SourceError, Validators};
pub use judge::{judge, Hold, Judgement, DEFAULT_MAX_REMOVAL_PERCENT};
pub use ldap::{check as check_ldap, fetch as fetch_ldap, LdapSource};
pub use parse::{parse, ParseError, SourceFormat};
pub use source::{Held, Source, SyncSettings, SyncState, MASK};
