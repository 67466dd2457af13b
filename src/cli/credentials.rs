//! `credentials` and `endpoint`: adapters over `service::credentials` (a secret is shown
//! once).

use std::io::Write;
use std::process::ExitCode;

use super::{
    block_on, cli_ctx, io_err, w, AuthMode, CliError, CredentialType, CredentialsCmd, EndpointCmd,
    JwtArgs,
};
use crate::model::credentials::JwtIssuer;
use crate::model::{CredentialKind, EndpointAuth};
use crate::service::credentials::{self, NewCredential};
use crate::service::ServiceError;
use crate::store::{Store, StoreError};

pub(super) fn run(
    store: &Store,
    cmd: CredentialsCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        CredentialsCmd::Create {
            kind,
            username,
            header,
            url,
            jwt,
            json,
        } => {
            let spec = match kind {
                CredentialType::Basic => NewCredential::Basic { username },
                CredentialType::Bearer => NewCredential::Bearer,
                CredentialType::ApiKey => NewCredential::ApiKey { header },
                CredentialType::ClientCredential => NewCredential::ClientCredential,
                CredentialType::Jwt => NewCredential::Jwt(jwt_issuer(jwt)?),
            };
            let created = block_on(credentials::create(cli_ctx(store), spec))??;
            let mut props = created.wso2_properties();
            if matches!(created.record.kind, CredentialKind::ClientCredential { .. }) {
                props.insert(
                    "tokenEndpoint".into(),
                    format!("{}{}", url.trim_end_matches('/'), crate::conn::TOKEN_PATH).into(),
                );
            }
            if json {
                let mut obj = serde_json::Map::new();
                obj.insert("id".into(), created.record.id.clone().into());
                obj.insert("type".into(), created.record.kind.wso2_name().into());
                obj.extend(props);
                w(out, format!("{}\n", serde_json::Value::Object(obj)))?;
            } else {
                let shown = if created.secret.is_empty() {
                    "It has no secret here: the identity provider issues the tokens."
                } else {
                    "The secret is shown only now: enter it in the identity server and keep no other copy."
                };
                let mut s = format!(
                    "Created credential {} ({}). {shown}\n\n\
                     In the WSO2 console (Actions > Pre Update Profile > Endpoint authentication):\n  Authentication type: {}\n",
                    created.record.id,
                    created.record.kind.wso2_name(),
                    match &created.record.kind {
                        CredentialKind::Basic { .. } => "Basic",
                        CredentialKind::Bearer => "Bearer",
                        CredentialKind::ApiKey { .. } => "API Key",
                        CredentialKind::ClientCredential { .. } | CredentialKind::Jwt(_) => {
                            "Client Credential"
                        }
                    }
                );
                for (k, v) in props {
                    s.push_str(&format!("  {k}: {}\n", v.as_str().unwrap_or_default()));
                }
                w(out, s)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCmd::List => {
            let creds = credentials::list(store);
            if creds.is_empty() {
                w(out, "No credentials. Create one with `profilegate credentials create --type basic`.\n".into())?;
            }
            for c in creds.iter() {
                let detail = match &c.kind {
                    CredentialKind::Basic { username } => format!("username={username}"),
                    CredentialKind::Bearer => String::new(),
                    CredentialKind::ApiKey { header } => format!("header={header}"),
                    CredentialKind::ClientCredential { client_id } => {
                        format!("client_id={client_id}")
                    }
                    CredentialKind::Jwt(j) => format!("jwt issuer={} aud={}", j.issuer, j.audience),
                };
                w(
                    out,
                    format!(
                        "{}  {:<8} {:<24} created {}  last used {}\n",
                        c.id,
                        c.kind.wso2_name(),
                        detail,
                        c.created,
                        c.last_used.as_deref().unwrap_or("never")
                    ),
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCmd::Revoke { id } => {
            let rec = block_on(credentials::revoke(cli_ctx(store), &id))?.map_err(|e| match e {
                // Worded as before: "not found: ...".
                ServiceError::NotFound(m) => CliError::Store(StoreError::NotFound(m)),
                e => e.into(),
            })?;
            w(
                out,
                format!(
                    "Revoked credential {} ({}).\n",
                    rec.id,
                    rec.kind.wso2_name()
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(super) fn endpoint(
    store: &Store,
    cmd: EndpointCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        EndpointCmd::Auth { mode } => {
            let mode = match mode {
                AuthMode::Required => EndpointAuth::Required,
                AuthMode::None => EndpointAuth::None,
            };
            block_on(credentials::set_auth(cli_ctx(store), mode))??;
            match mode {
                EndpointAuth::None => w(
                    out,
                    "WARNING: authentication is now OFF. Anyone who can reach the endpoint can submit decisions and fill the audit log.\n\
                     Use this only behind a network boundary you trust. Undo with `profilegate endpoint auth required`.\n"
                        .into(),
                )?,
                EndpointAuth::Required => w(out, "Callers must now present a valid endpoint credential.\n".into())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        EndpointCmd::TokenLifetime { seconds } => {
            block_on(credentials::set_token_lifetime(cli_ctx(store), seconds))??;
            w(
                out,
                format!("Access tokens issued from now on live {seconds} s.\n"),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A `jwt` credential's provider from the command line (the service checks the values).
fn jwt_issuer(a: JwtArgs) -> Result<JwtIssuer, CliError> {
    let need = |v: Option<String>, flag: &'static str| {
        v.ok_or_else(|| {
            CliError::from(ServiceError::invalid(
                flag,
                format!("--type jwt needs --{}", flag.replace('_', "-")),
            ))
        })
    };
    let tls_ca_pem = match a.tls_ca {
        Some(p) => Some(
            std::fs::read_to_string(&p).map_err(io_err(format!("cannot read {}", p.display())))?,
        ),
        None => None,
    };
    Ok(JwtIssuer {
        issuer: need(a.issuer, "issuer")?,
        audience: need(a.audience, "audience")?,
        scope: a.scope,
        jwks_url: need(a.jwks_url, "jwks_url")?,
        tls_ca_pem,
    })
}
