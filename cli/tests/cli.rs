//! The CLI contract of `curfew plan` and `curfew validate`, run as a user runs the binary.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn curfew(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curfew"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn curfew_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const WINDOW: [&str; 4] = [
    "--from",
    "2026-03-07T00:00:00Z",
    "--to",
    "2026-03-10T00:00:00Z",
];

fn plan_json(inventory: &str) -> Vec<Value> {
    let mut args = vec!["plan", "--inventory", inventory, "--format", "json"];
    args.extend(WINDOW);
    let out = curfew(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn plan_json_has_the_contract_fields_sorted_by_time() {
    let rows = plan_json("examples/fleet.json");
    assert!(rows.len() > 10);
    for r in &rows {
        for key in [
            "instance", "schedule", "action", "at", "local", "timeZone", "iana",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert!(r["at"].as_str().unwrap().ends_with('Z'));
        assert!(["Start", "Stop"].contains(&r["action"].as_str().unwrap()));
        let at = chrono::DateTime::parse_from_rfc3339(r["at"].as_str().unwrap()).unwrap();
        let local = chrono::DateTime::parse_from_rfc3339(r["local"].as_str().unwrap()).unwrap();
        assert_eq!(
            at, local,
            "local is the same instant with the zone's offset"
        );
        let from = chrono::DateTime::parse_from_rfc3339(WINDOW[1]).unwrap();
        let to = chrono::DateTime::parse_from_rfc3339(WINDOW[3]).unwrap();
        assert!(at >= from && at < to, "[from, to)");
    }
    let times: Vec<&str> = rows.iter().map(|r| r["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted by time");
    // The DST gap of 2026-03-08 in Seattle is noted and fires at the transition.
    let gap = rows
        .iter()
        .find(|r| r["instance"] == "gpu-seattle-night" && r["at"] == "2026-03-08T10:00:00Z")
        .expect("gap firing");
    assert_eq!(gap["shift"], "gap");
    assert_eq!(gap["local"], "2026-03-08T03:00:00-07:00");
    assert_eq!(gap["iana"], "America/Los_Angeles");
    assert!(gap["note"]
        .as_str()
        .unwrap()
        .contains("02:30 does not exist"));
    // Disabled schedules never fire; schedule indices count them.
    assert!(rows.iter().all(|r| r["instance"] != "cpu-london-paused"));
    let typo: Vec<&Value> = rows
        .iter()
        .filter(|r| r["instance"] == "gpu-typo")
        .collect();
    assert!(
        !typo.is_empty() && typo.iter().all(|r| r["schedule"] == 2),
        "bad schedules 0 and 1 are skipped, 2 still runs"
    );
}

#[test]
fn plan_reports_bad_schedules_on_stderr_and_skipped_computes() {
    let mut args = vec!["plan", "--inventory", "examples/fleet.json"];
    args.extend(WINDOW);
    let out = curfew(&args);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("error: instance 'gpu-typo' schedule 0: cron expression '0 25 * * *': hour 25 out of range 0-23"), "{err}");
    assert!(err.contains("skipped 1 compute(s) of type AKS"), "{err}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("DST gap"));
    assert!(stdout.lines().last().unwrap().ends_with("occurrence(s)"));
}

#[test]
fn plan_reads_stdin_yaml_and_every_input_shape() {
    let yaml = std::fs::read(root().join("testdata/sdk/create-instance.yml")).unwrap();
    let mut args = vec!["plan", "--inventory", "-", "--format", "json"];
    args.extend(WINDOW);
    let out = curfew_stdin(&args, &yaml);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 3, "one 18:00 Pacific stop per day");
    assert_eq!(rows[0]["instance"], "schedule-example-i");
    // A single compute resource, and a bare JSON array of computes.
    let single = plan_json("testdata/sdk/03_cron_1800_stop_pst.compute.json");
    assert_eq!(single.len(), 3);
    let fleet: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/fleet.json")).unwrap())
            .unwrap();
    let array = serde_json::to_vec(&fleet["value"]).unwrap();
    let mut args = vec!["plan", "--inventory", "-", "--format", "json"];
    args.extend(WINDOW);
    let out = curfew_stdin(&args, &array);
    let from_array: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_array, plan_json("examples/fleet.json"));
}

#[test]
fn validate_exit_codes_are_0_1_2() {
    let clean = curfew(&[
        "validate",
        "testdata/sdk/01_weekly_fri_1530_ist_start.compute.json",
    ]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));
    let bad = curfew(&[
        "validate",
        "examples/fleet.json",
        "--from",
        "2026-03-01T00:00:00Z",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let missing = curfew(&["validate", "no/such/file.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).starts_with("curfew: reading inventory 'no/such/file.json'"));
    let garbage = curfew_stdin(&["validate", "-"], b"{ this is not json");
    assert_eq!(garbage.status.code(), Some(2));
    let binary = curfew_stdin(&["validate", "-"], &[0xff, 0xfe, 0x00, 0x12]);
    assert_eq!(binary.status.code(), Some(2));
    for out in [&garbage, &binary] {
        let e = text(&out.stderr);
        assert!(
            !e.contains("panicked") && !e.contains("RUST_BACKTRACE"),
            "{e}"
        );
        assert_eq!(e.trim().lines().count(), 1, "one clear line: {e}");
    }
}

#[test]
fn validate_json_names_instance_schedule_field_and_severity() {
    let out = curfew(&[
        "validate",
        "examples/fleet.json",
        "--format",
        "json",
        "--from",
        "2026-03-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 2);
    assert_eq!(report["skipped"]["AKS"], 1);
    let problems = report["problems"].as_array().unwrap();
    let tz = problems
        .iter()
        .find(|p| p["field"] == "cron.timeZone")
        .unwrap();
    assert_eq!(tz["instance"], "gpu-typo");
    assert_eq!(tz["schedule"], 1);
    assert_eq!(tz["severity"], "error");
    let conflict = problems
        .iter()
        .find(|p| p["severity"] == "warning")
        .unwrap();
    assert_eq!(conflict["instance"], "gpu-seattle-night");
    assert!(conflict["message"].as_str().unwrap().contains("Stop wins"));
}

#[test]
fn bad_arguments_are_one_clear_line_and_exit_2() {
    let out = curfew(&[
        "plan",
        "--inventory",
        "examples/fleet.json",
        "--from",
        "yesterday",
        "--to",
        "2026-03-10T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "curfew: --from 'yesterday' is not an RFC 3339 date-time such as 2026-03-08T00:00:00Z"
    );
}

#[test]
fn version_names_the_zone_data() {
    let out = curfew(&["--version"]);
    let v = text(&out.stdout);
    assert!(
        v.contains("IANA tzdb 2026f") && v.contains("CLDR 48.2.0"),
        "{v}"
    );
}

#[test]
fn validate_checks_policy_files_by_json_path() {
    let dir = std::env::temp_dir().join(format!("curfew-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad-policy.json");
    std::fs::write(
        &bad,
        r#"{"if": {"allOf": [{"field": "type", "equals": "x"}, {"field": "Microsoft.MachineLearningServices/workspaces/computes/noSuchAlias", "exists": "false"}]}, "then": {"effect": "audit"}}"#,
    )
    .unwrap();
    let good = "testdata/policies/default-stop-schedule-2200-pst.json";
    let ok = curfew(&[
        "validate",
        "testdata/sdk/03_cron_1800_stop_pst.compute.json",
        "--policy",
        good,
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    let out = curfew(&[
        "validate",
        "testdata/sdk/03_cron_1800_stop_pst.compute.json",
        "--policy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("if.allOf[1].field"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_config_reports_every_bad_setting_of_the_file_and_the_environment() {
    let dir = std::env::temp_dir().join(format!("curfew-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("curfew.yaml");
    std::fs::write(
        &bad,
        "arm:\n  scopes: [/subscriptions/ok, /not/a/scope]\n  credential: kerberos\n",
    )
    .unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, "arm: {scopes: [/subscriptions/s]}\n").unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_curfew"));
        c.args(args).current_dir(root()).env_remove("CURFEW_CONFIG");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(
        &["validate", "--config", bad.to_str().unwrap()],
        &[("CURFEW_ARM_READS_PER_SECOND", "fast")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "arm.scopes[1]: '/not/a/scope' is not a subscription, resource group or workspace id",
        "arm.credential: 'kerberos' is not one of auto, managed-identity",
        "CURFEW_ARM_READS_PER_SECOND=\"fast\" (expected a number of requests per second)",
        "with the environment: 3 problem(s)",
    ] {
        assert!(stdout.contains(needle), "{needle}\n{stdout}");
    }
    let json = run(
        &[
            "validate",
            "--config",
            bad.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["errors"], 2);
    let settings: Vec<&str> = report["configProblems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["setting"].as_str().unwrap())
        .collect();
    assert_eq!(settings, ["arm.scopes[1]", "arm.credential"]);
    let clean = run(&["validate", "--config", good.to_str().unwrap()], &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));
    let with_inventory = run(
        &[
            "validate",
            "testdata/sdk/01_weekly_fri_1530_ist_start.compute.json",
            "--config",
            good.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(with_inventory.status.code(), Some(0));
    let missing = run(&["validate", "--config", "no/such/curfew.yaml"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        text(&missing.stderr).trim(),
        "curfew: reading config 'no/such/curfew.yaml': No such file or directory (os error 2)"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_config_names_every_bad_routing_rule_without_secrets() {
    let dir = std::env::temp_dir().join(format!("curfew-cli-routes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("curfew.yaml");
    std::fs::write(
        &bad,
        "arm: {scopes: [/subscriptions/s]}\n\
         notify: ['ops@teams:https://contoso.example/webhook/ROUTESECRET']\n\
         routes:\n\
         \x20 - {name: failures, events: [curfew.action.fail], channels: [ops]}\n\
         \x20 - {name: team, scope: {tags: x}, channels: [ops]}\n\
         \x20 - {name: owners, scope: {owner: '*'}, channels: [email]}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .args(["validate", "--config", bad.to_str().unwrap()])
        .current_dir(root())
        .env_remove("CURFEW_CONFIG")
        .env_remove("CURFEW_NOTIFY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "routes[0]: rule 'failures': 'curfew.action.fail' matches no event type",
        "routes[1].scope.tags: unknown field `tags`",
        "routes[2]: rule 'owners': no channel is labelled 'email' (channels: ops)",
        "with the environment: 3 problem(s)",
    ] {
        assert!(stdout.contains(needle), "{needle}\n{stdout}");
    }
    assert!(!stdout.contains("ROUTESECRET"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}
