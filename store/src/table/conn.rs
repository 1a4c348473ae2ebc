//! Where and as whom to reach Table Storage: connection strings, SharedKey signing and the
//! bearer-token source. Secrets never appear in `Debug` output or error messages.

use std::sync::Arc;

use base64::Engine as _;
use ring::hmac;

use crate::error::{StoreError, StoreResult};

/// Account name of the storage emulator (Azurite).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";

/// The storage emulator's published, well-known account key (not a secret).
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Table endpoint of the emulator on its default port.
const DEV_TABLE_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";

/// OAuth scope to request tokens for when using [`TokenSource`] (Entra ID).
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

pub use curfew_plumbing::TokenSource;

/// How requests are authorised.
#[derive(Clone)]
pub(crate) enum Credential {
    /// HMAC-SHA256 SharedKey with the account key.
    SharedKey { account: String, key: hmac::Key },
    /// `Authorization: Bearer` from a token source.
    Token(Arc<dyn TokenSource>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SharedKey { account, .. } => f
                .debug_struct("SharedKey")
                .field("account", account)
                .field("key", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Bearer(<token source>)"),
        }
    }
}

impl Credential {
    pub(crate) fn shared_key(account: &str, key_base64: &str) -> StoreResult<Self> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_base64.trim())
            .map_err(|_| {
                StoreError::Config(format!(
                    "table storage: AccountKey of account {account} is not valid base64"
                ))
            })?;
        Ok(Self::SharedKey {
            account: account.to_owned(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    /// The `Authorization` header value for one request.
    /// SharedKey for the Table service signs
    /// `VERB\nContent-MD5\nContent-Type\nx-ms-date\n/{account}{url path}`.
    pub(crate) async fn authorization(
        &self,
        verb: &str,
        content_type: &str,
        date: &str,
        path: &str,
    ) -> StoreResult<String> {
        match self {
            Self::SharedKey { account, key } => {
                let to_sign = format!("{verb}\n\n{content_type}\n{date}\n/{account}{path}");
                let sig = hmac::sign(key, to_sign.as_bytes());
                Ok(format!(
                    "SharedKey {account}:{}",
                    base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
                ))
            }
            Self::Token(source) => {
                let token =
                    source
                        .token(STORAGE_SCOPE)
                        .await
                        .map_err(|e| StoreError::Unavailable {
                            table: "tables",
                            detail: format!("token source failed: {e}"),
                        })?;
                Ok(format!("Bearer {token}"))
            }
        }
    }
}

/// Where the table service is and how to authorise: parsed from a connection string or
/// built for bearer tokens. `Debug` never shows the key.
#[derive(Clone, Debug)]
pub struct TableConfig {
    pub(crate) endpoint: String,
    pub(crate) credential: Credential,
}

impl TableConfig {
    /// Parses a storage connection string: `UseDevelopmentStorage=true`, or
    /// `DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…[;TableEndpoint=…|EndpointSuffix=…]`.
    pub fn from_connection_string(text: &str) -> StoreResult<Self> {
        let mut fields = std::collections::HashMap::new();
        for (i, part) in text
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            // Not quoted: a segment without `=` may be the account key itself.
            let (k, v) = part.split_once('=').ok_or_else(|| {
                StoreError::Config(format!(
                    "table storage connection string: segment {} has no '='",
                    i + 1
                ))
            })?;
            fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let get = |k: &str| fields.get(k).map(String::as_str);
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = match get("developmentstorageproxyuri") {
                Some(proxy) => format!("{}/{DEV_ACCOUNT}", proxy.trim_end_matches('/')),
                None => DEV_TABLE_ENDPOINT.to_owned(),
            };
            return Ok(Self {
                endpoint,
                credential: Credential::shared_key(DEV_ACCOUNT, DEV_KEY)?,
            });
        }
        if get("sharedaccesssignature").is_some() {
            return Err(StoreError::Config(
                "table storage connection string: SharedAccessSignature is not supported; \
                 use AccountKey or a token source"
                    .into(),
            ));
        }
        let account = get("accountname").ok_or_else(|| {
            StoreError::Config("table storage connection string: AccountName missing".into())
        })?;
        let key = get("accountkey").ok_or_else(|| {
            StoreError::Config(format!(
                "table storage connection string: AccountKey missing for account {account}"
            ))
        })?;
        let endpoint = match get("tableendpoint") {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => {
                let proto = get("defaultendpointsprotocol").unwrap_or("https");
                let suffix = get("endpointsuffix").unwrap_or("core.windows.net");
                format!("{proto}://{account}.table.{suffix}")
            }
        };
        Ok(Self {
            endpoint,
            credential: Credential::shared_key(account, key)?,
        })
    }

    /// Bearer-token access to a table endpoint such as `https://acct.table.core.windows.net`.
    pub fn with_token(endpoint: &str, source: Arc<dyn TokenSource>) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credential: Credential::Token(source),
        }
    }

    /// The development-storage (Azurite) config for a table endpoint such as
    /// `http://127.0.0.1:10002/devstoreaccount1`.
    pub fn development(endpoint: &str) -> StoreResult<Self> {
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credential: Credential::shared_key(DEV_ACCOUNT, DEV_KEY)?,
        })
    }

    /// The table service endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connection_strings_and_hides_the_key() {
        let c = TableConfig::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:10002/devstoreaccount1");
        let c = TableConfig::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=c2VjcmV0LWtleS1ieXRlcw==;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(c.endpoint(), "https://acme.table.core.windows.net");
        let dbg = format!("{c:?}");
        assert!(dbg.contains("acme") && dbg.contains("redacted"));
        assert!(!dbg.contains("c2VjcmV0"), "{dbg}");
        let c = TableConfig::from_connection_string(
            "AccountName=a;AccountKey=AAAA;TableEndpoint=http://127.0.0.1:1/a/",
        )
        .unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:1/a");
        for bad in [
            "AccountName=a",
            "AccountKey=AAAA",
            "AccountName=a;AccountKey=!!",
            "x",
        ] {
            let err = TableConfig::from_connection_string(bad).unwrap_err();
            assert!(matches!(err, StoreError::Config(_)), "{bad}: {err}");
            assert!(!err.to_string().contains("!!"));
        }
        // A segment without `=` may be the key itself (`AccountKey:…`): never quoted.
        let err = TableConfig::from_connection_string("AccountName=a;AccountKey:c2VjcmV0a2V5")
            .unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }

    #[tokio::test]
    async fn shared_key_signs_the_documented_string() {
        // Pins the string-to-sign layout; Azurite accepting our requests is the end-to-end proof.
        let c = Credential::shared_key("acct", "a2V5").unwrap();
        let auth = c
            .authorization("GET", "", "Mon, 01 Jan 2024 00:00:00 GMT", "/Tables")
            .await
            .unwrap();
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"key"),
            b"GET\n\n\nMon, 01 Jan 2024 00:00:00 GMT\n/acct/Tables",
        );
        assert_eq!(
            auth,
            format!(
                "SharedKey acct:{}",
                base64::engine::general_purpose::STANDARD.encode(expected.as_ref())
            )
        );
    }
}
