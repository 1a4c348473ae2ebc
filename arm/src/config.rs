//! Client configuration: endpoint, API versions, scopes, concurrency, budgets, deadlines, retry.

use crate::budget::BucketConfig;
use crate::credential::CredentialConfig;
use crate::id::WorkspaceRef;
use curfew_plumbing::RetryPolicy;
use std::time::Duration;

/// Public-cloud ARM endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
/// ARM api-version for compute and workspace calls.
pub const DEFAULT_API_VERSION: &str = "2025-12-01";
/// api-version for `updateIdleShutdownSetting` (a preview-only operation).
pub const DEFAULT_IDLE_SHUTDOWN_API_VERSION: &str = "2024-10-01-preview";
/// Concurrent calls per subscription.
pub const DEFAULT_CONCURRENCY_PER_SUBSCRIPTION: usize = 8;
/// ARM's read bucket per subscription: 250 tokens, refilled 25/s.
pub const DEFAULT_READ_BUCKET: BucketConfig = BucketConfig {
    capacity: 250.0,
    refill_per_sec: 25.0,
};
/// ARM's write bucket per subscription: 200 tokens, refilled 10/s.
pub const DEFAULT_WRITE_BUCKET: BucketConfig = BucketConfig {
    capacity: 200.0,
    refill_per_sec: 10.0,
};
/// Longest one HTTP attempt may take.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest one logical call may take, retries included.
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(120);
/// Longest the client polls one long-running operation.
pub const DEFAULT_OPERATION_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// Poll interval when ARM gives no `Retry-After`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// A cached token is refreshed this long before it expires.
pub const DEFAULT_TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Default attempts per call.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;
/// Default retry policy: [`DEFAULT_MAX_ATTEMPTS`] attempts, 0.5 s doubling to at most 30 s with
/// equal jitter; a `Retry-After` is honoured up to 5 minutes, plus up to 250 ms of jitter.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: DEFAULT_MAX_ATTEMPTS,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(30),
    jitter_percent: 50,
    max_retry_after: Duration::from_secs(300),
    retry_after_jitter: Duration::from_millis(250),
};

/// Which Azure cloud (sets the authority host for credentials and the default endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cloud {
    /// Azure public cloud.
    #[default]
    Public,
    /// Azure US Government.
    UsGovernment,
    /// Azure operated by 21Vianet (China).
    China,
    /// Any other cloud: its Entra authority host (e.g. an Azure Stack hub).
    Custom {
        /// Authority host URL, e.g. `https://login.example.cloud`.
        authority_host: String,
    },
}

impl Cloud {
    /// The cloud's ARM endpoint (custom clouds must set [`ArmConfig::endpoint`]).
    pub fn default_endpoint(&self) -> &'static str {
        match self {
            Cloud::Public | Cloud::Custom { .. } => DEFAULT_ENDPOINT,
            Cloud::UsGovernment => "https://management.usgovcloudapi.net",
            Cloud::China => "https://management.chinacloudapi.cn",
        }
    }
}

/// Where Curfew looks for compute instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every workspace of a subscription.
    Subscription(String),
    /// Every workspace of a resource group.
    ResourceGroup {
        /// Subscription id.
        subscription: String,
        /// Resource group name.
        resource_group: String,
    },
    /// One workspace.
    Workspace(WorkspaceRef),
}

impl Scope {
    /// Parses an ARM scope: `/subscriptions/S`, `/subscriptions/S/resourceGroups/RG`, or a workspace id.
    pub fn parse(s: &str) -> Option<Scope> {
        let p: Vec<&str> = s.trim_matches('/').split('/').collect();
        let word = |i: usize, w: &str| p.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        match p.len() {
            2 if word(0, "subscriptions") && !p[1].is_empty() => {
                Some(Scope::Subscription(p[1].into()))
            }
            4 if word(0, "subscriptions")
                && word(2, "resourceGroups")
                && !p[1].is_empty()
                && !p[3].is_empty() =>
            {
                Some(Scope::ResourceGroup {
                    subscription: p[1].into(),
                    resource_group: p[3].into(),
                })
            }
            _ => WorkspaceRef::parse(s).map(Scope::Workspace),
        }
    }
}

