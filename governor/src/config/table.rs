//! Every setting Curfew reads, named once: its environment variable and its path in the
//! settings file side by side, who sets it, whether it is secret, and one line saying what it
//! is for. `Status` lists this table, `tests/functions_consistency.rs` checks `infra/` against
//! it, and `docs/operations.md` carries it (checked by `tests/settings_docs.rs`).

/// Who sets a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    /// The platform (the Functions host, App Service, AKS); never declared by us.
    Host,
    /// An app setting that `infra/main.bicep` declares (and `local.settings.json.example`).
    App,
    /// The operator, when needed: an environment variable `infra/` need not declare, or the
    /// settings file.
    Optional,
    /// Only the settings file (structured values, or names of variables holding secrets).
    File,
}

/// One setting: where it can be given and what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable, when the setting can be given as one.
    pub env: Option<&'static str>,
    /// The path in the settings file (`arm.scopes`), when it can be written there.
    pub yaml: Option<&'static str>,
    /// Who sets it.
    pub origin: SetBy,
    /// Secret values are never shown (`Status` reports them as set/unset only).
    pub secret: bool,
    /// Read only by `curfew serve` (the CLI ignores it).
    pub serve_only: bool,
    /// What it is for, in one line (the doc comment of its constant).
    pub doc: &'static str,
}

impl Setting {
    /// A setting with both a variable and a file path.
    const fn both(env: &'static str, yaml: &'static str, origin: SetBy) -> Setting {
        Setting {
            env: Some(env),
            yaml: Some(yaml),
            origin,
            secret: false,
            serve_only: false,
            doc: "",
        }
    }

    /// A setting given only as an environment variable.
    const fn env(env: &'static str, origin: SetBy) -> Setting {
        Setting {
            env: Some(env),
            yaml: None,
            origin,
            secret: false,
            serve_only: false,
            doc: "",
        }
    }

    /// A setting written only in the settings file.
    const fn file(yaml: &'static str) -> Setting {
        Setting {
            env: None,
            yaml: Some(yaml),
            origin: SetBy::File,
            secret: false,
            serve_only: false,
            doc: "",
        }
    }

    const fn secret(self) -> Setting {
        Setting {
            secret: true,
            ..self
        }
    }

    const fn serve_only(self) -> Setting {
        Setting {
            serve_only: true,
            ..self
        }
    }

    const fn documented(self, doc: &'static str) -> Setting {
        Setting { doc, ..self }
    }

    /// The setting's name: its file path when it has one, else its variable.
    pub fn name(&self) -> &'static str {
        match (self.yaml, self.env) {
            (Some(y), _) => y,
            (None, Some(e)) => e,
            (None, None) => "",
        }
    }

    /// The one-line doc, without the doc comment's leading space.
    pub fn doc(&self) -> &'static str {
        self.doc.trim()
    }

    /// The variable, or the empty string for a setting only the file holds (for code that
    /// only handles variables).
    pub fn var(&self) -> &'static str {
        self.env.unwrap_or("")
    }
}

