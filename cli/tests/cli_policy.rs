//! `curfew policy check` over fixture computes with the three fixture policies (verbatim):
//! what each policy appends or audits, and why; exemptions; scopes; exit codes.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

fn fixture_body(rel: &str) -> Value {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(testdata(rel)).unwrap()).unwrap();
    v["responses"]["200"]["body"].clone()
}

fn policies() -> Vec<String> {
    [
        "default-stop-schedule-2200-pst.json",
        "idle-shutdown-default-pt60m.json",
        "audit-outdated-os-image.json",
    ]
    .iter()
    .map(|f| testdata(&format!("policies/{f}")).display().to_string())
    .collect()
}

/// The ARM get fixture (no schedules, no idle time, outdated OS image), the SDK body (idle
/// PT30M, no type: the check adds it), an exempt copy, and the AKS compute of the list fixture.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-cli-policy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let get = fixture_body("arm/2025-12-01_Compute_get_ComputeInstance.json");
    let mut sdk: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("sdk/07_idle_30min_docs_string.compute.json")).unwrap(),
    )
    .unwrap();
    sdk["name"] = json!("ci-sdk");
    let mut exempt = get.clone();
    exempt["name"] = json!("ci-exempt");
    exempt["id"] = json!(get["id"]
        .as_str()
        .unwrap()
        .replace("compute123", "ci-exempt"));
    exempt["tags"] = json!({"curfew:exempt-until": "2026-03-31"});
    let mut aks = fixture_body("arm/2025-09-01_Compute_list.json")["value"][0].clone();
    aks["name"] = json!("aks-1");
    std::fs::write(
        dir.join("fleet.json"),
        serde_json::to_string_pretty(&json!([get, sdk, exempt, aks])).unwrap(),
    )
    .unwrap();
    dir
}

