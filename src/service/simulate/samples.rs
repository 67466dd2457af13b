//! The bundled sample events: real requests of WSO2 Identity Server and Asgardeo (the
//! project's fixtures), built into the binary so a dry run needs nothing beside it.

use serde::Serialize;
use utoipa::ToSchema;

use super::Endpoint;

/// One bundled event.
#[derive(ToSchema, Debug, Clone, Serialize)]
pub struct Sample {
    /// Stable id, for `simulate --sample ID` and the page's list.
    pub id: &'static str,
    pub label: &'static str,
    pub endpoint: Endpoint,
    /// The request body, as the identity server sends it.
    pub event: &'static str,
}

macro_rules! sample {
    ($id:literal, $label:literal, $endpoint:ident) => {
        Sample {
            id: $id,
            label: $label,
            endpoint: Endpoint::$endpoint,
            event: include_str!(concat!("samples/", $id, ".json")),
        }
    };
}

const SAMPLES: &[Sample] = &[
    sample!(
        "seed-usecase-profile",
        "Profile: the seed use case (department, mobile, e-mail; admin, root organization)",
        Profile
    ),
    sample!(
        "docs-admin-multivalued-profile",
        "Profile: the WSO2 docs example (multi-valued claims, admin)",
        Profile
    ),
    sample!(
        "suborg-user-profile",
        "Profile: organization user (sub-organization)",
        Profile
    ),
    sample!(
        "shared-user-profile",
        "Profile: shared user (managed in another organization)",
        Profile
    ),
    sample!(
        "suborg-user-password",
        "Password: organization user, admin update (HASH)",
        Password
    ),
    sample!(
        "v1.0-admin-update-hash",
        "Password: v1.0, admin update (HASH)",
        Password
    ),
    sample!(
        "v1.1-user-reset-plain",
        "Password: v1.1, user reset (PLAIN_TEXT)",
        Password
    ),
    sample!(
        "v2.0-application-register-plain",
        "Password: v2.0, REGISTER by an application (PLAIN_TEXT)",
        Password
    ),
    sample!(
        "v2.0-admin-invite-jwe",
        "Password: v2.0, admin invite (encrypted credential, JWE)",
        Password
    ),
];

/// Every bundled event.
pub fn samples() -> &'static [Sample] {
    SAMPLES
}

/// The bundled event with this id.
pub fn sample(id: &str) -> Option<&'static Sample> {
    SAMPLES.iter().find(|s| s.id == id)
}
