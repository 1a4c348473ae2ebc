//! Overrides end to end (issue 12): `curfew schedule get|set|clear` as a real process against
//! the ARM simulator and a SQLite file, and the `Schedules` function through the built
//! `curfew serve` as the Functions host drives it. Strangers are refused (and audited), every
//! problem of a bad body is named, an expiry hands the instance back to its native schedules,
//! the tick honours the override, and the audit trail holds who changed what, before and after.
//! Adopt too, through the CLI and through `Schedules?action=adopt` (dry run, the adoption record
//! `explain` shows, the caveat until the simulator's native stop is disabled), and the tick's
//! prune of an expired override at its minute; the Functions day also runs on Azurite's Table
//! Storage when `CURFEW_AZURITE_TABLE_ENDPOINT` is set (`.ci/azurite.sh cargo test -p curfew
//! --test schedules_e2e`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use armsim::{SimFleet, WorkspacePath};
use curfew_store::StateStore;
use serde_json::{json, Value};

mod host;
use host::{Handler, Sim};

const SUB: &str = "00000000-0000-0000-0000-0000000000e3";
const OWNER: &str = "11111111-2222-3333-4444-555555555555";
const ADMIN: &str = "aaaaaaaa-2222-3333-4444-555555555555";
const STRANGER: &str = "99999999-2222-3333-4444-555555555555";
const DAY: &str = "2026-03-09";

fn ws() -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-e2e".into(),
        workspace: "ws-a".into(),
    }
}

fn at(hm: &str) -> String {
    format!("{DAY}T{hm}:00Z")
}

fn fleet() -> SimFleet {
    let items = json!([{
        "id": ws().compute_id("ci-keep"),
        "name": "ci-keep",
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "state": "Running",
                "personalComputeInstanceSettings": {"assignedUser": {"objectId": OWNER, "tenantId": SUB}},
                "schedules": {"computeStartStop": [{
                    "action": "Stop", "status": "Enabled", "triggerType": "Cron",
                    "cron": {"expression": "0 18 * * *", "timeZone": "UTC"}
                }]}
            }
        }
    }]);
    SimFleet::from_json(items, &ws()).expect("fleet")
}

fn tmp(name: &str) -> PathBuf {
    host::tmp_dir("schedules-e2e", name)
}

fn stop_at(cron: &str) -> Value {
    json!({"action": "Stop", "status": "Enabled", "triggerType": "Cron",
           "cron": {"expression": cron, "timeZone": "UTC"}})
}

/// Every audit record of the store, oldest first.
fn audit(sqlite: &Path) -> Vec<curfew_store::AuditRecord> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = curfew_store::SqliteStore::open(sqlite).await.unwrap();
        s.audit_between(
            "2000-01-01T00:00:00Z".parse().unwrap(),
            "2100-01-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap()
    })
}

fn of_kind<'a>(
    a: &'a [curfew_store::AuditRecord],
    kind: &str,
) -> Vec<&'a curfew_store::AuditRecord> {
    a.iter().filter(|r| r.kind == kind).collect()
}

struct Cli {
    config: PathBuf,
}

impl Cli {
    fn new(dir: &Path, sim: &Sim, sqlite: &Path) -> Cli {
        let config = dir.join("curfew.yaml");
        std::fs::write(
            &config,
            format!(
                "deployment: e2e\n\
                 arm:\n  endpoint: {}\n  scopes: [/subscriptions/{SUB}]\n  credential: token-env:CURFEW_E2E_ARM_TOKEN\n\
                 store:\n  sqlite: {}\n",
                sim.base_url,
                sqlite.display()
            ),
        )
        .unwrap();
        Cli { config }
    }

    /// Runs `curfew ARGS --config F`: (exit code, stdout).
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
            .args(args)
            .args(["--config", &self.config.display().to_string()])
            .env("CURFEW_E2E_ARM_TOKEN", "simulator")
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .expect("curfew");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let (code, out) = self.run(&all);
        let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        (code, v)
    }
}

