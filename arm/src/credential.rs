//! Credentials: which `azure_identity` credential to use (by configuration or an automatic order
//! read from the environment), and a token cache that refreshes before expiry.
//! Tokens and secrets never appear in `Debug` output or logs.

use crate::config::Cloud;
use crate::error::ArmError;
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use chrono::{DateTime, Utc};
use curfew_plumbing::Clock;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A string that must not be shown: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> SecretString {
        SecretString(s.into())
    }

    /// The secret itself; call only where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// How the client authenticates to ARM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CredentialConfig {
    /// Pick from the environment: client secret, then workload identity, then managed identity,
    /// then the Azure CLI (see [`CredentialConfig::resolve`]).
    #[default]
    Auto,
    /// Managed identity (App Service/Functions `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, or IMDS);
    /// system-assigned, or user-assigned by client id.
    ManagedIdentity {
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
    },
    /// Workload identity federation (AKS); unset fields come from `AZURE_*` variables.
    WorkloadIdentity {
        /// Tenant id.
        tenant_id: Option<String>,
        /// Client id.
        client_id: Option<String>,
        /// Federated token file.
        token_file: Option<PathBuf>,
    },
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzureCli {
        /// Tenant to request tokens in.
        tenant_id: Option<String>,
    },
    /// A service principal with a client secret.
    ClientSecret {
        /// Tenant id.
        tenant_id: String,
        /// Client (application) id.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// A fixed bearer token (tests and simulators only).
    StaticToken(SecretString),
}

impl CredentialConfig {
    /// Resolves `Auto` from environment-like variables: `AZURE_CLIENT_SECRET` (+ tenant and
    /// client id) → client secret; `AZURE_FEDERATED_TOKEN_FILE` → workload identity;
    /// `IDENTITY_ENDPOINT`/`MSI_ENDPOINT`/`IMDS_ENDPOINT` → managed identity (user-assigned if
    /// `AZURE_CLIENT_ID` is set); otherwise the Azure CLI. Other variants are returned unchanged.
    pub fn resolve(self, var: &dyn Fn(&str) -> Option<String>) -> CredentialConfig {
        if self != CredentialConfig::Auto {
            return self;
        }
        let get = |k: &str| var(k).filter(|v| !v.is_empty());
        if let (Some(secret), Some(tenant_id), Some(client_id)) = (
            get("AZURE_CLIENT_SECRET"),
            get("AZURE_TENANT_ID"),
            get("AZURE_CLIENT_ID"),
        ) {
            return CredentialConfig::ClientSecret {
                tenant_id,
                client_id,
                secret: SecretString(secret),
            };
        }
        if get("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            return CredentialConfig::WorkloadIdentity {
                tenant_id: None,
                client_id: None,
                token_file: None,
            };
        }
        if ["IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"]
            .iter()
            .any(|k| get(k).is_some())
        {
            return CredentialConfig::ManagedIdentity {
                client_id: get("AZURE_CLIENT_ID"),
            };
        }
        CredentialConfig::AzureCli {
            tenant_id: get("AZURE_TENANT_ID"),
        }
    }
}

enum Source {
    Static(SecretString),
    Azure(Arc<dyn TokenCredential>),
}

