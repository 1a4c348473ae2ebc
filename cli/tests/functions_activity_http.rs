//! The HTTP side of the Functions app, end to end with the built `curfew serve` (started as
//! the host starts it, like `functions_governor_e2e.rs`): the `ActivityReport` function accepts
//! a report signed as `scripts/reporter/curfew-activity-reporter.sh` signs it and stores it,
//! refuses forged, unsigned and malformed ones; `Status?view=report` serves the cost report
//! page of the configured cost timeline.

use std::path::PathBuf;

use armsim::{SimFleet, WorkspacePath};
use curfew_engine::idle::{instance_key, sign_report};
use serde_json::{json, Value};

const SUB: &str = "00000000-0000-0000-0000-0000000000a7";
const MASTER: &str = "activity-master-key-for-the-http-test";
/// The host's clock for every invocation.
const NOW: &str = "2026-03-09T10:00:00Z";
/// The admin whose principal reads the cost report (`Status` is anonymous to the host).
const ADMIN: &str = "aaaaaaaa-0000-0000-0000-0000000000a7";

fn ws() -> WorkspacePath {
    WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-http".into(),
        workspace: "ws-http".into(),
    }
}

fn fleet() -> SimFleet {
    let item = |name: &str| {
        json!({
            "id": ws().compute_id(name),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/computes",
            "properties": {
                "computeType": "ComputeInstance",
                "provisioningState": "Succeeded",
                "properties": {"vmSize": "STANDARD_DS3_V2", "state": "Running"}
            }
        })
    };
    SimFleet::from_json(json!([item("ci-http"), item("ci-b")]), &ws()).expect("fleet")
}

/// The simulator on a thread of its own (the test thread does blocking I/O).
mod host;
use host::{Handler, Sim};
fn tmp(name: &str) -> PathBuf {
    host::tmp_dir("activity-http", name)
}

fn governor_env(sim: &Sim, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("CURFEW_SCOPES", format!("/subscriptions/{SUB}")),
        ("CURFEW_ARM_ENDPOINT", sim.base_url.clone()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN".into()),
        ("CURFEW_ARM_TOKEN", "simulator".into()),
        ("CURFEW_DEPLOYMENT", "http".into()),
        ("CURFEW_ADMINS", ADMIN.into()),
        (
            "CURFEW_SQLITE",
            dir.join("state.sqlite").display().to_string(),
        ),
    ]
}

/// An HTTP trigger payload as the host sends it: the body as its exact text.
fn http(function: &str, method: &str, query: Value, headers: Value, body: &str) -> Value {
    json!({
        "Data": {"req": {
            "Url": format!("https://curfew-func.azurewebsites.net/api/{function}"),
            "Method": method,
            "Query": query.to_string(),
            "Headers": headers,
            "Params": {},
            "Body": body
        }},
        "Metadata": {"sys": {"MethodName": function, "UtcNow": NOW, "RandGuid": "0b0e2e00-0000-4000-8000-0000000000a7"}}
    })
}

/// The report the reporter would send for `ci-http` at `at` with `kernels` open, with a nonce
/// of its own (the reporter draws one per report).
fn report_body(at: &str, kernels: u32) -> String {
    report_of("ci-http", &ws().compute_id("ci-http"), at, kernels)
}

fn report_of(instance: &str, compute_id: &str, at: &str, kernels: u32) -> String {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "schema": "curfew.activity/v1",
        "instance": instance,
        "computeId": compute_id,
        "at": at,
        "nonce": format!("{n:032x}"),
        "kernels": kernels
    })
    .to_string()
}

fn unix(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp()
}

/// Headers signed like the reporter: `sha256=<hex HMAC(instance key, "<ts>.<body>")>`, the
/// instance key being the one `ci-http`'s compute id is given.
fn signed(master: &str, body: &str) -> Value {
    signed_with(
        &instance_key(master.as_bytes(), &ws().compute_id("ci-http")),
        body,
    )
}