fn sources(explained: &Value) -> Vec<String> {
    explained["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["source"].as_str().unwrap(),
                s["trigger"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_cli_sets_validates_expires_and_clears_an_override_with_an_audit_trail() {
    let sim = Sim::start(fleet());
    let dir = tmp("cli");
    let sqlite = dir.join("state.sqlite");
    let cli = Cli::new(&dir, &sim, &sqlite);
    let now = at("12:00");

    // Nothing yet.
    let (code, out) = cli.json(&["schedule", "get", "ci-keep", "--now", &now]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["current"], Value::Null, "{out}");

    // A bad body: refused, every problem named, nothing stored.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        json!([stop_at("0 20 * * *"), stop_at("61 25 * * *"), {"action": "Jump", "triggerType": "Cron"}])
            .to_string(),
    )
    .unwrap();
    let (code, out) = cli.run(&[
        "schedule",
        "set",
        "ci-keep",
        "--file",
        &bad.display().to_string(),
        "--now",
        &now,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("instance 'ci-keep', schedule 1, field 'cron.expression'"),
        "{out}"
    );
    assert!(out.contains("instance 'ci-keep', schedule 2"), "{out}");
    assert!(!out.contains("schedule 0"), "{out}");

    // A good one, until 22:00: the explanation and the tick use it.
    let good = dir.join("good.json");
    std::fs::write(&good, json!([stop_at("0 20 * * *")]).to_string()).unwrap();
    let (code, out) = cli.json(&[
        "schedule",
        "set",
        "ci-keep",
        "--file",
        &good.display().to_string(),
        "--expires",
        &at("22:00"),
        "--now",
        &now,
        "--by",
        "ops-alice",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["current"]["expires"], at("22:00"), "{out}");
    // A clear conditional on another version (or on there being none) is refused, exit 1,
    // and changes nothing; `get` takes no precondition (exit 2).
    let version = out["version"].as_str().expect("version").to_owned();
    for other in ["99999", "none"] {
        let (code, out) = cli.run(&[
            "schedule",
            "clear",
            "ci-keep",
            "--if-version",
            other,
            "--now",
            &now,
        ]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("changed since it was read"), "{out}");
    }
    let (code, out) = cli.run(&["schedule", "get", "ci-keep", "--if-version", &version]);
    assert_eq!(code, 2, "{out}");
    let (_, out) = cli.json(&["schedule", "get", "ci-keep", "--now", &now]);
    assert_eq!(out["version"], version.as_str(), "unchanged: {out}");
    let (code, explained) = cli.json(&["explain", "ci-keep", "--now", &at("17:00")]);
    assert_eq!(code, 0, "{explained}");
    assert_eq!(
        sources(&explained),
        ["override Cron 0 20 * * *"],
        "{explained}"
    );
    let (code, out) = cli.run(&["tick", "--now", &at("18:00")]);
    assert_eq!(code, 0, "{out}");
    let state = |sim: &Sim| {
        sim.state.compute(&ws().compute_id("ci-keep")).unwrap()["properties"]["properties"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        state(&sim),
        "Running",
        "the native 18:00 stop is overridden"
    );

    // After the expiry the native schedule is back.
    let (_, explained) = cli.json(&["explain", "ci-keep", "--now", &at("22:00")]);
    assert_eq!(
        sources(&explained),
        ["native Cron 0 18 * * *"],
        "{explained}"
    );

    // Clear; an unknown instance is refused; bad arguments are exit 2.
    let (code, out) = cli.json(&["schedule", "clear", "ci-keep", "--now", &at("12:30")]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli.json(&["schedule", "get", "ci-keep", "--now", &at("12:31")]);
    assert_eq!((code, &out["current"]), (0, &Value::Null), "{out}");
    let (code, out) = cli.run(&["schedule", "get", "nope", "--now", &now]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = cli.run(&["schedule", "set", "ci-keep"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = cli.run(&["schedule", "frob", "ci-keep"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = cli.run(&[
        "schedule",
        "set",
        "ci-keep",
        "--file",
        &good.display().to_string(),
        "--expires",
        "friday",
    ]);
    assert_eq!(code, 2, "{out}");

    // Set again until 22:00: a tick before the expiry keeps it, the tick at 22:00 removes it
    // (audited) and the native schedule is back.
    let (code, out) = cli.run(&[
        "schedule",
        "set",
        "ci-keep",
        "--file",
        &good.display().to_string(),
        "--expires",
        &at("22:00"),
        "--now",
        &at("12:40"),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli.run(&["tick", "--now", &at("21:59")]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("expired:"), "{out}");
    let (code, out) = cli.run(&["tick", "--dry-run", "--now", &at("22:00")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("expired:"),
        "a dry run removes nothing: {out}"
    );
    let (code, out) = cli.run(&["tick", "--now", &at("22:00")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("expired: ci-keep: override expired at 2026-03-09T22:00:00+00:00, removed"),
        "{out}"
    );
    let (_, got) = cli.json(&["schedule", "get", "ci-keep", "--now", &at("22:01")]);
    assert_eq!(got["current"], Value::Null, "{got}");
    let (code, out) = cli.run(&["tick", "--now", &at("22:01")]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("expired:"), "pruned once: {out}");

    // The trail: who, before and after.
    let trail = audit(&sqlite);
    let expired = of_kind(&trail, "override.expired");
    assert_eq!(expired.len(), 1, "{trail:?}");
    assert_eq!(expired[0].details["before"]["expires"], at("22:00"));
    assert_eq!(expired[0].details["after"], Value::Null);
    assert_eq!(expired[0].details["by"], "curfew");
    let set = of_kind(&trail, "override.set");
    assert_eq!(set.len(), 2, "{trail:?}");
    assert_eq!(set[0].details["by"], "cli:ops-alice");
    assert_eq!(set[0].details["before"], Value::Null);
    assert_eq!(
        set[0].details["after"]["computeStartStop"][0]["cron"]["expression"],
        "0 20 * * *"
    );
    let cleared = of_kind(&trail, "override.cleared");
    assert_eq!(cleared.len(), 1, "{trail:?}");
    assert_eq!(cleared[0].details["before"]["expires"], at("22:00"));
    assert_eq!(cleared[0].details["after"], Value::Null);
    assert_eq!(of_kind(&trail, "override.invalid").len(), 1, "{trail:?}");
}

/// An HTTP payload for `Schedules` in the host's shape, as App Service Authentication passes
/// it on (`principal` in `X-MS-CLIENT-PRINCIPAL-ID`, none when `None`).
fn schedules_http(
    method: &str,
    instance: &str,
    principal: Option<&str>,
    body: &str,
    utc_now: &str,
) -> Value {
    schedules_http_with(method, instance, principal, body, utc_now, json!({}))
}

/// [`schedules_http`] with more request headers (`If-Match`, `If-None-Match`).
fn schedules_http_with(
    method: &str,
    instance: &str,
    principal: Option<&str>,
    body: &str,
    utc_now: &str,
    extra: Value,
) -> Value {
    let mut headers = json!({"Content-Type": ["application/json"]});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            headers[k] = json!([v]);
        }
    }
    if let Some(p) = principal {
        headers["X-MS-CLIENT-PRINCIPAL-ID"] = json!([p]);
    }
    json!({
        "Data": {"req": {
            "Url": format!("https://curfew-func.azurewebsites.net/api/Schedules?instance={instance}"),
            "Method": method,
            "Query": json!({"instance": instance}).to_string(),
            "Headers": headers,
            "Params": {},
            "Body": body
        }},
        "Metadata": {"sys": {"MethodName": "Schedules", "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-000000000004"}}
    })
}

/// `(status, JSON body)` of the `res` output.
fn answer(out: &Value) -> (u64, Value) {
    let res = &out["Outputs"]["res"];
    let body = res["body"].as_str().unwrap_or_else(|| panic!("{out}"));
    (
        res["statusCode"].as_u64().unwrap(),
        serde_json::from_str(body).unwrap(),
    )
}

#[test]
fn the_schedules_function_refuses_strangers_and_audits_owner_and_admin_changes() {
    let sim = Sim::start(fleet());
    let dir = tmp("http");
    let sqlite = dir.join("state.sqlite");
    let mut env = sim.governor_env(SUB, "e2e-link-signing-key-0123456789abcdef", "e2e");
    env.extend([
        ("CURFEW_ADMINS", ADMIN.into()),
        ("CURFEW_SQLITE", sqlite.display().to_string()),
    ]);
    let h = Handler::start(&env);
    let good =
        json!({"computeStartStop": [stop_at("0 20 * * *")], "expires": at("22:00")}).to_string();
    let call = |method: &str, who: Option<&str>, body: &str, now: &str| {
        let (status, out) = h.post(
            "Schedules",
            &schedules_http(method, "ci-keep", who, body, &at(now)),
        );
        assert_eq!(status, 200, "{out}");
        answer(&out)
    };

    // Strangers, nobody, and a spoofed-looking id: 403 before the body is even read.
    for who in [Some(STRANGER), None, Some(""), Some("<script>")] {
        let (code, body) = call("PUT", who, &good, "12:00");
        assert_eq!(code, 403, "{who:?}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("may not change"),
            "{body}"
        );
    }
    let (code, _) = call("GET", Some(STRANGER), "", "12:00");
    assert_eq!(code, 403);
    let (code, _) = call("DELETE", Some(STRANGER), "", "12:00");
    assert_eq!(code, 403);
    // An unknown instance looks the same to a stranger as somebody else's (no probing), and
    // the owner's id is not told.
    let (status, out) = h.post(
        "Schedules",
        &schedules_http("GET", "no-such", Some(STRANGER), "", &at("12:00")),
    );
    assert_eq!(status, 200, "{out}");
    let (code, body) = answer(&out);
    assert_eq!(code, 403, "{body}");
    assert!(!body.to_string().contains(OWNER), "{body}");

    // The owner: a bad body is 400 with every problem named; a good one is stored.
    let bad = json!([stop_at("0 20 * * *"), stop_at("99 * * * *")]).to_string();
    let (code, body) = call("PUT", Some(OWNER), &bad, "12:01");
    assert_eq!(code, 400, "{body}");
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("instance 'ci-keep', schedule 1, field 'cron.expression'"),
        "{body}"
    );
    let (code, body) = call("PUT", Some(OWNER), &good, "12:02");
    assert_eq!(code, 200, "{body}");
    let (code, body) = call("GET", Some(&OWNER.to_ascii_uppercase()), "", "12:03");
    assert_eq!(
        (code, &body["current"]["expires"]),
        (200, &json!(at("22:00"))),
        "{body}"
    );

    // The tick honours it at 18:00 (the native stop is replaced) ...
    let timer = |now: &str| {
        json!({"Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": "false"}},
               "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": at(now), "RandGuid": "0b0e2e00-0000-4000-8000-000000000005"}}})
    };
    let (status, out) = h.post("Tick", &timer("18:00"));
    assert_eq!(status, 200, "{out}");
    let state = || {
        sim.state.compute(&ws().compute_id("ci-keep")).unwrap()["properties"]["properties"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(state(), "Running");
    // ... and stops at 20:00, before the 22:00 expiry.
    let (status, out) = h.post("Tick", &timer("20:00"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(state(), "Stopped", "{out}");

    // An admin clears it.
    let (code, body) = call("DELETE", Some(ADMIN), "", "20:05");
    assert_eq!(code, 200, "{body}");

    // The trail: each refusal, the invalid body, the set (owner) and the clear (admin).
    let trail = audit(&sqlite);
    let rejected = of_kind(&trail, "override.rejected");
    assert_eq!(rejected.len(), 7, "{trail:?}");
    assert!(rejected.iter().any(|r| r.details["by"] == STRANGER));
    assert_eq!(of_kind(&trail, "override.invalid").len(), 1);
    let set = of_kind(&trail, "override.set");
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].details["by"], OWNER);
    assert_eq!(set[0].details["authority"]["as"], "owner");
    assert_eq!(set[0].details["before"], Value::Null);
    assert_eq!(set[0].details["after"]["expires"], at("22:00"));
    let cleared = of_kind(&trail, "override.cleared");
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].details["authority"]["as"], "admin");
    assert_eq!(cleared[0].details["before"]["expires"], at("22:00"));
}

#[test]
fn adopt_dry_run_writes_nothing_then_adopts_and_tracks_the_native_stop() {
    let sim = Sim::start(fleet());
    let dir = tmp("adopt");
    let sqlite = dir.join("state.sqlite");
    let cli = Cli::new(&dir, &sim, &sqlite);
    let now = at("12:00");

    // The dry run prints the plan and writes nothing.
    let (code, out) = cli.run(&["adopt", "ci-keep", "--dry-run", "--now", &now]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(out.contains("#0 Stop") && out.contains("(UTC)"), "{out}");
    let (code, out) = cli.json(&["adopt", "--all", "--dry-run", "--now", &now]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out[0]["native"][0]["index"], 0, "{out}");
    assert_eq!(out[0]["native"][0]["enabled"], true, "{out}");
    let (_, got) = cli.json(&["schedule", "get", "ci-keep", "--now", &now]);
    assert_eq!(got["current"], Value::Null, "{got}");
    assert!(of_kind(&audit(&sqlite), "override.adopted").is_empty());

    // Adopt: the override holds the native schedule; the adoption is recorded.
    let (code, out) = cli.json(&[
        "adopt",
        "--workspace",
        "ws-a",
        "--now",
        &now,
        "--by",
        "ops-bob",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out[0]["status"], "done", "{out}");
    let (_, got) = cli.json(&["schedule", "get", "ci-keep", "--now", &now]);
    assert_eq!(
        got["current"]["computeStartStop"][0]["cron"]["expression"], "0 18 * * *",
        "{got}"
    );
    let trail = audit(&sqlite);
    let adopted = of_kind(&trail, "override.adopted");
    assert_eq!(adopted.len(), 1, "{trail:?}");
    assert_eq!(adopted[0].details["by"], "cli:ops-bob");
    assert_eq!(adopted[0].details["schedules"], json!([0]));

    // Azure ML still runs the native stop until the owner disables it in the studio.
    let (_, explained) = cli.json(&["explain", "ci-keep", "--now", &at("17:00")]);
    assert_eq!(
        sources(&explained),
        ["override Cron 0 18 * * *"],
        "{explained}"
    );
    assert_eq!(explained["nativeStopsEnabled"], true, "{explained}");
    assert_eq!(
        explained["enabledNativeStops"][0]["index"], 0,
        "{explained}"
    );
    // The adoption record: who, when, which.
    assert_eq!(explained["adopted"]["by"], "cli:ops-bob", "{explained}");
    assert_eq!(explained["adopted"]["at"], now, "{explained}");
    assert_eq!(
        explained["adopted"]["schedules"],
        json!(["#0 Stop Cron 0 18 * * * (UTC)"]),
        "{explained}"
    );
    let (_, text) = cli.run(&["explain", "ci-keep", "--now", &at("17:00")]);
    assert!(
        text.contains(&format!(
            "adopted at {} by cli:ops-bob",
            "2026-03-09T12:00:00+00:00"
        )),
        "{text}"
    );
    assert!(
        text.contains("native schedule #0 Stop Cron 0 18 * * * (UTC) still enabled"),
        "{text}"
    );
    let native_only = |cli: &Cli| {
        let (code, r) = cli.json(&["tick", "--dry-run", "--now", &at("17:30")]);
        assert_eq!(code, 0, "{r}");
        assert_eq!(r["notices"].as_array().map(Vec::len), Some(1), "{r}");
        r["notices"][0]["nativeOnly"].as_bool().unwrap()
    };
    assert!(native_only(&cli), "the override's stop keeps the caveat");
    assert!(sim
        .state
        .set_schedule_status(&ws().compute_id("ci-keep"), 0, "Disabled"));
    let (_, explained) = cli.json(&["explain", "ci-keep", "--now", &at("17:00")]);
    assert_eq!(explained["nativeStopsEnabled"], false, "{explained}");
    assert_eq!(explained["adopted"]["by"], "cli:ops-bob", "{explained}");
    let (_, text) = cli.run(&["explain", "ci-keep", "--now", &at("17:00")]);
    assert!(text.contains("no native stop enabled"), "{text}");
    assert!(!native_only(&cli), "disabled in the studio: no caveat");
    // Curfew now runs the stop itself.
    let (code, out) = cli.run(&["tick", "--now", &at("18:00")]);
    assert_eq!(code, 0, "{out}");

    // Refusals exit 1 and overwrite nothing; bad arguments exit 2.
    let (code, out) = cli.run(&["adopt", "ci-keep", "--now", &now]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("already has an override"), "{out}");
    let (code, out) = cli.run(&["adopt", "nope", "--now", &now]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = cli.run(&["adopt"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = cli.run(&["adopt", "ci-keep", "--all"]);
    assert_eq!(code, 2, "{out}");

    // The adoption record outlives the override: once it is cleared, explain says so (and
    // not that dismissals fully work: the native schedules apply again).
    let (code, out) = cli.json(&["schedule", "clear", "ci-keep", "--now", &at("19:00")]);
    assert_eq!(code, 0, "{out}");
    let (_, text) = cli.run(&["explain", "ci-keep", "--now", &at("19:00")]);
    assert!(
        text.contains(
            "adopted at 2026-03-09T12:00:00+00:00 by cli:ops-bob (#0 Stop Cron 0 18 * * * (UTC)); override since cleared"
        ),
        "{text}"
    );
    assert!(!text.contains("dismissals fully work"), "{text}");
    let (_, explained) = cli.json(&["explain", "ci-keep", "--now", &at("19:00")]);
    assert_eq!(
        explained["adopted"]["overrideInForce"], false,
        "{explained}"
    );
}

/// Two instances of one owner: `ci-keep` (native stop 18:00) and `ci-two` (native stop 21:00).
fn two_fleet() -> SimFleet {
    let item = |name: &str, cron: &str| {
        json!({
            "id": ws().compute_id(name),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/computes",
            "properties": {
                "computeType": "ComputeInstance",
                "provisioningState": "Succeeded",
                "properties": {
                    "vmSize": "STANDARD_DS3_V2",
                    "state": "Running",
                    "personalComputeInstanceSettings": {"assignedUser": {"objectId": OWNER, "tenantId": SUB}},
                    "schedules": {"computeStartStop": [stop_at(cron)]}
                }
            }
        })
    };
    SimFleet::from_json(
        json!([item("ci-keep", "0 18 * * *"), item("ci-two", "0 21 * * *")]),
        &ws(),
    )
    .expect("fleet")
}

/// An HTTP payload in the host's shape for `function` with these query parameters.
fn http_call(
    function: &str,
    method: &str,
    query: Value,
    principal: Option<&str>,
    body: &str,
    utc_now: &str,
) -> Value {
    let mut headers = json!({"Content-Type": ["application/json"]});
    if let Some(p) = principal {
        headers["X-MS-CLIENT-PRINCIPAL-ID"] = json!([p]);
    }
    json!({
        "Data": {"req": {
            "Url": format!("https://curfew-func.azurewebsites.net/api/{function}"),
            "Method": method,
            "Query": query.to_string(),
            "Headers": headers,
            "Params": {},
            "Body": body
        }},
        "Metadata": {"sys": {"MethodName": function, "UtcNow": utc_now, "RandGuid": "0b0e2e00-0000-4000-8000-000000000006"}}
    })
}

/// The `curfew.shutdown.pending` events of one answer, for `instance`.
fn pending_for(out: &Value, instance: &str) -> Vec<Value> {
    host::binding_events(out)
        .into_iter()
        .filter(|e| {
            e["type"] == "curfew.shutdown.pending" && e["data"]["instance"]["name"] == instance
        })
        .collect()
}

/// Where the handler of the Functions adopt test keeps its state.
enum Backend {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A table in Azurite (endpoint, table).
    Table(String, String),
}

impl Backend {
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sqlite(p) => vec![("CURFEW_SQLITE", p.display().to_string())],
            Backend::Table(e, t) => vec![
                ("CURFEW_TABLE_ENDPOINT", e.clone()),
                ("CURFEW_TABLE", t.clone()),
            ],
        }
    }

    /// Every audit record, oldest first.
    fn audit(&self) -> Vec<curfew_store::AuditRecord> {
        match self {
            Backend::Sqlite(p) => audit(p),
            Backend::Table(e, t) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let s = curfew_store::TableStore::open(
                        curfew_store::TableConfig::development(e).unwrap(),
                        t,
                    )
                    .await
                    .unwrap();
                    s.audit_between(
                        "2000-01-01T00:00:00Z".parse().unwrap(),
                        "2100-01-01T00:00:00Z".parse().unwrap(),
                    )
                    .await
                    .unwrap()
                })
            }
        }
    }
}

#[test]
fn adopt_and_expiry_through_the_functions_routes_with_refused_strangers_and_an_audit_trail() {
    let dir = tmp("http-adopt");
    adopt_and_expiry_day(&Backend::Sqlite(dir.join("state.sqlite")));
}

/// The same day with Table Storage (Azurite): the adoption record and the expiry prune on the
/// other backend. A loud SKIPPED without `CURFEW_AZURITE_TABLE_ENDPOINT`; a failure then when
/// `CURFEW_REQUIRE_AZURITE=1`.
#[test]
fn adopt_and_expiry_through_the_functions_routes_with_table_storage() {
    let Some(endpoint) = azurite("adopt and expiry were") else {
        return;
    };
    let table = format!("curfewadopt{}", std::process::id());
    adopt_and_expiry_day(&Backend::Table(endpoint, table));
}

fn adopt_and_expiry_day(backend: &Backend) {
    let sim = Sim::start(two_fleet());
    let mut env = sim.governor_env(SUB, "e2e-link-signing-key-0123456789abcdef", "e2e");
    env.push(("CURFEW_ADMINS", ADMIN.into()));
    env.extend(backend.env());
    let h = Handler::start(&env);
    let call = |method: &str, query: Value, who: Option<&str>, body: &str, now: &str| {
        let (status, out) = h.post(
            "Schedules",
            &http_call("Schedules", method, query, who, body, &at(now)),
        );
        assert_eq!(status, 200, "{out}");
        answer(&out)
    };
    let adopt = |instance: &str, dry: bool, who: Option<&str>, now: &str| {
        let mut q = json!({"instance": instance, "action": "adopt"});
        if dry {
            q["dryRun"] = json!("true");
        }
        call("POST", q, who, "", now)
    };
    let explain = |instance: &str, now: &str| {
        let (status, out) = h.post(
            "Status",
            &http_call(
                "Status",
                "GET",
                json!({"instance": instance}),
                // The JSON views of Status answer admins only (the page is the owners').
                Some(ADMIN),
                "",
                &at(now),
            ),
        );
        assert_eq!(status, 200, "{out}");
        answer(&out).1["fleet"]["explain"].clone()
    };
    let tick = |now: &str| {
        let (status, out) = h.post(
            "Tick",
            &host::timer_with_guid(&at(now), "0b0e2e00-0000-4000-8000-000000000007"),
        );
        assert_eq!(status, 200, "{out}");
        out
    };
    let state = |name: &str| {
        sim.state.compute(&ws().compute_id(name)).unwrap()["properties"]["properties"]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Strangers (and nobody) are refused, dry run or not, and learn nothing: not the owner,
    // not the native schedules, not whether an instance exists.
    for (instance, dry, who) in [
        ("ci-keep", true, Some(STRANGER)),
        ("ci-keep", false, Some(STRANGER)),
        ("ci-keep", false, None),
        ("no-such", true, Some(STRANGER)),
    ] {
        let (code, body) = adopt(instance, dry, who, "12:00");
        assert_eq!(code, 403, "{instance} {who:?}: {body}");
        assert_eq!(body["status"], "refused", "{body}");
        assert!(!body.to_string().contains(OWNER), "{body}");
        assert_eq!(body["native"], json!([]), "{body}");
        assert_eq!(body["disableInStudio"], json!([]), "{body}");
    }

    // The owner's dry run answers the plan and writes nothing, not even an audit record.
    let before = backend.audit().len();
    let (code, body) = adopt("ci-keep", true, Some(OWNER), "12:01");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["dryRun"], true, "{body}");
    assert_eq!(
        body["disableInStudio"],
        json!(["#0 Stop Cron 0 18 * * * (UTC)"]),
        "{body}"
    );
    let (_, got) = call(
        "GET",
        json!({"instance": "ci-keep"}),
        Some(OWNER),
        "",
        "12:01",
    );
    assert_eq!(got["current"], Value::Null, "{got}");
    assert_eq!(backend.audit().len(), before, "a dry run writes nothing");
    assert!(explain("ci-keep", "12:01").get("adopted").is_none());

    // The owner adopts: the override holds the native schedule, the answer lists exactly what
    // to disable in the studio, and the adoption is recorded.
    let (code, body) = adopt("ci-keep", false, Some(OWNER), "12:02");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["status"], &body["dryRun"]),
        (&json!("done"), &json!(false)),
        "{body}"
    );
    assert_eq!(
        body["disableInStudio"],
        json!(["#0 Stop Cron 0 18 * * * (UTC)"])
    );
    let (_, got) = call(
        "GET",
        json!({"instance": "ci-keep"}),
        Some(OWNER),
        "",
        "12:03",
    );
    assert_eq!(
        got["current"]["computeStartStop"][0]["cron"]["expression"], "0 18 * * *",
        "{got}"
    );
    // Adopting again overwrites nothing: 409.
    let (code, body) = adopt("ci-keep", false, Some(ADMIN), "12:04");
    assert_eq!(code, 409, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("already has an override"));
    let e = explain("ci-keep", "12:05");
    assert_eq!(e["adopted"]["by"], OWNER, "{e}");
    assert_eq!(e["adopted"]["at"], at("12:02"), "{e}");
    assert_eq!(
        e["adopted"]["schedules"],
        json!(["#0 Stop Cron 0 18 * * * (UTC)"])
    );
    assert_eq!(e["nativeStopsEnabled"], true, "{e}");

    // ci-two: a stranger may not set an override; an admin may, until 20:30.
    let until =
        json!({"computeStartStop": [stop_at("0 23 * * *")], "expires": at("20:30")}).to_string();
    let (code, body) = call(
        "PUT",
        json!({"instance": "ci-two"}),
        Some(STRANGER),
        &until,
        "12:06",
    );
    assert_eq!(code, 403, "{body}");
    assert!(!body.to_string().contains(OWNER), "{body}");
    let (code, body) = call(
        "PUT",
        json!({"instance": "ci-two"}),
        Some(ADMIN),
        &until,
        "12:07",
    );
    assert_eq!(code, 200, "{body}");

    // 17:30: ci-keep's (adopted) stop is warned with the caveat naming the native schedule,
    // for Azure ML still runs it ...
    let out = tick("17:30");
    let warned = pending_for(&out, "ci-keep");
    assert_eq!(warned.len(), 1, "{out}");
    assert_eq!(warned[0]["data"]["nativeOnly"], true, "{out}");
    // The note (which every rendering shows) says it, the reason does not repeat it.
    let note = warned[0]["data"]["note"].as_str().unwrap();
    assert!(
        note.contains("native schedule #0 Stop Cron 0 18 * * * (UTC) of 'ci-keep'")
            && note.contains("`curfew adopt ci-keep --dry-run`"),
        "{note}"
    );
    let reason = warned[0]["data"]["reason"].as_str().unwrap();
    assert!(!reason.contains("Azure ML"), "{reason}");
    assert!(
        pending_for(&out, "ci-two").is_empty(),
        "overridden until 20:30: {out}"
    );
    // ... until the owner disables it in the studio: the next tick drops the caveat.
    assert!(sim
        .state
        .set_schedule_status(&ws().compute_id("ci-keep"), 0, "Disabled"));
    let out = tick("17:55");
    let warned = pending_for(&out, "ci-keep");
    assert_eq!(warned.len(), 1, "{out}");
    assert_eq!(warned[0]["data"]["nativeOnly"], false, "{out}");
    assert!(warned[0]["data"].get("note").is_none(), "{out}");
    assert!(!warned[0]["data"]["reason"]
        .as_str()
        .unwrap()
        .contains("Azure ML"));
    let e = explain("ci-keep", "17:56");
    assert_eq!(e["nativeStopsEnabled"], false, "{e}");
    assert_eq!(e["adopted"]["by"], OWNER, "{e}");
    tick("18:00");
    assert_eq!(state("ci-keep"), "Stopped", "Curfew runs the adopted stop");

    // ci-two's override expires at 20:30: kept by the tick a minute before, removed (audited)
    // at 20:30, and the native 21:00 stop fires again at 21:00, not a minute earlier.
    let out = tick("20:29");
    assert!(!host::logs(&out).contains("expired:"), "{out}");
    let out = tick("20:30");
    assert!(
        host::logs(&out)
            .contains("expired: ci-two: override expired at 2026-03-09T20:30:00+00:00, removed"),
        "{out}"
    );
    assert!(
        pending_for(&out, "ci-two").len() == 1,
        "the native stop is warned again: {out}"
    );
    let (_, got) = call(
        "GET",
        json!({"instance": "ci-two"}),
        Some(OWNER),
        "",
        "20:31",
    );
    assert_eq!(got["current"], Value::Null, "{got}");
    tick("20:59");
    assert_eq!(state("ci-two"), "Running");
    tick("21:00");
    assert_eq!(state("ci-two"), "Stopped", "the native stop applies again");

    // The trail: every refusal, the adoption and every change with before and after.
    let trail = backend.audit();
    let rejected = of_kind(&trail, "override.rejected");
    assert_eq!(rejected.len(), 5, "{trail:?}");
    assert_eq!(
        rejected
            .iter()
            .filter(|r| r.details["request"] == "adopt")
            .count(),
        4,
        "{trail:?}"
    );
    assert!(
        rejected.iter().all(|r| !r.message.contains(OWNER)),
        "{trail:?}"
    );
    let adopted = of_kind(&trail, "override.adopted");
    assert_eq!(adopted.len(), 1, "{trail:?}");
    assert_eq!(adopted[0].details["by"], OWNER);
    assert_eq!(adopted[0].details["caller"], "principal");
    assert_eq!(adopted[0].details["schedules"], json!([0]));
    let set = of_kind(&trail, "override.set");
    assert_eq!(set.len(), 2, "{trail:?}");
    assert_eq!(set[0].details["authority"]["as"], "owner");
    assert_eq!(set[0].details["before"], Value::Null);
    assert_eq!(
        set[0].details["after"]["computeStartStop"][0]["cron"]["expression"],
        "0 18 * * *"
    );
    assert_eq!(set[1].details["authority"]["as"], "admin");
    assert_eq!(set[1].details["after"]["expires"], at("20:30"));
    let expired = of_kind(&trail, "override.expired");
    assert_eq!(expired.len(), 1, "{trail:?}");
    assert_eq!(expired[0].details["before"]["expires"], at("20:30"));
    assert_eq!(expired[0].details["after"], Value::Null);
}

/// The governor's `adopt` as a signed-in principal (what `Schedules?action=adopt` calls): only
/// an admin takes a whole workspace; an owner adopts their own instance; an operator counts as
/// an admin. Nothing is written for a refused caller.
#[test]
fn only_admins_adopt_a_workspace_and_owners_only_their_own() {
    use curfew_governor::override_edit::{adopt, AdoptScope, EditStatus, Editor};
    let sim = Sim::start(two_fleet());
    let dir = tmp("adopt-scope");
    let sqlite = dir.join("state.sqlite");
    let yaml = format!(
        "deployment: e2e\n\
         arm:\n  endpoint: {}\n  scopes: [/subscriptions/{SUB}]\n  credential: token-env:CURFEW_E2E_ARM_TOKEN\n\
         store:\n  sqlite: {}\n\
         governor:\n  admins: [{ADMIN}]\n",
        sim.base_url,
        sqlite.display()
    );
    let strings =
        curfew_governor::config::MapStrings::from_pairs(&[("CURFEW_E2E_ARM_TOKEN", "simulator")]);
    let config =
        curfew_governor::config::RuntimeConfig::from_yaml(&yaml, &strings).expect("settings");
    let now = at("12:00").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let gov = curfew_governor::Runtime::from_config(&config)
            .await
            .unwrap();
        let ws_scope = AdoptScope::Workspace("ws-a".into());
        let who = |p: &str| Editor::Principal(p.into());
        // The owner of both instances still may not take the workspace at once.
        for p in [OWNER, STRANGER, ""] {
            let done = adopt(&gov, &ws_scope, &who(p), false, now).await.unwrap();
            assert_eq!(done.len(), 1, "{done:?}");
            assert_eq!(done[0].status, EditStatus::Refused, "{p}: {done:?}");
            assert!(done[0].native.is_empty() && done[0].instance.is_empty());
        }
        assert!(gov.store.list_overrides().await.unwrap().is_empty());
        // A stranger may not adopt one instance either; its owner may.
        let one = AdoptScope::Instance("CI-TWO".into());
        let done = adopt(&gov, &one, &who(STRANGER), false, now).await.unwrap();
        assert_eq!(done[0].status, EditStatus::Refused, "{done:?}");
        let done = adopt(&gov, &one, &who(OWNER), false, now).await.unwrap();
        assert_eq!(done[0].status, EditStatus::Done, "{done:?}");
        // An admin's dry run over the workspace: ci-keep would be adopted, ci-two is taken.
        let done = adopt(&gov, &ws_scope, &who(ADMIN), true, now)
            .await
            .unwrap();
        let by_name: Vec<_> = done
            .iter()
            .map(|a| (a.instance.as_str(), a.status))
            .collect();
        assert_eq!(
            by_name,
            [
                ("ci-keep", EditStatus::Done),
                ("ci-two", EditStatus::Conflict)
            ],
            "{done:?}"
        );
        assert!(done[0].dry_run && done[0].message.contains("dry run"));
        let keys: Vec<_> = gov
            .store
            .list_overrides()
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.instance_id)
            .collect();
        assert_eq!(keys.len(), 1, "only ci-two: {keys:?}");
        assert!(keys[0].ends_with("/computes/ci-two"), "{keys:?}");
        let rec = gov.store.get_adoption(&keys[0]).await.unwrap().unwrap();
        assert_eq!((rec.by.as_str(), rec.at), (OWNER, now));
        assert_eq!(rec.schedules[0]["cron"]["expression"], "0 21 * * *");
    });
}

/// No lost update through `Schedules`, on either backend (a Table Storage version is an ETag
/// with quotes: it must survive as the answer's `ETag` and come back in `If-Match`).
fn lost_update_is_refused(backend: &Backend) {
    let sim = Sim::start(fleet());
    let mut env = sim.governor_env(SUB, "e2e-link-signing-key-0123456789abcdef", "e2e");
    env.push(("CURFEW_ADMINS", ADMIN.into()));
    env.extend(backend.env());
    let h = Handler::start(&env);
    // No lost update: the owner creates one only if there is none, and gets its version as
    // an ETag; an admin changes it meanwhile; the owner's write with the old version is 412
    // and shows the admin's, nothing written; with the version read again it goes through.
    let conditional = |method: &str, who: &str, body: &str, headers: Value| {
        let (status, out) = h.post(
            "Schedules",
            &schedules_http_with(method, "ci-keep", Some(who), body, &at("12:10"), headers),
        );
        assert_eq!(status, 200, "{out}");
        let etag = out["Outputs"]["res"]["headers"]["ETag"]
            .as_str()
            .map(str::to_owned);
        let (code, body) = answer(&out);
        (code, body, etag)
    };
    let mine = json!([stop_at("0 21 * * *")]).to_string();
    let theirs = json!([stop_at("0 23 * * *")]).to_string();
    let (code, body, etag) = conditional("PUT", OWNER, &mine, json!({"If-None-Match": "*"}));
    assert_eq!(code, 200, "{body}");
    let v1 = body["version"].as_str().unwrap().to_owned();
    assert_eq!(etag, Some(format!("\"{v1}\"")));
    let (code, body, _) = conditional("PUT", OWNER, &mine, json!({"If-None-Match": "*"}));
    assert_eq!(code, 412, "it exists now: {body}");
    let (code, body, _) = conditional("PUT", ADMIN, &theirs, json!({}));
    assert_eq!(code, 200, "{body}");
    let v2 = body["version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);
    let (code, body, etag) = conditional(
        "PUT",
        OWNER,
        &mine,
        json!({"If-Match": format!("\"{v1}\"")}),
    );
    assert_eq!(code, 412, "{body}");
    assert_eq!(body["status"], "stale", "{body}");
    assert_eq!(
        body["current"]["computeStartStop"][0]["cron"]["expression"], "0 23 * * *",
        "the admin's is kept and shown: {body}"
    );
    assert_eq!(etag, Some(format!("\"{v2}\"")));
    let (code, body, _) = conditional(
        "DELETE",
        OWNER,
        "",
        json!({"If-Match": format!("\"{v1}\"")}),
    );
    assert_eq!(code, 412, "{body}");
    let (code, body, _) = conditional(
        "DELETE",
        OWNER,
        "",
        json!({"If-Match": format!("\"{v2}\"")}),
    );
    assert_eq!(code, 200, "{body}");
    let trail = backend.audit();
    assert_eq!(of_kind(&trail, "override.stale").len(), 3, "{trail:?}");
    let set = of_kind(&trail, "override.set");
    assert_eq!(set.len(), 2, "{trail:?}");
    assert_eq!(
        set[1].details["before"]["computeStartStop"][0]["cron"]["expression"], "0 21 * * *",
        "the admin's change audited over exactly what it replaced"
    );
}

#[test]
fn a_lost_update_is_refused_with_412() {
    lost_update_is_refused(&Backend::Sqlite(tmp("lost-update").join("state.sqlite")));
}

#[test]
fn a_lost_update_is_refused_with_412_on_table_storage() {
    let Some(endpoint) = azurite("If-Match was") else {
        return;
    };
    let table = format!("curfewlost{}", std::process::id());
    lost_update_is_refused(&Backend::Table(endpoint, table));
}

/// The Azurite table endpoint (`.ci/azurite.sh`), or `None` after a loud SKIPPED line naming
/// `what` was not tested; with `CURFEW_REQUIRE_AZURITE=1` (CI) a missing endpoint fails.
fn azurite(what: &str) -> Option<String> {
    let endpoint = std::env::var("CURFEW_AZURITE_TABLE_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    if endpoint.is_none() {
        assert!(
            std::env::var("CURFEW_REQUIRE_AZURITE").as_deref() != Ok("1"),
            "CURFEW_AZURITE_TABLE_ENDPOINT is not set but CURFEW_REQUIRE_AZURITE=1: start Azurite with .ci/azurite.sh"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED: CURFEW_AZURITE_TABLE_ENDPOINT is not set, so {what} NOT tested on Table Storage (cli/tests/schedules_e2e.rs)\n"
        );
    }
    endpoint
}
