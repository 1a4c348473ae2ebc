//! The pieces of the Functions app agree: function folders, routes, binding names, host.json,
//! queues/topics/app settings in `infra/`, and the packaging script. No Bicep compiler runs on
//! the build machine, so `infra/` is checked textually.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// All Bicep text under `infra/`.
fn infra() -> String {
    let mut out = String::new();
    let mut dirs = vec![repo().join("infra")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "bicep") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// Function folders that hold a `function.json`.
fn folders() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.join("function.json")
                .exists()
                .then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect()
}

fn bindings(function: &str) -> Vec<Value> {
    json(&format!("functions/{function}/function.json"))["bindings"]
        .as_array()
        .unwrap()
        .clone()
}

/// The quoted strings of the `fn name(self)` match in the router: the routes.
fn routes() -> BTreeSet<String> {
    let src = read("handler/src/functions/app.rs");
    let start = src
        .find("pub(crate) fn name(self)")
        .expect("Function::name in app.rs");
    let body = &src[start..];
    let body = &body[..body.find("\n    }\n").unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `pub(crate) const NAME: &str = "value";` in a source file.
fn str_const(src: &str, name: &str) -> String {
    let needle = format!("const {name}: &str = \"");
    let at = src.find(&needle).unwrap_or_else(|| panic!("const {name}")) + needle.len();
    src[at..src[at..].find('"').unwrap() + at].to_owned()
}

/// App settings Curfew reads (the `SetBy::App` entries of the one settings table,
/// `curfew_governor::config::SETTINGS`).
fn handler_app_settings() -> Vec<String> {
    use curfew_governor::config::{SetBy, SETTINGS};
    SETTINGS
        .iter()
        .filter(|s| s.origin == SetBy::App)
        .map(|s| s.env.expect("an app setting is a variable").to_owned())
        .collect()
}

#[test]
fn every_function_folder_has_a_route_and_every_route_a_folder() {
    let folders = folders();
    let routes = routes();
    assert_eq!(
        folders, routes,
        "functions/<Name>/ folders vs Function::name() in app.rs"
    );
    assert_eq!(folders.len(), 8, "{folders:?}");
}

#[test]
fn binding_names_match_the_handler() {
    let app = read("handler/src/functions/app.rs");
    let c = |n: &str| str_const(&app, n);
    let expect: [(&str, &str, Vec<String>); 7] = [
        (
            "Tick",
            "timerTrigger",
            vec![c("TIMER"), c("EVALUATE_OUT"), c("EVENTS_OUT")],
        ),
        (
            "Evaluate",
            "serviceBusTrigger",
            vec![c("MESSAGE"), c("EVENTS_OUT")],
        ),
        (
            "Dismissals",
            "serviceBusTrigger",
            vec![c("MESSAGE"), c("EVENTS_OUT")],
        ),
        (
            "Activity",
            "serviceBusTrigger",
            vec![c("MESSAGE"), c("EVENTS_OUT")],
        ),
        (
            "Dismiss",
            "httpTrigger",
            vec![c("REQ"), c("RES"), c("EVENTS_OUT")],
        ),
        ("Status", "httpTrigger", vec![c("REQ"), c("RES")]),
        ("Schedules", "httpTrigger", vec![c("REQ"), c("RES")]),
    ];
    for (function, trigger, names) in expect {
        let b = bindings(function);
        let got: Vec<String> = b
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, names, "{function}: binding names");
        assert_eq!(b[0]["type"], trigger, "{function}: trigger type");
        assert_eq!(b[0]["direction"], "in");
        assert!(
            b[1..].iter().all(|b| b["direction"] == "out"),
            "{function}: outputs"
        );
    }
    assert_eq!(
        bindings("Tick")[0]["schedule"],
        "0 * * * * *",
        "every minute, seconds first"
    );
    assert_eq!(
        bindings("Dismiss")[0]["authLevel"],
        "anonymous",
        "links carry their own token"
    );
    assert_eq!(
        bindings("Dismiss")[0]["methods"],
        serde_json::json!(["get", "post"])
    );
    // Owners reach their page without a function key (a signed link, or App Service
    // Authentication); the fleet-wide views answer admins only (docs/functions.md).
    assert_eq!(bindings("Status")[0]["authLevel"], "anonymous");
    assert_eq!(
        bindings("Status")[0]["methods"],
        serde_json::json!(["get", "post"])
    );
    // The caller is App Service Authentication's signed-in principal (infra/main.bicep
    // requires sign-in on this route), not a function key.
    assert_eq!(bindings("Schedules")[0]["authLevel"], "anonymous");
    assert_eq!(
        bindings("Schedules")[0]["methods"],
        serde_json::json!(["get", "put", "delete", "post"])
    );
}

#[test]
fn every_queue_topic_and_connection_is_declared_in_infra() {
    let infra = infra();
    let mut checked = 0;
    for f in folders() {
        for b in bindings(&f) {
            for key in ["queueName", "topicName"] {
                if let Some(name) = b[key].as_str() {
                    assert!(
                        !name.contains('%'),
                        "{f}: literal entity names only ({name})"
                    );
                    assert!(
                        infra.contains(&format!("'{name}'")),
                        "{f}: {key} {name} is not declared in infra/"
                    );
                    checked += 1;
                }
            }
            if let Some(conn) = b["connection"].as_str() {
                for part in ["fullyQualifiedNamespace", "credential", "clientId"] {
                    let setting = format!("'{conn}__{part}'");
                    assert!(
                        infra.contains(&setting),
                        "{f}: app setting {setting} missing in infra/"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn every_app_setting_the_handler_reads_is_declared_in_infra_and_the_local_example() {
    let infra = infra();
    let local = json("local.settings.json.example");
    let settings = handler_app_settings();
    assert!(settings.len() >= 8, "{settings:?}");
    for s in &settings {
        assert!(
            infra.contains(&format!("name: '{s}'")),
            "app setting {s} is not declared in infra/main.bicep"
        );
        assert!(
            local["Values"].get(s).is_some(),
            "{s} missing from local.settings.json.example"
        );
    }
    for host_setting in [
        "AzureWebJobsStorage__accountName",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    ] {
        assert!(
            infra.contains(&format!("name: '{host_setting}'")),
            "{host_setting}"
        );
    }
    assert_eq!(local["Values"]["FUNCTIONS_WORKER_RUNTIME"], "custom");
}

#[test]
fn host_json_runs_the_custom_handler() {
    let host = json("host.json");
    assert_eq!(host["version"], "2.0");
    let ch = &host["customHandler"];
    assert_eq!(ch["description"]["defaultExecutablePath"], "curfew");
    assert_eq!(ch["description"]["arguments"], serde_json::json!(["serve"]));
    assert_eq!(ch["enableForwardingHttpRequest"], false);
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert!(host["extensions"]["serviceBus"].is_object());
}

#[test]
fn the_custom_role_has_exactly_the_compute_actions() {
    let role = read("infra/modules/compute-role.bicep");
    let actions: BTreeSet<&str> = role
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("'Microsoft.MachineLearningServices/"))
        .map(|l| l.trim_matches('\''))
        .collect();
    let expected: BTreeSet<&str> = [
        "Microsoft.MachineLearningServices/workspaces/read",
        "Microsoft.MachineLearningServices/workspaces/computes/read",
        "Microsoft.MachineLearningServices/workspaces/computes/start/action",
        "Microsoft.MachineLearningServices/workspaces/computes/stop/action",
        "Microsoft.MachineLearningServices/workspaces/computes/restart/action",
        "Microsoft.MachineLearningServices/workspaces/computes/updateIdleShutdownSetting/action",
    ]
    .into();
    assert_eq!(actions, expected);
    assert!(!role.contains('*'), "no wildcards in the custom role");
    let main = infra();
    for role in [
        "storageTableDataContributor",
        "serviceBusDataReceiver",
        "serviceBusDataSender",
        "keyVaultSecretsUser",
    ] {
        assert!(
            main.contains(&format!("roles.{role})")),
            "role assignment {role}"
        );
    }
}

#[test]
fn packaging_ships_host_json_the_binary_and_every_function_folder() {
    let script = read("scripts/package.sh");
    for needle in [
        "host.json",
        "functions/",
        "--release -p curfew",
        "x86_64-unknown-linux",
        "curfew-app.zip",
    ] {
        assert!(
            script.contains(needle),
            "scripts/package.sh should mention {needle}"
        );
    }
}

/// The function app is created only once its identity's role assignments exist: otherwise the
/// platform resolves its Key Vault references before it may read the vault, and passes the
/// reference's text through as the key. Both signing keys come from Key Vault, and the
/// activity key is generated there by the deployment.
#[test]
fn the_app_waits_for_its_role_assignments_and_reads_its_keys_from_key_vault() {
    let main = read("infra/main.bicep");
    let assignments: Vec<&str> = main
        .lines()
        .filter_map(|l| l.strip_prefix("resource "))
        .filter(|l| l.contains("'Microsoft.Authorization/roleAssignments@"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(assignments.len() >= 6, "{assignments:?}");
    let app = &main[main
        .find("resource app 'Microsoft.Web/sites@")
        .expect("the app")..];
    let app = &app[..app.find("\n}\n").expect("end of the app")];
    let depends = &app[app.find("dependsOn: [").expect("dependsOn")..];
    let depends = &depends[..depends.find(']').unwrap()];
    for a in &assignments {
        assert!(
            depends.split_whitespace().any(|d| d == *a),
            "the app must depend on role assignment {a}: {depends}"
        );
    }
    for (setting, secret) in [
        ("CURFEW_LINK_KEY", "linkKeySecret"),
        ("CURFEW_ACTIVITY_KEY", "activityKeySecret"),
    ] {
        assert!(
            app.contains(&format!(
                "{{ name: '{setting}', value: '@Microsoft.KeyVault(SecretUri=${{{secret}.properties.secretUri}})' }}"
            )),
            "{setting} from Key Vault secret {secret}"
        );
    }
    let secret = &main[main
        .find("resource activityKeySecret 'Microsoft.KeyVault/vaults/secrets@")
        .expect("the activity key's secret")..];
    assert!(secret.contains("value: activityKey"), "{secret}");
    assert!(
        main.contains("param activityKey string = '${newGuid()}${newGuid()}'"),
        "generated by the deployment unless given"
    );
}

/// The value after the first `key:` in `block`, to the end of its line, quotes trimmed: the
/// multi-line Bicep objects of the app declare one field a line.
fn bicep_field<'a>(block: &'a str, key: &str) -> &'a str {
    let at = block
        .find(&format!("{key}:"))
        .unwrap_or_else(|| panic!("{key} is not declared: {block}"));
    let rest = &block[at + key.len() + 1..];
    let end = rest.find('\n').expect("end of the field's value");
    rest[..end].trim().trim_matches('\'')
}

/// Flex Consumption specifics: the custom handler runtime, a deployment package in a blob
/// container read with the app's identity, instance memory and the scale-out ceiling. A Flex
/// app without them is refused by ARM or runs something else.
#[test]
fn the_app_is_a_flex_consumption_custom_handler_with_identity_deployment_storage() {
    let main = read("infra/main.bicep");
    let plan = &main[main
        .find("resource plan 'Microsoft.Web/serverfarms@")
        .expect("the plan")..];
    assert!(
        plan[..plan.find("\n}\n").unwrap()]
            .contains("sku: { name: 'FC1', tier: 'FlexConsumption' }"),
        "a Flex Consumption plan"
    );
    let app = &main[main
        .find("resource app 'Microsoft.Web/sites@")
        .expect("the app")..];
    let app = &app[..app.find("\n}\n").expect("end of the app")];
    let config = &app[app.find("functionAppConfig: {").expect("functionAppConfig")..];
    assert!(
        config.contains("runtime: { name: 'custom', version: '1.0' }"),
        "runtime custom 1.0: {config}"
    );

    let storage = &config[config.find("deployment: {").expect("deployment")..];
    assert_eq!(bicep_field(storage, "type"), "blobContainer");
    let container = main
        .lines()
        .find_map(|l| l.strip_prefix("var deploymentContainer = "))
        .expect("var deploymentContainer")
        .trim_matches('\'');
    assert!(!container.is_empty());
    assert_eq!(
        bicep_field(storage, "value"),
        "${storage.properties.primaryEndpoints.blob}${deploymentContainer}"
    );
    assert!(
        main.contains(
            "resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@"
        ) && main.contains("name: deploymentContainer"),
        "the deployment container is created"
    );
    let auth = &storage[storage.find("authentication: {").expect("authentication")..];
    assert_eq!(bicep_field(auth, "type"), "UserAssignedIdentity");
    assert_eq!(
        bicep_field(auth, "userAssignedIdentityResourceId"),
        "identity.id"
    );

    let scale = &config[config
        .find("scaleAndConcurrency: {")
        .expect("scaleAndConcurrency")..];
    let memory: u32 = bicep_field(scale, "instanceMemoryMB")
        .parse()
        .expect("a literal instanceMemoryMB");
    assert!(
        [512, 2048, 4096].contains(&memory),
        "instanceMemoryMB {memory} is not a Flex Consumption size"
    );
    assert_eq!(
        bicep_field(scale, "maximumInstanceCount"),
        "maximumInstanceCount"
    );
    let max: u32 = main
        .lines()
        .find_map(|l| l.strip_prefix("param maximumInstanceCount int = "))
        .expect("param maximumInstanceCount with a default")
        .trim()
        .parse()
        .expect("a whole number");
    assert!(
        (1..=1000).contains(&max),
        "maximumInstanceCount default {max}: Flex Consumption allows at most 1000"
    );
}

/// Issue 11: deployed, every piece of state is in the table: `infra/main.bicep` points the app
/// at Table Storage and sets no local path for state (no SQLite file, no cost-timeline file).
#[test]
fn the_deployment_keeps_no_state_on_local_disk() {
    let bicep = read("infra/main.bicep");
    assert!(
        bicep.contains("'CURFEW_TABLE_ENDPOINT'"),
        "state in the table"
    );
    for local in ["CURFEW_SQLITE", "CURFEW_COST_TIMELINE", "CURFEW_CONFIG"] {
        assert!(
            !bicep.contains(&format!("'{local}'")),
            "infra/main.bicep sets {local}: a local path for state"
        );
    }
}
