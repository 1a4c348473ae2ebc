//! Bearer tokens as a port: the Service Bus and Table Storage clients ask a [`TokenSource`]
//! for a token per request; the caller implements it (over `azure_identity` when deployed)
//! and caches and refreshes. One trait, so one managed-identity adapter serves both.

use async_trait::async_trait;

/// Why a token could not be had; the clients report it as retryable.
pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// Supplies Entra ID bearer tokens for an OAuth scope (e.g. `https://storage.azure.com/.default`).
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token for `scope`, without the `Bearer ` prefix.
    async fn token(&self, scope: &str) -> Result<String, TokenError>;
}