fn signed_with(key: &[u8], body: &str) -> Value {
    let ts = unix(NOW);
    json!({
        "Content-Type": ["application/json"],
        "X-Curfew-Timestamp": [ts.to_string()],
        "X-Curfew-Signature": [sign_report(key, ts, body.as_bytes())]
    })
}

/// The `res` output: its status code and body.
fn res(out: &Value) -> (u64, String) {
    let r = &out["Outputs"]["res"];
    (
        r["statusCode"].as_u64().unwrap_or_default(),
        r["body"].as_str().unwrap_or_default().to_owned(),
    )
}

fn post_report(h: &Handler, headers: Value, body: &str) -> (u64, Value) {
    let (status, out) = h.post(
        "ActivityReport",
        &http("ActivityReport", "POST", json!({}), headers, body),
    );
    assert_eq!(status, 200, "the envelope relays the answer: {out}");
    let (code, text) = res(&out);
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, answer)
}

#[test]
fn signed_reports_are_stored_and_forged_ones_refused() {
    let sim = Sim::start(fleet());
    let dir = tmp("signed");
    let mut env = governor_env(&sim, &dir);
    env.push(("CURFEW_ACTIVITY_KEY", MASTER.into()));
    let h = Handler::start(&env);

    // Signed with the instance's key: accepted and stored.
    let body = report_body("2026-03-09T09:59:30Z", 2);
    let (code, answer) = post_report(&h, signed(MASTER, &body), &body);
    assert_eq!(code, 202, "{answer}");
    assert_eq!(answer["status"], "accepted", "{answer}");
    let summary = answer["summary"].to_string();
    assert!(
        summary.contains("busy (2 Jupyter kernel(s)); stored"),
        "{answer}"
    );

    // The store kept it: an older (signed) report is now recognised as older and ignored.
    let older = report_body("2026-03-09T09:58:00Z", 0);
    let (code, answer) = post_report(&h, signed(MASTER, &older), &older);
    assert_eq!(code, 202, "{answer}");
    assert!(
        answer["summary"]
            .to_string()
            .contains("older than the stored report: ignored"),
        "{answer}"
    );

    // Forged: signed with another master key.
    let forged = report_body("2026-03-09T09:59:45Z", 0);
    let (code, answer) = post_report(&h, signed("not-the-key", &forged), &forged);
    assert_eq!(code, 401, "{answer}");
    assert_eq!(answer["status"], "refused", "{answer}");

    // Signed, then the body changed in transit.
    let headers = signed(MASTER, &forged);
    let tampered = forged.replace("\"kernels\":0", "\"kernels\":5");
    assert_ne!(tampered, forged);
    let (code, answer) = post_report(&h, headers, &tampered);
    assert_eq!(code, 401, "{answer}");

    // Unsigned.
    let (code, answer) = post_report(&h, json!({"Content-Type": ["application/json"]}), &forged);
    assert_eq!(code, 401, "{answer}");

    // Malformed: not JSON, and JSON without an instance.
    let (code, answer) = post_report(&h, signed(MASTER, "{not json"), "{not json");
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = post_report(&h, signed(MASTER, "{\"kernels\":1}"), "{\"kernels\":1}");
    assert_eq!(code, 400, "{answer}");

    // The refused reports changed nothing: the newest stored report is still the first one.
    let newer = report_body("2026-03-09T09:59:50Z", 0);
    let (code, answer) = post_report(&h, signed(MASTER, &newer), &newer);
    assert_eq!(code, 202, "{answer}");
    assert!(
        answer["summary"].to_string().contains("quiet; stored"),
        "{answer}"
    );

    // Not a POST.
    let (status, out) = h.post(
        "ActivityReport",
        &http("ActivityReport", "GET", json!({}), json!({}), ""),
    );
    assert_eq!(status, 200);
    assert_eq!(res(&out).0, 405, "{out}");
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

/// Without `CURFEW_ACTIVITY_KEY` there is no intake: every report is refused, signed or not,
/// and the answer says why. (This test replaced one that pinned the insecure old behaviour,
/// where an unset key meant every unsigned report was accepted.)
#[test]
fn without_a_key_every_report_is_refused() {
    let sim = Sim::start(fleet());
    let dir = tmp("unsigned");
    let h = Handler::start(&governor_env(&sim, &dir));
    let body = report_body("2026-03-09T09:59:30Z", 0);
    let (code, answer) = post_report(&h, json!({}), &body);
    assert_eq!(code, 401, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("CURFEW_ACTIVITY_KEY is not set"),
        "{answer}"
    );
    let body = report_body("2026-03-09T09:59:31Z", 0);
    let (code, answer) = post_report(&h, signed(MASTER, &body), &body);
    assert_eq!(code, 401, "signed or not: {answer}");
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

/// Instance B's reporter holds B's key. It cannot speak for A: not by naming A's compute id
/// under its own name (the issue's attack, with `at` ahead so that A's real reports looked
/// older), and not by naming A outright. A's own busy report is then still taken.
#[test]
fn one_instance_key_cannot_report_for_another_compute() {
    let sim = Sim::start(fleet());
    let dir = tmp("bound");
    let mut env = governor_env(&sim, &dir);
    env.push(("CURFEW_ACTIVITY_KEY", MASTER.into()));
    let h = Handler::start(&env);
    let a = ws().compute_id("ci-http");
    let b = ws().compute_id("ci-b");
    // B's key as the name alone used to give it, and as its compute id gives it.
    for key in [
        instance_key(MASTER.as_bytes(), "ci-b"),
        instance_key(MASTER.as_bytes(), &b),
    ] {
        let forged = report_of("ci-b", &a, "2026-03-09T10:03:00Z", 0);
        let (code, answer) = post_report(&h, signed_with(&key, &forged), &forged);
        assert_eq!(code, 401, "B's key, A's compute id: {answer}");
        let forged = report_of("ci-http", &a, "2026-03-09T10:03:00Z", 0);
        let (code, answer) = post_report(&h, signed_with(&key, &forged), &forged);
        assert_eq!(code, 401, "B's key, A's name and id: {answer}");
    }
    // B's own report, with B's key, is fine.
    let own = report_of("ci-b", &b, "2026-03-09T09:59:00Z", 0);
    let key = instance_key(MASTER.as_bytes(), &b);
    let (code, answer) = post_report(&h, signed_with(&key, &own), &own);
    assert_eq!(code, 202, "{answer}");
    // A's real busy report is taken, not "older than the stored report".
    let body = report_body("2026-03-09T09:59:30Z", 2);
    let (code, answer) = post_report(&h, signed(MASTER, &body), &body);
    assert_eq!(code, 202, "{answer}");
    assert!(
        answer["summary"]
            .to_string()
            .contains("busy (2 Jupyter kernel(s)); stored"),
        "{answer}"
    );
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

/// A report for a compute that is not in the fleet is refused, even when its signature is
/// right for the id it names: nothing is stored for made-up compute ids.
#[test]
fn reports_for_computes_outside_the_fleet_are_refused() {
    let sim = Sim::start(fleet());
    let dir = tmp("ghost");
    let mut env = governor_env(&sim, &dir);
    env.push(("CURFEW_ACTIVITY_KEY", MASTER.into()));
    let h = Handler::start(&env);
    let ghost = ws().compute_id("ci-ghost");
    let body = report_of("ci-ghost", &ghost, "2026-03-09T09:59:30Z", 0);
    let key = instance_key(MASTER.as_bytes(), &ghost);
    let (code, answer) = post_report(&h, signed_with(&key, &body), &body);
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["error"].to_string().contains("not in the fleet"),
        "{answer}"
    );
    // A report without a compute id cannot be bound to one, and is refused too.
    let bare = json!({"schema": "curfew.activity/v1", "instance": "ci-http",
        "at": "2026-03-09T09:59:30Z", "nonce": "00000000000000000000000000000bad"})
    .to_string();
    let (code, answer) = post_report(&h, signed(MASTER, &bare), &bare);
    assert_eq!(code, 401, "{answer}");
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

/// The same signed report sent twice is taken once: the second is a replay, refused by its
/// nonce. A report without a nonce is refused, and so is one whose `at` is far from its
/// signed timestamp.
#[test]
fn replayed_reports_and_reports_without_a_nonce_are_refused() {
    let sim = Sim::start(fleet());
    let dir = tmp("replay");
    let mut env = governor_env(&sim, &dir);
    env.push(("CURFEW_ACTIVITY_KEY", MASTER.into()));
    let h = Handler::start(&env);
    let body = report_body("2026-03-09T09:59:30Z", 1);
    let headers = signed(MASTER, &body);
    let (code, answer) = post_report(&h, headers.clone(), &body);
    assert_eq!(code, 202, "{answer}");
    let (code, answer) = post_report(&h, headers, &body);
    assert_eq!(code, 401, "a replay: {answer}");
    assert!(answer["error"].to_string().contains("replay"), "{answer}");

    let no_nonce = json!({"schema": "curfew.activity/v1", "instance": "ci-http",
        "computeId": ws().compute_id("ci-http"), "at": "2026-03-09T09:59:40Z"})
    .to_string();
    let (code, answer) = post_report(&h, signed(MASTER, &no_nonce), &no_nonce);
    assert_eq!(code, 401, "{answer}");
    assert!(answer["error"].to_string().contains("nonce"), "{answer}");

    let ahead = report_body("2026-03-09T10:20:00Z", 0);
    let (code, answer) = post_report(&h, signed(MASTER, &ahead), &ahead);
    assert_eq!(code, 401, "`at` 20 minutes after its timestamp: {answer}");
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

/// Attack: a report taken, then the nonce marks swept as hard as any tick could while the
/// report's signature is still accepted (`now` = its `at` + the skew, the last instant a replay
/// passes the time check): the replay is still refused by its nonce. Past that instant the
/// time check refuses it (engine `a_report_whose_nonce_mark_may_be_swept_is_refused_by_its_time`).
#[test]
fn a_replay_within_its_window_is_refused_after_the_nonce_sweep() {
    use curfew_store::{MarkKind, SqliteStore, StateStore};
    let sim = Sim::start(fleet());
    let dir = tmp("replay-swept");
    let mut env = governor_env(&sim, &dir);
    env.push(("CURFEW_ACTIVITY_KEY", MASTER.into()));
    let h = Handler::start(&env);
    let at = "2026-03-09T09:59:30Z";
    let body = report_body(at, 1);
    let headers = signed(MASTER, &body);
    let (code, answer) = post_report(&h, headers.clone(), &body);
    assert_eq!(code, 202, "{answer}");

    let last_accepted = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc()
        + curfew_engine::idle::SIGNATURE_MAX_SKEW;
    let before = curfew_engine::idle::nonce_marks_sweep_before(last_accepted);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(dir.join("state.sqlite")).await.unwrap();
        while store
            .sweep_marks(MarkKind::Nonce, before, 1000)
            .await
            .unwrap()
            > 0
        {}
    });
    let (code, answer) = post_report(&h, headers.clone(), &body);
    assert_eq!(code, 401, "a replay after the sweep: {answer}");
    assert!(answer["error"].to_string().contains("replay"), "{answer}");

    // Swept for real (a day later): the mark is gone, which only a stale report could use.
    rt.block_on(async {
        let store = SqliteStore::open(dir.join("state.sqlite")).await.unwrap();
        let later = last_accepted + chrono::TimeDelta::days(1);
        let mut n = 0;
        loop {
            let k = store
                .sweep_marks(
                    MarkKind::Nonce,
                    curfew_engine::idle::nonce_marks_sweep_before(later),
                    1000,
                )
                .await
                .unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        assert_eq!(n, 1, "the one nonce mark, swept");
    });
    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn status_serves_the_cost_report_page() {
    let sim = Sim::start(fleet());
    let dir = tmp("report");
    let env = governor_env(&sim, &dir);
    // Without records yet, the view says the timeline is empty.
    let h = Handler::start(&env);
    let (status, out) = h.post(
        "Status",
        &http(
            "Status",
            "GET",
            json!({"view": "report"}),
            json!({"X-MS-CLIENT-PRINCIPAL-ID": [ADMIN]}),
            "",
        ),
    );
    assert_eq!(status, 200, "{out}");
    let (code, html) = res(&out);
    assert_eq!(code, 404, "{html}");
    assert!(html.contains("timeline is empty"), "{html}");
    drop(h);
    // The timeline lives in the store (issue 11): another governor wrote these records.
    let records: Vec<curfew_store::TimelineRecord> = [
        r#"{"kind":"instance","instance":"ci-costly","vmSize":"Standard_NC6s_v3","owner":"ana","workspace":"vision","subscription":"S1"}"#,
        r#"{"kind":"state","instance":"ci-costly","at":"2026-03-02T08:00:00Z","state":"Running"}"#,
        r#"{"kind":"action","instance":"ci-costly","at":"2026-03-02T18:00:00Z","action":"stop","by":"curfew","reason":"schedule 'nightly'","nextStart":"2026-03-03T08:00:00Z","succeeded":true}"#,
        r#"{"kind":"state","instance":"ci-costly","at":"2026-03-03T08:00:00Z","state":"Running"}"#,
    ]
    .iter()
    .map(|line| {
        let record: Value = serde_json::from_str(line).unwrap();
        curfew_store::TimelineRecord {
            at: record["at"]
                .as_str()
                .unwrap_or("2026-03-02T08:00:00Z")
                .parse()
                .unwrap(),
            instance: "ci-costly".into(),
            record,
        }
    })
    .collect();
    let sqlite = env
        .iter()
        .find(|(k, _)| *k == "CURFEW_SQLITE")
        .map(|(_, v)| v.clone())
        .expect("the SQLite store");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let store = curfew_store::SqliteStore::open(std::path::Path::new(&sqlite))
                .await
                .unwrap();
            curfew_store::StateStore::append_timeline(&store, &records)
                .await
                .unwrap();
        });
    let h = Handler::start(&env);

    let page = |query: Value| {
        let (status, out) = h.post(
            "Status",
            &http(
                "Status",
                "GET",
                query,
                json!({"Accept": ["text/html"], "X-MS-CLIENT-PRINCIPAL-ID": [ADMIN]}),
                "",
            ),
        );
        assert_eq!(status, 200, "{out}");
        let r = &out["Outputs"]["res"];
        assert!(
            r["headers"]["Content-Type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("text/html"),
            "{out}"
        );
        res(&out)
    };
    let (code, html) = page(json!({"view": "report"}));
    assert_eq!(code, 200, "{html}");
    assert!(html.contains("<svg"), "the chart: {html}");
    assert!(html.contains("ci-costly"), "the instance: {html}");

    let (code, html) = page(json!({"view": "report", "from": "2026-03-02", "to": "2026-03-04"}));
    assert_eq!(code, 200, "{html}");
    assert!(
        html.contains("2026-03-02") && html.contains("<svg"),
        "{html}"
    );

    let (code, html) = page(json!({"view": "report", "from": "yesterday"}));
    assert_eq!(code, 400, "{html}");
    assert!(html.contains("yesterday"), "{html}");

    drop(h);
    let _ = std::fs::remove_dir_all(dir);
}
