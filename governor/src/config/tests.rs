//! The configuration path from strings: the environment and the settings file map onto the
//! same settings, and every bad one is reported in one error.

use super::*;
use std::path::Path;

const BUDGETS_JSON: &str =
    r#"[{"name": "gpus", "scope": {"workspace": "ws"}, "amount": 400, "thresholds": [80, 100]}]"#;
const PRICES_JSON: &str = r#"{"currency": "USD", "asOf": "test", "source": "test sheet", "prices": {"Standard_DS3_v2": 0.25}}"#;

/// A scratch folder with a budgets file and a price sheet.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("budgets.json"), BUDGETS_JSON).unwrap();
    std::fs::write(dir.join("prices.json"), PRICES_JSON).unwrap();
    dir
}

/// `value` (YAML) at the table path `path`, as a settings file.
fn yaml_at(path: &str, value: &str) -> String {
    let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(value).unwrap();
    for key in path.rsplit('.') {
        let mut m = serde_yaml_ng::Mapping::new();
        m.insert(key.into(), v);
        v = serde_yaml_ng::Value::Mapping(m);
    }
    serde_yaml_ng::to_string(&v).unwrap()
}

fn strings(pairs: &[(&str, String)]) -> MapStrings {
    MapStrings(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn config(yaml: &str, pairs: &[(&str, String)], program: Program) -> RuntimeConfig {
    let file = SettingsFile::Text {
        text: yaml.to_owned(),
        label: "test".to_owned(),
    };
    RuntimeConfig::load(&file, &strings(pairs), program)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}\n{pairs:?}"))
}

fn problems(yaml: &str, pairs: &[(&str, &str)], program: Program) -> Vec<ConfigProblem> {
    let file = SettingsFile::Text {
        text: yaml.to_owned(),
        label: "test".to_owned(),
    };
    match RuntimeConfig::load(&file, &MapStrings::from_pairs(pairs), program) {
        Ok(c) => panic!("expected problems, got {c:?}"),
        Err(e) => e.problems().to_vec(),
    }
}

/// Every field, comparable: the `Debug` text (secrets hidden) and the price sheet (whose
/// `Debug` has a hash map's order).
fn fields(c: &RuntimeConfig) -> (String, PriceSheet) {
    let placeholder = PriceSheet::from_json(PRICES_JSON, "placeholder").unwrap();
    let text = format!(
        "{:?}",
        RuntimeConfig {
            prices: placeholder,
            ..c.clone()
        }
    );
    (text, c.prices.clone())
}

fn settings_named(problems: &[ConfigProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.setting.as_str()).collect()
}

#[test]
fn every_setting_from_the_environment_and_from_the_file_lands_in_the_same_field() {
    let dir = scratch("same-field");
    let budgets = dir.join("budgets.json").display().to_string();
    let prices = dir.join("prices.json").display().to_string();
    let calendars = dir.join("calendars.json").display().to_string();
    std::fs::write(
        &calendars,
        r#"{"calendars": [{"name": "nz", "dates": ["2026-12-25"]}], "assignments": [{"calendar": "nz", "scope": {"tag": "team=vision"}, "effect": "off"}]}"#,
    )
    .unwrap();
    let scopes = ("CURFEW_SCOPES", "/subscriptions/base".to_owned());
    // (setting, the variable's value, the same value in the file, what both need besides)
    type Sample<'a> = (Setting, &'a str, &'a str, Vec<(&'a str, String)>);
    let samples: Vec<Sample<'_>> = vec![
        (DEPLOYMENT, "prod", "prod", vec![]),
        (
            ARM_ENDPOINT,
            "http://127.0.0.1:9/",
            "http://127.0.0.1:9/",
            vec![],
        ),
        (ARM_API_VERSION, "2024-01-01", "'2024-01-01'", vec![]),
        (
            SCOPES,
            "/subscriptions/a, /subscriptions/b/resourceGroups/rg",
            "[/subscriptions/a, /subscriptions/b/resourceGroups/rg]",
            vec![],
        ),
        (
            ARM_CREDENTIAL,
            "token-env:TOKEN",
            "token-env:TOKEN",
            vec![("TOKEN", "t".into())],
        ),
        (
            CLIENT_ID,
            "cid",
            "cid",
            vec![("CURFEW_ARM_CREDENTIAL", "managed-identity".into())],
        ),
        (READS_PER_SECOND, "100", "100", vec![]),
        (SQLITE, "/tmp/state.sqlite", "/tmp/state.sqlite", vec![]),
        (
            TABLE_NAME,
            "other",
            "other",
            vec![(
                "CURFEW_TABLE_CONNECTION",
                "UseDevelopmentStorage=true".into(),
            )],
        ),
        (CATCH_UP_MINUTES, "7", "7", vec![]),
        (CATCH_UP_HORIZON_HOURS, "48", "48", vec![]),
        (RETENTION_DAYS, "30", "30", vec![]),
        (LEAD_MINUTES, "20, 10", "[20, 10]", vec![]),
        (DEFER_MINUTES, "9", "9", vec![]),
        (SNOOZE_CAP_MINUTES, "60", "60", vec![]),
        (ADMINS, "o1, o2", "[o1, o2]", vec![]),
        (WRITE_BACK_IDLE_DEFAULTS, "true", "true", vec![]),
        (
            NOTIFY,
            "jsonl:/tmp/e.jsonl",
            "['jsonl:/tmp/e.jsonl']",
            vec![],
        ),
        (
            COST_TIMELINE,
            "/tmp/timeline.jsonl",
            "/tmp/timeline.jsonl",
            vec![],
        ),
        (
            BUDGETS,
            &budgets,
            &budgets,
            vec![("CURFEW_COST_TIMELINE", "/tmp/timeline.jsonl".into())],
        ),
        (PRICES, &prices, &prices, vec![]),
        (CALENDARS, &calendars, &calendars, vec![]),
        (
            SMTP_HOST,
            "127.0.0.1",
            "127.0.0.1",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
            ],
        ),
        (
            SMTP_PORT,
            "2525",
            "2525",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
            ],
        ),
        (
            SMTP_SECURITY,
            "tls",
            "tls",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
            ],
        ),
        (
            SMTP_USERNAME,
            "u",
            "u",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
                ("CURFEW_SMTP_PASSWORD", "p".into()),
            ],
        ),
        (
            EMAIL_FROM,
            "d@contoso.example",
            "d@contoso.example",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
            ],
        ),
        (
            SMTP_CA_FILE,
            &prices,
            &prices,
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
            ],
        ),
        (
            EMAIL_DIRECTORY,
            "none",
            "none",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
            ],
        ),
        (
            GRAPH_ENDPOINT,
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            vec![
                ("CURFEW_NOTIFY", "email".into()),
                ("CURFEW_SMTP_HOST", "127.0.0.1".into()),
                ("CURFEW_EMAIL_FROM", "c@contoso.example".into()),
            ],
        ),
    ];
    for s in SETTINGS
        .iter()
        .filter(|s| s.env.is_some() && s.yaml.is_some())
    {
        assert!(
            samples.iter().any(|(x, ..)| x == s),
            "{}: add a sample to this test",
            s.name()
        );
    }
    for (s, env_value, yaml_value, mut besides) in samples {
        // Required settings (the scopes; an email channel's relay and sender) have no baseline
        // without them: compare with the configuration that lacks what needs them.
        let baseline = if s == SCOPES || s == SMTP_HOST || s == EMAIL_FROM {
            fields(&config("", std::slice::from_ref(&scopes), Program::Cli))
        } else {
            fields(&config(
                "",
                &[besides.clone(), vec![scopes.clone()]].concat(),
                Program::Cli,
            ))
        };
        if s != SCOPES {
            besides.push(scopes.clone());
        }
        let mut with_var = besides.clone();
        with_var.push((s.env.unwrap(), env_value.to_owned()));
        let from_env = fields(&config("", &with_var, Program::Cli));
        let yaml = yaml_at(s.yaml.unwrap(), yaml_value);
        let from_file = fields(&config(&yaml, &besides, Program::Cli));
        assert_eq!(from_env, from_file, "{}", s.name());
        assert_ne!(
            from_env,
            baseline,
            "{}: the sample changes nothing",
            s.name()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A settings file nested thousands deep (libyaml's work grows with the square of the
/// nesting) is refused before the YAML parser sees it, as a named problem of the file.
#[test]
fn deeply_nested_settings_yaml_is_refused_before_parsing() {
    let text = format!("budgets: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let Err(err) = RuntimeConfig::from_yaml(&text, &MapStrings::default()) else {
        panic!("a 100 000-level settings file was accepted");
    };
    let err = err.to_string();
    assert!(err.contains("YAML nested deeper than 64 levels"), "{err}");
}

#[test]
fn a_variable_wins_over_its_file_path_and_empty_values_count_as_unset() {
    let yaml = "deployment: file\narm:\n  scopes: [/subscriptions/file]\n";
    let c = config(
        yaml,
        &[
            ("CURFEW_DEPLOYMENT", "env".into()),
            ("CURFEW_SCOPES", "".into()),
        ],
        Program::Cli,
    );
    assert_eq!(c.deployment, "env");
    assert_eq!(
        c.arm.scopes,
        [curfew_arm::Scope::Subscription("file".into())],
        "an empty CURFEW_SCOPES is unset: the file's scopes stand"
    );
    let c = config(
        "arm: {scopes: [/subscriptions/s]}\n",
        &[
            ("CURFEW_DEPLOYMENT", "  ".into()),
            ("CURFEW_LINK_KEY", "".into()),
        ],
        Program::Cli,
    );
    assert_eq!(c.deployment, DEFAULT_DEPLOYMENT);
    assert!(c.link_keys.is_empty());
    let p = problems("", &[("CURFEW_SCOPES", " ")], Program::Cli);
    assert_eq!(settings_named(&p), ["arm.scopes or CURFEW_SCOPES"]);
}

#[test]
fn several_bad_settings_give_one_error_listing_all_of_them() {
    let yaml = "arm:\n  scopes: [/subscriptions/ok, /not/a/scope]\n  credential: kerberos\n  readsPerSecond: 0\n\
                links:\n  keys: [{id: k1, secretEnv: SET_KEY}, {id: k2, secretEnv: UNSET_KEY}]\n\
                policies: [{file: /no/such/policy.json}]\n\
                budgets: BUDGETS\n";
    let dir = scratch("several");
    let yaml = yaml.replace("BUDGETS", &dir.join("budgets.json").display().to_string());
    let p = problems(
        &yaml,
        &[
            ("SET_KEY", "a-signing-key-of-at-least-thirty-two-bytes"),
            ("CURFEW_LEAD_MINUTES", "30, soon"),
        ],
        Program::Cli,
    );
    let names = settings_named(&p);
    assert_eq!(
        names,
        [
            "arm.scopes[1]",
            "arm.credential",
            "arm.readsPerSecond",
            "CURFEW_LEAD_MINUTES (governor.leadMinutes[1])",
            "links.keys[1].secretEnv",
            "policies[0]",
        ],
        "{p:#?}"
    );
    let text = ConfigError::Invalid { problems: p }.to_string();
    for needle in [
        "test: arm.scopes[1]: '/not/a/scope' is not a subscription, resource group or workspace id",
        "arm.credential: 'kerberos' is not one of auto, managed-identity",
        "arm.readsPerSecond: 0 is not a positive rate",
        "'soon' is not a whole number of minutes",
        "links.keys[1].secretEnv: variable UNSET_KEY is not set (key 'k2')",
        "policies[0]: reading '/no/such/policy.json'",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
    assert!(text.starts_with("invalid settings: "), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unknown_keys_and_bad_types_are_named_by_path_and_the_rest_is_still_read() {
    let p = problems(
        "arm:\n  endpont: x\n  scopes: [/nope]\ngovernor:\n  leadMinutes: [0]\n  catchUpMinutes: soon\nlinks:\n  keys: [{id: a, secret: b}]\nbogus: 1\n",
        &[],
        Program::Cli,
    );
    let text = p
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        settings_named(&p),
        [
            "arm.endpont",
            "bogus",
            "arm.scopes[0]",
            "governor.catchUpMinutes",
            "governor.leadMinutes[0]",
            "links.keys[0].secret",
        ],
        "{text}"
    );
    assert!(
        text.contains("arm.endpont: unknown setting; expected one of endpoint, apiVersion, scopes"),
        "{text}"
    );
    assert!(
        text.contains("0 is not a positive number of minutes"),
        "{text}"
    );
    assert!(text.contains("unknown field `secret`"), "{text}");
}

#[test]
fn bad_variables_are_named_with_their_value_secrets_never() {
    let p = problems(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/s,/bad"),
            ("CURFEW_ARM_READS_PER_SECOND", "fast"),
            ("CURFEW_WRITE_BACK_IDLE_DEFAULTS", "perhaps"),
            ("CURFEW_TABLE_CONNECTION", "hunter2"),
        ],
        Program::Cli,
    );
    let text = p
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("CURFEW_SCOPES (arm.scopes[1]): '/bad' is not a subscription"),
        "{text}"
    );
    assert!(
        text.contains(
            "CURFEW_ARM_READS_PER_SECOND=\"fast\" (expected a number of requests per second)"
        ),
        "{text}"
    );
    assert!(
        text.contains("CURFEW_WRITE_BACK_IDLE_DEFAULTS=\"perhaps\""),
        "{text}"
    );
    assert!(
        text.contains("CURFEW_TABLE_CONNECTION: not a Table Storage connection string"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn paths_in_a_file_are_taken_from_its_folder_and_a_missing_file_is_unreadable() {
    let dir = scratch("paths");
    let file = dir.join("curfew.yaml");
    std::fs::write(
        &file,
        "arm: {scopes: [/subscriptions/s]}\ncostTimeline: timeline.jsonl\nbudgets: budgets.json\nprices: prices.json\n",
    )
    .unwrap();
    let c = RuntimeConfig::load(
        &SettingsFile::Path(file.clone()),
        &MapStrings::default(),
        Program::Cli,
    )
    .unwrap();
    assert_eq!(c.cost_timeline, Some(dir.join("timeline.jsonl")));
    assert_eq!(c.budgets.len(), 1);
    assert_eq!(c.prices.source.as_deref(), Some("test sheet"));
    assert!(
        matches!(&c.store, StoreConfig::Sqlite(p) if p == &dir.join(DEFAULT_SQLITE)),
        "{:?}",
        c.store
    );
    let c = RuntimeConfig::load(
        &SettingsFile::Path(file),
        &MapStrings::from_pairs(&[("CURFEW_SQLITE", "state.sqlite")]),
        Program::Cli,
    )
    .unwrap();
    assert!(
        matches!(&c.store, StoreConfig::Sqlite(p) if p == Path::new("state.sqlite")),
        "a variable's path is taken as given: {:?}",
        c.store
    );
    let e = RuntimeConfig::load(
        &SettingsFile::Path(dir.join("missing.yaml")),
        &MapStrings::default(),
        Program::Cli,
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Unreadable { .. }), "{e}");
    assert!(e.to_string().starts_with("reading config '"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn individual_variables_configure_the_hosted_governor() {
    let c = config(
        "",
        &[
            (
                "CURFEW_SCOPES",
                "/subscriptions/a, /subscriptions/b/resourceGroups/rg".into(),
            ),
            ("CURFEW_ARM_ENDPOINT", "http://127.0.0.1:1".into()),
            (
                "CURFEW_TABLE_ENDPOINT",
                "http://127.0.0.1:10002/devstoreaccount1".into(),
            ),
            (
                "CURFEW_LINK_KEY",
                "a-signing-key-of-at-least-thirty-two-bytes".into(),
            ),
            ("CURFEW_PUBLIC_BASE_URL", "https://app.example/api/".into()),
            ("CURFEW_ADMINS", "o1, o2".into()),
            ("CURFEW_NOTIFY", "binding".into()),
        ],
        Program::Serve,
    );
    assert_eq!(c.arm.scopes.len(), 2);
    assert_eq!(c.arm.endpoint, "http://127.0.0.1:1");
    match &c.store {
        StoreConfig::Table { table, config } => {
            assert_eq!(table, DEFAULT_TABLE);
            assert!(
                format!("{config:?}").contains("http://127.0.0.1:10002/devstoreaccount1"),
                "the emulator's endpoint, with its well-known key: {config:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.link_keys[0].0, DEFAULT_LINK_KEY_ID);
    assert_eq!(
        c.link_base.as_deref(),
        Some("https://app.example/api/Dismiss")
    );
    assert_eq!(c.governor.admins, ["o1", "o2"]);
    assert!(c.channels.is_empty(), "binding is not a notify channel");
    assert_eq!(c.events, EventsTo::Binding);
}

#[test]
fn a_managed_identity_table_is_for_serve_and_hosted_values_are_checked() {
    let table = [
        ("CURFEW_SCOPES", "/subscriptions/a".to_owned()),
        (
            "CURFEW_TABLE_ENDPOINT",
            "https://acct.table.core.windows.net/".to_owned(),
        ),
        ("AZURE_CLIENT_ID", "cid".to_owned()),
    ];
    let c = config("", &table, Program::Serve);
    match &c.store {
        StoreConfig::TableIdentity {
            endpoint,
            client_id,
            ..
        } => {
            assert_eq!(endpoint, "https://acct.table.core.windows.net");
            assert_eq!(client_id.as_deref(), Some("cid"));
        }
        other => panic!("{other:?}"),
    }
    let pairs: Vec<(&str, &str)> = table.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = problems("", &pairs, Program::Cli);
    assert_eq!(settings_named(&p), ["CURFEW_TABLE_ENDPOINT"]);
    let p = problems(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/a"),
            ("CURFEW_EVENTS", "pigeons"),
        ],
        Program::Serve,
    );
    assert_eq!(
        p[0].to_string(),
        "CURFEW_EVENTS=\"pigeons\" (expected binding or notifiers)"
    );
    let c = config(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/a".into()),
            ("CURFEW_EVENTS", "pigeons".into()),
            ("CURFEW_ACTIVITY_KEY", "k".into()),
        ],
        Program::Cli,
    );
    assert_eq!(
        c.events,
        EventsTo::Notifiers,
        "the CLI ignores serve's settings"
    );
    assert!(c.activity_key.is_none());
    let p = problems(
        "notify: [binding]\narm: {scopes: [/subscriptions/a]}\n",
        &[],
        Program::Cli,
    );
    assert_eq!(settings_named(&p), ["notify[0]"]);
}

#[test]
fn inline_settings_are_named_by_their_variable() {
    let strings = MapStrings::from_pairs(&[(
        "CURFEW_CONFIG",
        "arm:\n  scopes: [/subscriptions/x]\n  bogus: 1\n",
    )]);
    let file = SettingsFile::from_strings(&strings);
    assert!(matches!(file, SettingsFile::Text { .. }), "{file:?}");
    let e = RuntimeConfig::load(&file, &strings, Program::Serve)
        .unwrap_err()
        .to_string();
    assert!(e.contains("CURFEW_CONFIG") && e.contains("bogus"), "{e}");
    let path = MapStrings::from_pairs(&[("CURFEW_CONFIG", " /etc/curfew.yaml ")]);
    assert_eq!(
        SettingsFile::from_strings(&path),
        SettingsFile::Path("/etc/curfew.yaml".into())
    );
    assert_eq!(
        SettingsFile::for_cli(None, &MapStrings::default()),
        SettingsFile::Path(DEFAULT_SETTINGS_FILE.into())
    );
    assert_eq!(
        SettingsFile::for_cli(Some("x.yaml".into()), &path),
        SettingsFile::Path("x.yaml".into())
    );
}

#[test]
fn the_table_names_each_variable_and_path_once_with_a_doc() {
    let mut vars = std::collections::BTreeSet::new();
    let mut paths = std::collections::BTreeSet::new();
    for s in SETTINGS {
        assert!(!s.name().is_empty(), "{s:?}");
        assert!(!s.doc().is_empty() && !s.doc().contains('\n'), "{s:?}");
        if let Some(v) = s.env {
            assert!(vars.insert(v), "{v} twice");
        }
        if let Some(p) = s.yaml {
            assert!(paths.insert(p), "{p} twice");
            assert_eq!(s.origin == SetBy::File, s.env.is_none(), "{p}");
        }
    }
    assert_eq!(SCOPES.doc(), SCOPES.doc.trim());
    assert!(SCOPES.doc().starts_with("Target scopes"));
}

/// A signing key that is an unresolved Key Vault reference (the app was created before its
/// role assignment existed, so the platform passed the reference's text through) or shorter
/// than 32 bytes is refused, each with what to do; the secret itself is never shown.
#[test]
fn guessable_signing_keys_are_refused() {
    let reference =
        "@Microsoft.KeyVault(SecretUri=https://curfewkv.vault.azure.net/secrets/curfew-link-key/)";
    let long = "a-signing-key-of-at-least-thirty-two-bytes";
    let scopes = ("CURFEW_SCOPES", "/subscriptions/a");
    let p = problems(
        "",
        &[
            scopes,
            ("CURFEW_LINK_KEY", reference),
            ("CURFEW_LINK_KEY_PREVIOUS", "short-old-key"),
            ("CURFEW_ACTIVITY_KEY", reference),
        ],
        Program::Serve,
    );
    assert_eq!(
        settings_named(&p),
        [
            "CURFEW_LINK_KEY",
            "CURFEW_LINK_KEY_PREVIOUS",
            "CURFEW_ACTIVITY_KEY"
        ],
        "{p:#?}"
    );
    assert!(
        p[0].message.contains("unresolved Key Vault reference")
            && p[0].message.contains("Key Vault Secrets User"),
        "{}",
        p[0]
    );
    assert!(p[1].message.contains("at least 32 bytes"), "{}", p[1]);
    let text = ConfigError::Invalid { problems: p }.to_string();
    assert!(
        !text.contains("short-old-key") && !text.contains("curfewkv"),
        "{text}"
    );
    // The file's keys too, named by their path.
    let p = problems(
        "links:\n  keys: [{id: k1, secretEnv: NEW}, {id: k0, secretEnv: OLD}]\n",
        &[scopes, ("NEW", long), ("OLD", "0123456789")],
        Program::Cli,
    );
    assert_eq!(settings_named(&p), ["links.keys[1].secretEnv"], "{p:#?}");
    assert!(p[0].message.contains("OLD"), "{}", p[0]);
    // 32 bytes is enough.
    let c = config(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/a".into()),
            ("CURFEW_LINK_KEY", "x".repeat(32)),
            ("CURFEW_ACTIVITY_KEY", long.into()),
        ],
        Program::Serve,
    );
    assert_eq!(c.link_keys.len(), 1);
    assert!(c.activity_key.is_some());
}

/// Connection strings and webhook URLs are secrets: neither the checked configuration's
/// `Debug` nor any configuration error shows them.
#[test]
fn connection_strings_and_webhook_urls_never_reach_debug_or_errors() {
    let notify = "ops@teams:https://contoso.webhook.office.com/webhookb2/WEBHOOKPATH?sig=WEBHOOKSIG \
                  servicebus:Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=SBKEY;EntityPath=t";
    let table = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5;EndpointSuffix=core.windows.net";
    let c = config(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/a".into()),
            ("CURFEW_NOTIFY", notify.into()),
            ("CURFEW_TABLE_CONNECTION", table.into()),
        ],
        Program::Cli,
    );
    let debug = format!("{c:?}");
    for secret in ["WEBHOOKPATH", "WEBHOOKSIG", "SBKEY", "c2VjcmV0a2V5"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    let p = problems(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/a"),
            (
                "CURFEW_NOTIFY",
                "pigeon:https://contoso.webhook.office.com/x?sig=WEBHOOKSIG",
            ),
            (
                "CURFEW_TABLE_CONNECTION",
                "AccountName=acct;AccountKey:c2VjcmV0a2V5",
            ),
        ],
        Program::Cli,
    );
    let text = ConfigError::Invalid { problems: p }.to_string();
    for secret in ["WEBHOOKSIG", "c2VjcmV0"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn the_catch_up_horizon_is_hours_at_least_the_catch_up() {
    use chrono::TimeDelta;
    let scopes = "arm:\n  scopes: [/subscriptions/s]\n";
    let c = config(scopes, &[], Program::Cli);
    assert_eq!(c.governor.catch_up_horizon, TimeDelta::hours(24));
    // A catch-up longer than the default horizon carries the horizon with it.
    let c = config(
        scopes,
        &[("CURFEW_CATCH_UP_MINUTES", "2000".into())],
        Program::Cli,
    );
    assert_eq!(c.governor.catch_up_horizon, TimeDelta::minutes(2000));
    let p = problems(
        &format!("{scopes}governor:\n  catchUpMinutes: 120\n  catchUpHorizonHours: 1\n"),
        &[],
        Program::Cli,
    );
    assert_eq!(settings_named(&p), ["governor.catchUpHorizonHours"]);
    assert!(
        p[0].to_string()
            .contains("1 is not a positive number of hours at least the catch-up (120 min)"),
        "{}",
        p[0]
    );
    let p = problems(
        scopes,
        &[("CURFEW_CATCH_UP_HORIZON_HOURS", "0")],
        Program::Cli,
    );
    assert_eq!(settings_named(&p), ["CURFEW_CATCH_UP_HORIZON_HOURS"]);
}

#[test]
fn routes_are_read_and_every_bad_rule_is_named() {
    let base = "arm: {scopes: [/subscriptions/a]}\nnotify: ['ops@jsonl:/tmp/o.jsonl', 'teams:https://x.example/SECRET']\n";
    let c = config(
        &format!(
            "{base}routes:\n  - {{name: vision, scope: {{tag: team=vision, subscription: a}}, events: [curfew.shutdown.pending], channels: [teams]}}\n  - {{name: rest, channels: [ops], continue: true}}\n"
        ),
        &[],
        Program::Cli,
    );
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].scope.tag.as_deref(), Some("team=vision"));
    assert!(c.routes[1].continue_);
    let p = problems(
        &format!(
            "{base}routes:\n  - {{name: a, channels: [fax], events: [curfew.nope]}}\n  - {{name: b, scope: {{team: x}}, channels: [ops]}}\n  - {{name: a, channels: [binding]}}\n"
        ),
        &[],
        Program::Cli,
    );
    let mut all: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert_eq!(all.len(), 5, "{all:#?}");
    assert_eq!(
        all.remove(0),
        "test: routes[1].scope.team: unknown field `team`, expected one of `subscription`, `resourceGroup`, `workspace`, `tag`, `owner`",
        "a rule that does not parse is named by its path, and hides no other rule's problems"
    );
    assert!(
        all[0].starts_with(
            "test: routes[0]: rule 'a': no channel is labelled 'fax' (channels: ops, teams)"
        ),
        "{all:#?}"
    );
    assert!(
        all[1].starts_with("test: routes[0]: rule 'a': 'curfew.nope' matches no event type"),
        "{all:#?}"
    );
    assert_eq!(
        all[2],
        "test: routes[2]: rule 'a': the name is used by an earlier rule"
    );
    assert!(
        all[3].contains("routes[2]: rule 'a': no channel is labelled 'binding'"),
        "{all:#?}"
    );
    assert!(!format!("{all:?}{c:?}").contains("SECRET"));
    // Under `curfew serve` the output binding is a channel rules may name.
    let s = config(
        &format!("{base}routes:\n  - {{name: audit, channels: [binding, ops]}}\n"),
        &[("CURFEW_ACTIVITY_KEY", "k".repeat(32))],
        Program::Serve,
    );
    assert_eq!(s.routes[0].channels, ["binding", "ops"]);
}

#[test]
fn email_settings_are_read_checked_and_never_shown() {
    let dir = scratch("email");
    std::fs::write(dir.join("ca.pem"), "PEM").unwrap();
    let yaml = "arm: {scopes: [/subscriptions/a]}\nnotify: [email, console]\nroutes:\n  - {name: owners, events: [curfew.shutdown.pending], channels: [email]}\n  - {name: rest, channels: [console]}\nemail:\n  owners: {OID-1: a@contoso.example}\n  directory: none\n";
    let c = config(
        yaml,
        &[
            ("CURFEW_SMTP_HOST", "smtp.azurecomm.net".into()),
            ("CURFEW_SMTP_USERNAME", "acs-user".into()),
            ("CURFEW_SMTP_PASSWORD", "SMTPSECRET".into()),
            (
                "CURFEW_EMAIL_FROM",
                "Curfew <curfew@contoso.example>".into(),
            ),
            (
                "CURFEW_SMTP_CA_FILE",
                dir.join("ca.pem").display().to_string(),
            ),
        ],
        Program::Cli,
    );
    let e = c.email.as_ref().expect("email settings");
    assert_eq!(e.smtp.port, 587);
    assert_eq!(e.smtp.security, curfew_notify::SmtpSecurity::StartTls);
    assert_eq!(e.smtp.ca_pem.as_deref(), Some("PEM"));
    assert_eq!(e.owners["OID-1"], "a@contoso.example");
    assert_eq!(e.graph, None);
    assert!(!format!("{c:?}").contains("SMTPSECRET"));
    // Every problem at once: no password, a bad sender, no TLS to a remote relay.
    let p = problems(
        "arm: {scopes: [/subscriptions/a]}\nnotify: [email]\n",
        &[
            ("CURFEW_SMTP_USERNAME", "u"),
            ("CURFEW_EMAIL_FROM", "not an address"),
            ("CURFEW_SMTP_SECURITY", "none"),
            ("CURFEW_SMTP_HOST", "smtp.office365.com"),
        ],
        Program::Cli,
    );
    let all: Vec<String> = p.iter().map(ToString::to_string).collect();
    let want = [
        "CURFEW_EMAIL_FROM: 'not an address' is not an address",
        "CURFEW_SMTP_SECURITY: `none` (no TLS) is allowed only for a relay on loopback, not smtp.office365.com",
        "CURFEW_SMTP_PASSWORD: SMTP AUTH needs the password too",
    ];
    assert_eq!(all.len(), want.len(), "{all:#?}");
    for w in want {
        assert!(all.iter().any(|a| a.contains(w)), "{w}\n{all:#?}");
    }
    let p = problems(
        "arm: {scopes: [/subscriptions/a]}\nnotify: [email]\n",
        &[],
        Program::Cli,
    );
    assert_eq!(
        settings_named(&p),
        [
            "email.smtpHost or CURFEW_SMTP_HOST",
            "email.from or CURFEW_EMAIL_FROM"
        ]
    );
}

/// Calendars are checked with the rest: every bad calendar is named together, inline JSON in
/// the variable or a mapping in the file (docs/calendars.md).
#[test]
fn every_bad_calendar_is_named_together() {
    let bad = r#"{"calendars": [{"name": "a", "dates": ["2026-02-30"]}, {"name": "b", "timeZone": "Mars/Base"}], "assignments": [{"calendar": "c", "scope": "tenant", "effect": "off"}]}"#;
    let scopes = ("CURFEW_SCOPES", "/subscriptions/s");
    let found = problems("", &[scopes, ("CURFEW_CALENDARS", bad)], Program::Cli);
    let text: Vec<String> = found.iter().map(|p| p.to_string()).collect();
    let text = text.join("\n");
    for needle in [
        "calendar \"a\"",
        "calendar \"b\"",
        "calendar \"c\"",
        "Mars/Base",
        "CURFEW_CALENDARS",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // The same set written in the settings file, as YAML.
    let yaml = "calendars:\n  calendars:\n    - name: a\n      dates: ['2026-02-30']\n";
    let found = problems(yaml, &[scopes], Program::Cli);
    assert!(
        found.iter().any(|p| p.to_string().contains("dates[0]")),
        "{found:?}"
    );
    let good = r#"{"calendars": [{"name": "nz", "yearly": ["12-25"]}]}"#;
    let c = config(
        "",
        &[
            ("CURFEW_SCOPES", "/subscriptions/s".into()),
            ("CURFEW_CALENDARS", good.into()),
        ],
        Program::Cli,
    );
    assert_eq!(c.calendars.calendars.len(), 1);
    assert_eq!(
        c.calendars.assignments[0].effect,
        curfew_engine::holiday::Effect::SkipStart
    );
}
