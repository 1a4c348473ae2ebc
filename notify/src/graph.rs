//! Owners' addresses from Microsoft Graph: `GET /v1.0/users/{objectId}?$select=mail,
//! userPrincipalName` with the app's own identity (application permission User.Read.All).
//! `mail` when set, else the UPN unless it is a guest's `#EXT#` name; 404 is "no such user";
//! 429 and 5xx are retried, honouring `Retry-After`, on the injected clock.

use std::sync::Arc;

use async_trait::async_trait;
use curfew_plumbing::{random_seed, Clock, RetryPolicy, TokenSource};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::email::Directory;
use crate::error::NotifyError;
use crate::http;

/// The OAuth scope of Graph tokens (the app's granted application permissions).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The name Graph lookups are reported under in errors.
const LABEL: &str = "graph";

/// A [`Directory`] over Microsoft Graph.
pub struct GraphDirectory {
    endpoint: String,
    tokens: Arc<dyn TokenSource>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    seed: u64,
}

impl std::fmt::Debug for GraphDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDirectory")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    mail: Option<String>,
    user_principal_name: Option<String>,
}

impl GraphDirectory {
    /// Graph at `endpoint` (`https://graph.microsoft.com`, or a national cloud's, or a test
    /// double), tokens for [`GRAPH_SCOPE`] from `tokens`.
    pub fn new(
        endpoint: &str,
        tokens: Arc<dyn TokenSource>,
        clock: Arc<dyn Clock>,
        retry: RetryPolicy,
    ) -> Result<GraphDirectory, NotifyError> {
        Ok(GraphDirectory {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            tokens,
            http: http::client(LABEL)?,
            clock,
            retry,
            seed: random_seed(),
        })
    }

    async fn attempt(&self, object_id: &str) -> Result<Option<String>, NotifyError> {
        let token = self
            .tokens
            .token(GRAPH_SCOPE)
            .await
            .map_err(|e| NotifyError::Token {
                channel: LABEL.to_owned(),
                message: e.to_string(),
            })?;
        let url = format!(
            "{}/v1.0/users/{}?$select=mail,userPrincipalName",
            self.endpoint,
            utf8_percent_encode(object_id, NON_ALPHANUMERIC)
        );
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| http::transport(LABEL, e))?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(match http::classify(LABEL, resp, self.clock.now()).await {
                Err(e) => e,
                Ok(status) => NotifyError::Rejected {
                    channel: LABEL.to_owned(),
                    status,
                    detail: "unexpected status".to_owned(),
                },
            });
        }
        let body = resp.bytes().await.map_err(|e| http::transport(LABEL, e))?;
        let user: GraphUser = serde_json::from_slice(&body).map_err(|e| NotifyError::Rejected {
            channel: LABEL.to_owned(),
            status: 200,
            detail: format!("not a Graph user: {e}"),
        })?;
        Ok(address(user))
    }
}

/// `mail` when set, else the UPN unless it is a guest's (`…#EXT#@…` receives no mail).
fn address(u: GraphUser) -> Option<String> {
    let usable = |s: &String| !s.trim().is_empty();
    u.mail.filter(usable).or_else(|| {
        u.user_principal_name
            .filter(|p| usable(p) && !p.to_ascii_uppercase().contains("#EXT#"))
    })
}

#[async_trait]
impl Directory for GraphDirectory {
    async fn email_of(&self, object_id: &str) -> Result<Option<String>, NotifyError> {
        let max = self.retry.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            match self.attempt(object_id).await {
                Ok(a) => return Ok(a),
                Err(e) if !e.is_retryable() || n >= max => return Err(e),
                Err(e) => {
                    let wait = self.retry.delay_seeded(n, e.retry_after(), self.seed);
                    self.clock.sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_else_a_members_upn() {
        let u = |mail: Option<&str>, upn: Option<&str>| {
            address(GraphUser {
                mail: mail.map(str::to_owned),
                user_principal_name: upn.map(str::to_owned),
            })
        };
        assert_eq!(
            u(Some("a@c.example"), Some("x@c.example")).as_deref(),
            Some("a@c.example")
        );
        assert_eq!(u(None, Some("x@c.example")).as_deref(), Some("x@c.example"));
        assert_eq!(
            u(Some(" "), Some("x@c.example")).as_deref(),
            Some("x@c.example")
        );
        assert_eq!(u(None, Some("g_o.example#EXT#@c.onmicrosoft.com")), None);
        assert_eq!(u(None, None), None);
    }
}