/// Gets bearer tokens for ARM, caching each until `refresh_margin` before it expires.
pub(crate) struct TokenCache {
    source: Source,
    scope: String,
    refresh_margin: Duration,
    cache: tokio::sync::Mutex<Option<(SecretString, DateTime<Utc>)>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn cred_err(scope: &str, e: impl fmt::Display) -> ArmError {
    ArmError::Credential {
        resource: scope.to_string(),
        message: e.to_string(),
    }
}

impl TokenCache {
    /// Builds the credential named by `config` (already resolved from `Auto`), sending its HTTP
    /// through `http` so identity calls share the client's TLS setup.
    pub(crate) fn new(
        config: &CredentialConfig,
        cloud: &Cloud,
        http: reqwest::Client,
        scope: String,
        refresh_margin: Duration,
    ) -> Result<TokenCache, ArmError> {
        let client_options = || {
            let mut o = ClientOptions {
                transport: Some(Transport::new(Arc::new(http.clone()))),
                ..ClientOptions::default()
            };
            o.cloud = match cloud {
                Cloud::Public => None,
                Cloud::UsGovernment => Some(Arc::new(
                    azure_core::cloud::CloudConfiguration::AzureGovernment,
                )),
                Cloud::China => Some(Arc::new(azure_core::cloud::CloudConfiguration::AzureChina)),
                Cloud::Custom { authority_host } => {
                    let mut custom = azure_core::cloud::CustomConfiguration::default();
                    custom.authority_host = authority_host.clone();
                    Some(Arc::new(azure_core::cloud::CloudConfiguration::Custom(
                        custom,
                    )))
                }
            };
            o
        };
        let source = match config {
            CredentialConfig::StaticToken(t) => Source::Static(t.clone()),
            CredentialConfig::Auto => {
                let resolved = config.clone().resolve(&|k| std::env::var(k).ok());
                return TokenCache::new(&resolved, cloud, http, scope, refresh_margin);
            }
            CredentialConfig::ManagedIdentity { client_id } => {
                let options = azure_identity::ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id
                        .clone()
                        .map(azure_identity::UserAssignedId::ClientId),
                    client_options: client_options(),
                };
                Source::Azure(
                    azure_identity::ManagedIdentityCredential::new(Some(options))
                        .map_err(|e| cred_err(&scope, e))?,
                )
            }
            CredentialConfig::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                let mut options = azure_identity::WorkloadIdentityCredentialOptions {
                    tenant_id: tenant_id.clone(),
                    client_id: client_id.clone(),
                    token_file_path: token_file.clone(),
                    ..Default::default()
                };
                options.credential_options.client_options = client_options();
                Source::Azure(
                    azure_identity::WorkloadIdentityCredential::new(Some(options))
                        .map_err(|e| cred_err(&scope, e))?,
                )
            }
            CredentialConfig::AzureCli { tenant_id } => {
                let options = azure_identity::AzureCliCredentialOptions {
                    tenant_id: tenant_id.clone(),
                    ..Default::default()
                };
                Source::Azure(
                    azure_identity::AzureCliCredential::new(Some(options))
                        .map_err(|e| cred_err(&scope, e))?,
                )
            }
            CredentialConfig::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                let options = azure_identity::ClientSecretCredentialOptions {
                    client_options: client_options(),
                };
                Source::Azure(
                    azure_identity::ClientSecretCredential::new(
                        tenant_id,
                        client_id.clone(),
                        azure_core::credentials::Secret::new(secret.expose().to_string()),
                        Some(options),
                    )
                    .map_err(|e| cred_err(&scope, e))?,
                )
            }
        };
        Ok(TokenCache {
            source,
            scope,
            refresh_margin,
            cache: tokio::sync::Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A valid token, from the cache unless it expires within the refresh margin.
    pub(crate) async fn token(&self, clock: &dyn Clock) -> Result<SecretString, ArmError> {
        let cred = match &self.source {
            Source::Static(t) => return Ok(t.clone()),
            Source::Azure(c) => c,
        };
        let mut cache = self.cache.lock().await;
        let margin = chrono::Duration::from_std(self.refresh_margin).unwrap_or_default();
        if let Some((tok, exp)) = cache.as_ref() {
            if *exp - margin > clock.now() {
                return Ok(tok.clone());
            }
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let got = cred
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| cred_err(&self.scope, e))?;
        let exp = DateTime::<Utc>::from_timestamp(got.expires_on.unix_timestamp(), 0)
            .unwrap_or_else(|| clock.now());
        let tok = SecretString(got.token.secret().to_string());
        *cache = Some((tok.clone(), exp));
        Ok(tok)
    }

    /// Forgets the cached token (after ARM answered 401).
    pub(crate) async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// How many tokens were fetched from the credential.
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The ARM client's identity for other resources (Microsoft Graph): the same credential and
/// token flow as ARM's, one cache per scope, behind the workspace's bearer-token port.
pub struct ScopedTokens {
    config: CredentialConfig,
    cloud: Cloud,
    http: reqwest::Client,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
    caches: tokio::sync::Mutex<std::collections::HashMap<String, Arc<TokenCache>>>,
}

impl fmt::Debug for ScopedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTokens").finish_non_exhaustive()
    }
}

impl ScopedTokens {
    pub(crate) fn new(
        config: CredentialConfig,
        cloud: Cloud,
        http: reqwest::Client,
        refresh_margin: Duration,
        clock: Arc<dyn Clock>,
    ) -> ScopedTokens {
        ScopedTokens {
            config,
            cloud,
            http,
            refresh_margin,
            clock,
            caches: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl curfew_plumbing::TokenSource for ScopedTokens {
    async fn token(&self, scope: &str) -> Result<String, curfew_plumbing::TokenError> {
        let cache = {
            let mut caches = self.caches.lock().await;
            match caches.get(scope) {
                Some(c) => Arc::clone(c),
                None => {
                    let c = Arc::new(TokenCache::new(
                        &self.config,
                        &self.cloud,
                        self.http.clone(),
                        scope.to_owned(),
                        self.refresh_margin,
                    )?);
                    caches.insert(scope.to_owned(), Arc::clone(&c));
                    c
                }
            }
        };
        Ok(cache.token(self.clock.as_ref()).await?.expose().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn auto_picks_in_a_fixed_order() {
        let sp = env(&[
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("IDENTITY_ENDPOINT", "x"),
        ]);
        assert!(matches!(
            CredentialConfig::Auto.resolve(&sp),
            CredentialConfig::ClientSecret { .. }
        ));
        let wi = env(&[
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ("IDENTITY_ENDPOINT", "x"),
        ]);
        assert!(matches!(
            CredentialConfig::Auto.resolve(&wi),
            CredentialConfig::WorkloadIdentity { .. }
        ));
        let mi = env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1/msi"),
            ("AZURE_CLIENT_ID", "uai"),
        ]);
        assert_eq!(
            CredentialConfig::Auto.resolve(&mi),
            CredentialConfig::ManagedIdentity {
                client_id: Some("uai".into())
            }
        );
        assert!(matches!(
            CredentialConfig::Auto.resolve(&env(&[])),
            CredentialConfig::AzureCli { .. }
        ));
        let fixed = CredentialConfig::AzureCli { tenant_id: None };
        assert_eq!(fixed.clone().resolve(&mi), fixed);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = CredentialConfig::ClientSecret {
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: SecretString::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!(
            "{:?}",
            CredentialConfig::StaticToken(SecretString::new("tok123"))
        )
        .contains("tok123"));
    }
}
