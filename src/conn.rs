//! What the connection loop hands to every handler, whichever transport adapter it belongs to
//! (the action endpoint, the admin API): the peer's address, the endpoint's path, and the
//! time a body may take. A leaf module, so that `http` can mount the admin API without the
//! admin API depending on `http`.

use std::net::SocketAddr;
use std::time::Duration;

/// A body must arrive within this time once the headers are in (every route).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The profile action endpoint's path.
pub const ACTION_PATH: &str = "/actions/pre-update-profile";
/// The password action endpoint's path.
pub const PASSWORD_ACTION_PATH: &str = "/actions/pre-update-password";
/// profilegate's OAuth token endpoint (served where the action endpoints are).
pub const TOKEN_PATH: &str = "/oauth2/token";

/// Which action endpoint a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionEndpoint {
    /// `POST /actions/pre-update-profile`.
    Profile,
    /// `POST /actions/pre-update-password`.
    Password,
}

impl ActionEndpoint {
    /// The endpoint whose exact path this is (the profile path is compared first: the hot path).
    pub fn of_path(path: &str) -> Option<Self> {
        if path == ACTION_PATH {
            Some(ActionEndpoint::Profile)
        } else if path == PASSWORD_ACTION_PATH {
            Some(ActionEndpoint::Password)
        } else {
            None
        }
    }
}

/// The peer's address, attached to each request by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);