fn check(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(dir)
        .args([
            "policy",
            "check",
            "--inventory",
            "fleet.json",
            "--today",
            "2026-03-02",
            "--policy",
        ])
        .args(policies())
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn text_names_what_each_policy_does_and_why() {
    let dir = scratch("text");
    let out = check(&dir, &[]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{t}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // compute123: both appends and the audit, each with its deciding condition.
    assert!(t.contains("default-stop-schedule-2200-pst: matches (append); decided by allOf[1]: field 'Microsoft.MachineLearningServices/workspaces/computes/schedules' exists false — holds: the instance has no value there"), "{t}");
    assert!(
        t.contains(
            "appends properties.properties.schedules = {\"computeStartStop\":[{\"action\":\"Stop\""
        ),
        "{t}"
    );
    assert!(
        t.contains("appends properties.properties.idleTimeBeforeShutdown = \"PT60M\""),
        "{t}"
    );
    assert!(t.contains("audit [audit-outdated-os-image] audit-outdated-os-image: allOf[2]: field 'Microsoft.MachineLearningServices/workspaces/computes/osImageMetadata.isLatestOsImageVersion' equals 'false' — holds: the instance has false"), "{t}");
    // ci-sdk has its own idle time: the idle policy does not match, and says why.
    assert!(
        t.contains("idle-shutdown-default-pt60m: does not match; decided by allOf[2].anyOf[1]"),
        "{t}"
    );
    // The exempt copy, and the AKS compute that no policy targets.
    assert!(
        t.contains(
            "exempt by tag curfew:exempt-until until 2026-03-31 (inclusive)\n  no policy applies"
        ),
        "{t}"
    );
    assert!(t.contains("default-stop-schedule-2200-pst: does not match; decided by allOf[0]: field 'Microsoft.MachineLearningServices/workspaces/computes/computeType' equals 'ComputeInstance' — does not hold: the instance has 'AKS'"), "{t}");
    assert!(t.ends_with("4 compute(s), 3 policy(ies): 4 match(es), 3 value(s) supplied, 1 audit finding(s), 1 exempt, 0 error(s)\n"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_carries_the_assessments() {
    let dir = scratch("json");
    let out = check(&dir, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_str(&text(&out)).unwrap();
    assert_eq!(
        v["summary"],
        json!({"computes": 4, "policies": 3, "matches": 4, "supplied": 3, "findings": 1, "exempt": 1, "errors": 0})
    );
    assert_eq!(v["policies"][1]["policy"], "idle-shutdown-default-pt60m");
    assert_eq!(v["policies"][1]["effect"], "append");
    let c = &v["computes"][0];
    assert_eq!(c["name"], "compute123");
    let supplied = c["assessment"]["supplied"].as_array().unwrap();
    let idle = supplied
        .iter()
        .find(|s| s["target"]["kind"] == "idleTimeBeforeShutdown")
        .unwrap();
    assert_eq!(idle["value"], "PT60M");
    assert_eq!(idle["assignment"], "idle-shutdown-default-pt60m");
    assert_eq!(
        c["assessment"]["findings"][0]["policy"],
        "audit-outdated-os-image"
    );
    assert_eq!(
        v["computes"][2]["assessment"]["exemption"]["status"],
        "exempt"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_expired_exemption_lets_the_policies_apply() {
    let dir = scratch("expired");
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args([
            "policy",
            "check",
            "--inventory",
            "fleet.json",
            "--today",
            "2026-04-01",
            "--format",
            "json",
            "--policy",
        ])
        .args(policies())
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&text(&out)).unwrap();
    let exempt = &v["computes"][2]["assessment"];
    assert_eq!(exempt["exemption"]["status"], "expired");
    assert_eq!(exempt["supplied"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scope_elsewhere_applies_nothing() {
    let dir = scratch("scope");
    let out = check(
        &dir,
        &[
            "--scope",
            "/subscriptions/00000000-1111-2222-3333-444444444444",
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // compute123 has an id in another subscription; ci-sdk has no id (tenant scope only).
    assert!(t.contains("compute123 (/subscriptions/34adfa4f"), "{t}");
    assert_eq!(t.matches("  no policy in scope").count(), 3, "{t}");
    let out = check(&dir, &["--scope", "subscriptions/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with '/'"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_policy_is_reported_by_json_path_and_exits_1() {
    let dir = scratch("broken");
    std::fs::write(
        dir.join("broken.json"),
        r#"{"if": {"allOf": [{"field": "Microsoft.MachineLearningServices/workspaces/computes/schedule", "exists": false},
                               {"field": "name", "equal": "x"}]},
            "then": {"effect": "deny"}}"#,
    )
    .unwrap();
    let out = check(&dir, &["broken.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("error: broken.json: if.allOf[0].field: unknown alias 'Microsoft.MachineLearningServices/workspaces/computes/schedule'"), "{t}");
    assert!(
        t.contains(
            "error: broken.json: if.allOf[1].equal: unknown or unsupported operator 'equal'"
        ),
        "{t}"
    );
    assert!(
        t.contains("error: broken.json: then.effect: unknown or unsupported effect 'deny'"),
        "{t}"
    );
    // The good policies were still checked.
    assert!(t.contains("3 policy(ies)"), "{t}");
    let out = check(&dir, &["missing.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading policy 'missing.json'"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_yaml_inventories_are_checked_too() {
    let dir = scratch("yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args(["policy", "check", "--today", "2026-03-02", "--inventory"])
        .arg(testdata("sdk/create-instance.yml"))
        .arg("--policy")
        .args(policies())
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // It has a schedule, so no default stop; no idle time, so the default idle applies.
    assert!(t.starts_with("schedule-example-i\n"), "{t}");
    assert!(
        t.contains("default-stop-schedule-2200-pst: does not match"),
        "{t}"
    );
    assert!(
        t.contains("appends properties.properties.idleTimeBeforeShutdown = \"PT60M\""),
        "{t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A policy expression nested thousands deep used to overflow the stack and abort the process
/// (SIGABRT, no message); now it is a named problem of that policy.
#[test]
fn a_deeply_nested_policy_expression_is_a_named_error_not_an_abort() {
    let dir = scratch("deep-policy");
    let n = 5_000;
    let value = format!("[{}true(){}]", "not(".repeat(n), ")".repeat(n));
    let policy = json!({"if": {"value": value, "equals": true}, "then": {"effect": "audit"}});
    std::fs::write(dir.join("deep.json"), policy.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args([
            "policy",
            "check",
            "--inventory",
            "fleet.json",
            "--policy",
            "deep.json",
        ])
        .args(["--today", "2026-03-02"])
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.code().is_some(), "killed by a signal: {all}");
    assert!(all.contains("nested deeper than 64 levels"), "{all}");
}

/// Deeply nested YAML (libyaml's work grows with the square of the nesting) is refused
/// before parsing, with the line.
#[test]
fn deeply_nested_yaml_inventory_is_refused_before_parsing() {
    let dir = scratch("deep-yaml");
    let yaml = format!(
        "name: ci-1\nschedules: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(dir.join("deep.yaml"), yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args(["validate", "deep.yaml"])
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("YAML nested deeper than 64 levels at line 2"),
        "{all}"
    );
}