/// Declares each setting as a constant whose doc comment is also its `doc`, and the table.
macro_rules! settings {
    ($($(#[doc = $doc:literal])+ $name:ident = $setting:expr;)+) => {
        $(
            $(#[doc = $doc])+
            pub const $name: Setting = $setting.documented(concat!($($doc),+));
        )+
        /// Every setting, in the order `docs/operations.md` lists them.
        pub const SETTINGS: &[Setting] = &[$($name),+];
    };
}

settings! {
    /// The settings file, or its YAML/JSON text when that spans lines or starts with `{` (`--config` wins in the CLI); inline text is never shown.
    CONFIG = Setting::env("CURFEW_CONFIG", SetBy::Optional);
    /// Names this Curfew in event sources and watermark keys (default `default`).
    DEPLOYMENT = Setting::both("CURFEW_DEPLOYMENT", "deployment", SetBy::App);
    /// ARM endpoint (default `https://management.azure.com`): a sovereign cloud, or the local simulator.
    ARM_ENDPOINT = Setting::both("CURFEW_ARM_ENDPOINT", "arm.endpoint", SetBy::Optional);
    /// ARM api-version of reads and actions (default `2025-12-01`).
    ARM_API_VERSION = Setting::both("CURFEW_ARM_API_VERSION", "arm.apiVersion", SetBy::Optional);
    /// Target scopes: subscription, resource group or workspace ARM ids (the variable: comma or space separated).
    SCOPES = Setting::both("CURFEW_SCOPES", "arm.scopes", SetBy::App);
    /// ARM credential: `auto` (default), `managed-identity`, `workload-identity`, `azure-cli`, or `token-env:VAR` (a bearer token in VAR).
    ARM_CREDENTIAL = Setting::both("CURFEW_ARM_CREDENTIAL", "arm.credential", SetBy::App);
    /// Client id of the user-assigned managed identity, for ARM and Table Storage (the file's value wins over the variable).
    CLIENT_ID = Setting::both("AZURE_CLIENT_ID", "arm.clientId", SetBy::App);
    /// ARM requests per second per subscription the client allows itself (default ARM's 25, burst ×10); raise it only for a simulator.
    READS_PER_SECOND = Setting::both("CURFEW_ARM_READS_PER_SECOND", "arm.readsPerSecond", SetBy::Optional);
    /// SQLite state file (default `curfew.sqlite` next to the settings file), when no table is configured.
    SQLITE = Setting::both("CURFEW_SQLITE", "store.sqlite", SetBy::Optional);
    /// The variable holding a Table Storage connection string; when set, state lives in Table Storage.
    TABLE_CONNECTION_ENV = Setting::file("store.tableConnectionStringEnv");
    /// A Table Storage connection string (keys; Azurite); wins over every other store setting.
    TABLE_CONNECTION = Setting::env("CURFEW_TABLE_CONNECTION", SetBy::Optional).secret();
    /// Table Storage endpoint reached with the managed identity (`curfew serve`); an Azurite `…/devstoreaccount1` uses the emulator's key.
    TABLE_ENDPOINT = Setting::env("CURFEW_TABLE_ENDPOINT", SetBy::App);
    /// State table name (default `curfew`).
    TABLE_NAME = Setting::both("CURFEW_TABLE", "store.table", SetBy::Optional);
    /// Late occurrences within this many minutes still execute (default 15).
    CATCH_UP_MINUTES = Setting::both("CURFEW_CATCH_UP_MINUTES", "governor.catchUpMinutes", SetBy::Optional);
    /// Missed occurrences older than this many hours are summarised, one record and one log line per instance (default 24; at least the catch-up); the newest is still repaired.
    CATCH_UP_HORIZON_HOURS = Setting::both("CURFEW_CATCH_UP_HORIZON_HOURS", "governor.catchUpHorizonHours", SetBy::Optional);
    /// Records older than this many days (ledger, audit, dismissals, cost timeline) are swept from the store, a bounded number per tick (default 90; at least 7).
    RETENTION_DAYS = Setting::both("CURFEW_RETENTION_DAYS", "governor.retentionDays", SetBy::Optional);
    /// Lead times of pre-shutdown notices, in minutes (default 30, 5).
    LEAD_MINUTES = Setting::both("CURFEW_LEAD_MINUTES", "governor.leadMinutes", SetBy::Optional);
    /// Minutes a transitional state may delay an action before it fails (default 30).
    DEFER_MINUTES = Setting::both("CURFEW_DEFER_MINUTES", "governor.deferMinutes", SetBy::Optional);
    /// Total snooze per occurrence in minutes (default 240); also how long a signed link lives past its occurrence.
    SNOOZE_CAP_MINUTES = Setting::both("CURFEW_SNOOZE_CAP_MINUTES", "governor.snoozeCapMinutes", SetBy::Optional);
    /// Object ids that may dismiss any shutdown (the variable: comma separated).
    ADMINS = Setting::both("CURFEW_ADMINS", "governor.admins", SetBy::App);
    /// Write policy idle-time defaults back with `updateIdleShutdownSetting` (default false: Curfew enforces them itself).
    WRITE_BACK_IDLE_DEFAULTS = Setting::both("CURFEW_WRITE_BACK_IDLE_DEFAULTS", "governor.writeBackIdleDefaults", SetBy::Optional);
    /// Notification channels `[label@]kind:value` (docs/notify.md; default `console`); the variable's, space separated, are added to the file's. Secret: webhook URLs and connection strings carry credentials.
    NOTIFY = Setting::both("CURFEW_NOTIFY", "notify", SetBy::Optional).secret();
    /// Routing rules `{name, scope: {subscription, resourceGroup, workspace, tag, owner}, events, channels, continue}`: which channels (by label) each event goes to; first match wins unless `continue` (docs/notify.md). Unset: every channel gets every event.
    ROUTES = Setting::file("routes");
    /// SMTP relay of `email` channels: `smtp.azurecomm.net` (ACS), `smtp.office365.com`, `smtp.sendgrid.net` (docs/notify.md).
    SMTP_HOST = Setting::both("CURFEW_SMTP_HOST", "email.smtpHost", SetBy::App);
    /// SMTP port (default 587 with `starttls`, 465 with `tls`).
    SMTP_PORT = Setting::both("CURFEW_SMTP_PORT", "email.smtpPort", SetBy::Optional);
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on loopback only).
    SMTP_SECURITY = Setting::both("CURFEW_SMTP_SECURITY", "email.security", SetBy::Optional);
    /// SMTP AUTH user name (ACS: the SMTP username of its Entra app; Office 365: the mailbox; SendGrid: `apikey`).
    SMTP_USERNAME = Setting::both("CURFEW_SMTP_USERNAME", "email.username", SetBy::App);
    /// SMTP AUTH password (a Key Vault reference in Azure).
    SMTP_PASSWORD = Setting::env("CURFEW_SMTP_PASSWORD", SetBy::App).secret();
    /// The sender of owners' emails, `Name <address>` or an address the relay may send from.
    EMAIL_FROM = Setting::both("CURFEW_EMAIL_FROM", "email.from", SetBy::App);
    /// An extra trusted root certificate (PEM file) for a relay with a private CA.
    SMTP_CA_FILE = Setting::both("CURFEW_SMTP_CA_FILE", "email.caFile", SetBy::Optional);
    /// Owners' addresses by Entra object id `{objectId: address}`, which win over Microsoft Graph.
    EMAIL_OWNERS = Setting::file("email.owners");
    /// Where other owners' addresses come from: `graph` (default; `GET /users/{id}`, needs User.Read.All) or `none` (only `email.owners`).
    EMAIL_DIRECTORY = Setting::both("CURFEW_EMAIL_DIRECTORY", "email.directory", SetBy::Optional);
    /// Microsoft Graph endpoint (default `https://graph.microsoft.com`): a national cloud, or a local double in tests.
    GRAPH_ENDPOINT = Setting::both("CURFEW_GRAPH_ENDPOINT", "email.graphEndpoint", SetBy::Optional);
    /// `binding` (default: events go to the invocation's `events` output binding) or `notifiers` (only the channels).
    EVENTS = Setting::env("CURFEW_EVENTS", SetBy::App).serve_only();
    /// Public URL of the Dismiss function; links are `{baseUrl}?token=…`.
    LINK_BASE_URL = Setting::file("links.baseUrl");
    /// Public base URL of the functions (`https://<app>.azurewebsites.net/api`); links go to its `/Dismiss` (replaces `links.baseUrl`).
    PUBLIC_BASE_URL = Setting::env("CURFEW_PUBLIC_BASE_URL", SetBy::App);
    /// Link-signing keys `{id, secretEnv}`, newest first: the first signs, all verify.
    LINK_KEYS = Setting::file("links.keys");
    /// The link-signing key, at least 32 bytes (a Key Vault reference in Azure); replaces `links.keys`.
    LINK_KEY = Setting::env("CURFEW_LINK_KEY", SetBy::App).secret();
    /// Id of `CURFEW_LINK_KEY` in tokens (default `k1`).
    LINK_KEY_ID = Setting::env("CURFEW_LINK_KEY_ID", SetBy::Optional);
    /// The previous link key during a rotation (id `k0`): verifies, never signs.
    LINK_KEY_PREVIOUS = Setting::env("CURFEW_LINK_KEY_PREVIOUS", SetBy::Optional).secret();
    /// Master key of activity-report signatures, at least 32 bytes (a Key Vault reference in Azure); unset: every report is refused.
    ACTIVITY_KEY = Setting::env("CURFEW_ACTIVITY_KEY", SetBy::App).secret().serve_only();
    /// Holiday and exception calendars with their assignments `{calendars, assignments}` (docs/calendars.md): inline JSON, or a path to it, to an `.ics` or to a JSON calendar (a holiday calendar for every instance).
    CALENDARS = Setting::both("CURFEW_CALENDARS", "calendars", SetBy::Optional);
    /// Default policies `{file, scope}`: Azure Policy JSON files and the scope each is assigned at (docs/policies.md).
    POLICIES = Setting::file("policies");
    /// A JSON-lines copy of the cost timeline this process saw, for offline use (`curfew report --timeline`); the timeline itself lives in the store.
    COST_TIMELINE = Setting::both("CURFEW_COST_TIMELINE", "costTimeline", SetBy::Optional);
    /// Budgets file (JSON, docs/cost.md) checked against the month's spend on the store's cost timeline.
    BUDGETS = Setting::both("CURFEW_BUDGETS", "budgets", SetBy::Optional);
    /// Price sheet overriding the shipped one (the format of `engine/data/prices.json`).
    PRICES = Setting::both("CURFEW_PRICES", "prices", SetBy::Optional);
    /// Tenant of the workload identity or client secret (`arm.credential: auto` and `workload-identity`).
    TENANT_ID = Setting::env("AZURE_TENANT_ID", SetBy::Host);
    /// Client secret of an app registration (`arm.credential: auto`).
    CLIENT_SECRET = Setting::env("AZURE_CLIENT_SECRET", SetBy::Optional).secret();
    /// Federated token file of the workload identity (`auto` and `workload-identity`).
    FEDERATED_TOKEN_FILE = Setting::env("AZURE_FEDERATED_TOKEN_FILE", SetBy::Host);
    /// Managed identity endpoint of App Service and Functions (`arm.credential: auto`).
    IDENTITY_ENDPOINT = Setting::env("IDENTITY_ENDPOINT", SetBy::Host);
    /// Managed identity endpoint of older App Service hosts (`arm.credential: auto`).
    MSI_ENDPOINT = Setting::env("MSI_ENDPOINT", SetBy::Host);
    /// Instance metadata endpoint of Arc and VM hosts (`arm.credential: auto`).
    IMDS_ENDPOINT = Setting::env("IMDS_ENDPOINT", SetBy::Host);
    /// Port the custom handler listens on (set by the Functions host; default 8080).
    PORT = Setting::env("FUNCTIONS_CUSTOMHANDLER_PORT", SetBy::Host).serve_only();
    /// Function app name (set by the host).
    SITE_NAME = Setting::env("WEBSITE_SITE_NAME", SetBy::Host).serve_only();
    /// Worker instance id (set by the host).
    INSTANCE_ID = Setting::env("WEBSITE_INSTANCE_ID", SetBy::Host).serve_only();
    /// Fleet size (instances) above which `Tick` fans out one `Evaluate` per workspace (default 200); sizes are those last listed, a workspace not listed yet counts as one.
    FANOUT_THRESHOLD = Setting::env("CURFEW_FANOUT_THRESHOLD", SetBy::App).serve_only();
    /// Minutes the host's `UtcNow` may differ from the process's own clock before an invocation is refused (default 15); `off` only for simulators that drive the host clock.
    HOST_CLOCK_TOLERANCE = Setting::env("CURFEW_HOST_CLOCK_TOLERANCE_MINUTES", SetBy::Optional).serve_only();
    /// Stdout log level: off, error, warn, info (default), debug, trace.
    LOG = Setting::env("CURFEW_LOG", SetBy::App).serve_only();
    /// OTLP/HTTP collector base URL (spans to `/v1/traces`, metrics to `/v1/metrics`);
    /// OpenTelemetry export is on only when this is set. The SDK also reads the other standard
    /// `OTEL_*` variables (see Telemetry).
    OTLP_ENDPOINT = Setting::env("OTEL_EXPORTER_OTLP_ENDPOINT", SetBy::App).serve_only();
    /// `service.name` reported to OpenTelemetry (default `curfew`).
    OTEL_SERVICE_NAME = Setting::env("OTEL_SERVICE_NAME", SetBy::App).serve_only();
}