/// Everything the ARM client needs to know.
#[derive(Debug, Clone)]
pub struct ArmConfig {
    /// Cloud (authority host and default endpoint).
    pub cloud: Cloud,
    /// ARM endpoint, e.g. `https://management.azure.com` or a local simulator.
    pub endpoint: String,
    /// api-version for reads and actions.
    pub api_version: String,
    /// api-version for `updateIdleShutdownSetting`.
    pub idle_shutdown_api_version: String,
    /// Token scope; defaults to `{endpoint}/.default`.
    pub token_scope: Option<String>,
    /// How to authenticate.
    pub credential: CredentialConfig,
    /// Where to discover workspaces.
    pub scopes: Vec<Scope>,
    /// Concurrent HTTP calls per subscription.
    pub concurrency_per_subscription: usize,
    /// Read budget per subscription.
    pub read_bucket: BucketConfig,
    /// Write budget per subscription.
    pub write_bucket: BucketConfig,
    /// Longest one HTTP attempt may take.
    pub attempt_timeout: Duration,
    /// Longest one logical call may take, retries included.
    pub call_deadline: Duration,
    /// Longest the client polls one long-running operation.
    pub operation_deadline: Duration,
    /// Poll interval when ARM gives no `Retry-After`.
    pub poll_interval: Duration,
    /// Refresh cached tokens this long before they expire.
    pub token_refresh_margin: Duration,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Seed for retry jitter (fixed seeds make tests repeatable).
    pub jitter_seed: u64,
}

impl Default for ArmConfig {
    fn default() -> Self {
        ArmConfig {
            cloud: Cloud::Public,
            endpoint: DEFAULT_ENDPOINT.into(),
            api_version: DEFAULT_API_VERSION.into(),
            idle_shutdown_api_version: DEFAULT_IDLE_SHUTDOWN_API_VERSION.into(),
            token_scope: None,
            credential: CredentialConfig::Auto,
            scopes: Vec::new(),
            concurrency_per_subscription: DEFAULT_CONCURRENCY_PER_SUBSCRIPTION,
            read_bucket: DEFAULT_READ_BUCKET,
            write_bucket: DEFAULT_WRITE_BUCKET,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            call_deadline: DEFAULT_CALL_DEADLINE,
            operation_deadline: DEFAULT_OPERATION_DEADLINE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            token_refresh_margin: DEFAULT_TOKEN_REFRESH_MARGIN,
            retry: DEFAULT_RETRY,
            jitter_seed: 0x5eed,
        }
    }
}

impl ArmConfig {
    /// Defaults for a cloud: its endpoint and authority host.
    pub fn for_cloud(cloud: Cloud) -> ArmConfig {
        ArmConfig {
            endpoint: cloud.default_endpoint().into(),
            cloud,
            ..ArmConfig::default()
        }
    }

    /// The endpoint without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        self.endpoint.trim_end_matches('/')
    }

    /// The token scope in force.
    pub fn scope(&self) -> String {
        self.token_scope
            .clone()
            .unwrap_or_else(|| format!("{}/.default", self.base()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let p = DEFAULT_RETRY;
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(30));
        assert_eq!(
            p.retry_after_wait(Duration::from_secs(7), 0.5),
            Duration::from_millis(7125)
        );
        assert_eq!(
            p.retry_after_wait(Duration::from_secs(9999), 0.0),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn scopes_parse_from_arm_ids() {
        assert_eq!(
            Scope::parse("/subscriptions/s1"),
            Some(Scope::Subscription("s1".into()))
        );
        assert!(matches!(
            Scope::parse("/subscriptions/s1/resourcegroups/rg"),
            Some(Scope::ResourceGroup { .. })
        ));
        assert!(matches!(
            Scope::parse("/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w"),
            Some(Scope::Workspace(_))
        ));
        assert_eq!(Scope::parse("/tenants/x"), None);
    }

    #[test]
    fn sovereign_clouds_are_configuration_only() {
        let c = ArmConfig::for_cloud(Cloud::UsGovernment);
        assert_eq!(c.scope(), "https://management.usgovcloudapi.net/.default");
        assert_eq!(ArmConfig::default().api_version, "2025-12-01");
    }
}
