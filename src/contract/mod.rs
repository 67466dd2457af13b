//! The caller's wire format (CONTRACT.md §2 and §4): what WSO2 Identity Server / Asgardeo
//! sends us and the only responses it accepts. Nothing in here does I/O.

pub mod credential;
pub mod password;
pub mod request;
pub mod response;
pub mod sanitize;

pub use password::{
    parse_credential, parse_password_request, Credential, InitiatorType, PasswordAction,
    PasswordDigest, PasswordRequest, Secret, UpdatingCredential, PRE_UPDATE_PASSWORD,
};
pub use request::{
    parse_request, ActionRequest, Claim, ClaimValue, Event, Organization, ParseError,
};
pub use response::ActionResponse;
pub use sanitize::{sanitize, validate_message, MessageKind};

/// Largest action body accepted (and simulated). Real requests are a few KiB; 64 KiB leaves
/// room for ten multi-valued attributes and refuses anything meant to exhaust memory.
pub const MAX_BODY: usize = 64 * 1024;

/// `actionType` of the pre-update profile action.
pub const PRE_UPDATE_PROFILE: &str = "PRE_UPDATE_PROFILE";
