//! `curfew report` on a known timeline (the fleet of `engine/tests/cost.rs`, whose figures are
//! computed by hand there): every format, groupings, budgets, price overrides and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Same fleet as engine/tests/cost.rs: spend 108.50, savings 60.50 over 2026-03-02..04.
const TIMELINE: &str = r#"{"kind":"instance","instance":"ci-ana","vmSize":"Standard_NC6s_v3","owner":"ana","workspace":"vision"}
{"kind":"instance","instance":"ci-bo","vmSize":"STANDARD_DS3_V2","owner":"bo","workspace":"vision"}
{"kind":"instance","instance":"ci-cy","vmSize":"Standard_E4s_v3","owner":"cy","computeId":"/subscriptions/S1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/nlp/computes/ci-cy"}
{"kind":"instance","instance":"ci-dee","vmSize":"Standard_Unknown_v9"}
{"kind":"state","instance":"ci-ana","at":"2026-03-01T22:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-ana","at":"2026-03-02T18:00:00Z","action":"stop","by":"curfew","reason":"schedule 'nightly'","nextStart":"2026-03-03T08:00:00Z"}
{"kind":"state","instance":"ci-ana","at":"2026-03-02T18:00:00Z","state":"Stopping"}
{"kind":"state","instance":"ci-ana","at":"2026-03-02T18:05:00Z","state":"Stopped"}
{"kind":"action","instance":"ci-ana","at":"2026-03-03T08:00:00Z","action":"Start","by":"curfew"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T08:00:00Z","state":"Starting"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T08:05:00Z","state":"Running"}
{"kind":"action","instance":"ci-ana","at":"2026-03-03T18:00:00Z","action":"stop","by":"curfew","nextStart":"2026-03-04T08:00:00Z"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T18:00:00Z","state":"Stopping"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T18:05:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-bo","at":"2026-03-02T09:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-bo","at":"2026-03-02T17:00:00Z","action":"stop","by":"user"}
{"kind":"state","instance":"ci-bo","at":"2026-03-02T17:00:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-bo","at":"2026-03-03T09:00:00Z","state":"Running"}
{"kind":"state","instance":"ci-bo","at":"2026-03-03T21:00:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-cy","at":"2026-03-02T08:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-cy","at":"2026-03-02T12:00:00Z","action":"stop","by":"curfew","reason":"idle 60 min"}
{"kind":"state","instance":"ci-cy","at":"2026-03-02T12:00:00Z","state":"Stopped"}
{"kind":"action","instance":"ci-cy","at":"2026-03-02T14:00:00Z","action":"start","by":"user"}
{"kind":"state","instance":"ci-cy","at":"2026-03-02T14:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-cy","at":"2026-03-02T20:00:00Z","action":"stop","by":"curfew","succeeded":false}
{"kind":"state","instance":"ci-dee","at":"2026-03-01T00:00:00Z","state":"Running"}
"#;

const PRICES: &str = r#"{"currency": "USD", "asOf": "test", "source": "test sheet",
  "prices": {"Standard_NC6s_v3": 3.0, "Standard_DS3_v2": 0.25, "Standard_E4s_v3": 0.5}}"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-cli-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("timeline.jsonl"), TIMELINE).unwrap();
    std::fs::write(dir.join("prices.json"), PRICES).unwrap();
    dir
}

fn report(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(dir)
        .args([
            "report",
            "--timeline",
            "timeline.jsonl",
            "--prices",
            "prices.json",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-04",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn text_by_instance_shows_rows_totals_and_the_unpriced_warning() {
    let dir = scratch("text");
    let out = ok(report(&dir, &[]));
    assert!(
        out.starts_with("Curfew cost report, 2026-03-02T00:00:00Z – 2026-03-04T00:00:00Z\n"),
        "{out}"
    );
    assert!(out.contains("prices: USD, test: test sheet"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // instance, instances, running h, spend, saved h, savings
    assert_eq!(
        row("ci-ana"),
        ["ci-ana", "1", "28.2", "84.50", "19.8", "59.50"]
    );
    assert_eq!(row("ci-bo"), ["ci-bo", "1", "20.0", "5.00", "0.0", "0.00"]);
    assert_eq!(row("ci-cy"), ["ci-cy", "1", "38.0", "19.00", "2.0", "1.00"]);
    assert_eq!(
        row("TOTAL"),
        ["TOTAL", "4", "134.2", "108.50", "21.8", "60.50"]
    );
    assert!(
        out.contains(
            "warning: no price for 1 instance(s), counted at 0: ci-dee (Standard_Unknown_v9)"
        ),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_by_owner_workspace_and_day() {
    let dir = scratch("csv");
    let out = ok(report(&dir, &["--format", "csv", "--by", "owner"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "owner,instances,running_hours,spend,saved_hours,savings,currency"
    );
    assert_eq!(lines[1], "ana,1,28.1667,84.50,19.8333,59.50,USD");
    assert_eq!(lines[2], "cy,1,38.0000,19.00,2.0000,1.00,USD");
    assert_eq!(lines[3], "bo,1,20.0000,5.00,0.0000,0.00,USD");
    assert_eq!(lines[4], "(unknown),1,48.0000,0.00,0.0000,0.00,USD");
    let out = ok(report(&dir, &["--format", "csv", "--by", "workspace"]));
    assert!(
        out.contains("\nvision,2,48.1667,89.50,19.8333,59.50,USD\n"),
        "{out}"
    );
    let out = ok(report(&dir, &["--format", "csv", "--by", "day"]));
    assert_eq!(
        out,
        "date,running_hours,spend,saved_hours,savings,currency\n\
         2026-03-02,64.0833,63.25,7.9167,18.75,USD\n\
         2026-03-03,70.0833,45.25,13.9167,41.75,USD\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_has_totals_groups_days_instances_and_budgets() {
    let dir = scratch("json");
    std::fs::write(
        dir.join("budgets.json"),
        r#"[{"name":"vision","scope":{"workspace":"vision"},"amount":100},
            {"name":"everyone","scope":"all","amount":100,"thresholds":[100]}]"#,
    )
    .unwrap();
    let out = ok(report(
        &dir,
        &[
            "--format",
            "json",
            "--by",
            "workspace",
            "--budgets",
            "budgets.json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["by"], "workspace");
    assert_eq!(v["currency"], "USD");
    let close = |x: &serde_json::Value, want: f64| (x.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&v["totals"]["spend"], 108.5), "{}", v["totals"]);
    assert!(close(&v["totals"]["savings"], 60.5), "{}", v["totals"]);
    assert_eq!(v["groups"][0]["key"], "vision");
    assert_eq!(v["daily"].as_array().unwrap().len(), 2);
    assert_eq!(v["daily"][0]["date"], "2026-03-02");
    assert_eq!(v["instances"].as_array().unwrap().len(), 4);
    assert_eq!(v["unpriced"][0], "ci-dee (Standard_Unknown_v9)");
    assert_eq!(v["budgets"][0]["exceeded"][0]["threshold"], 80.0);
    assert_eq!(v["budgets"][0]["exceeded"][0]["scope"], "workspace:vision");
    assert_eq!(
        v["budgets"][1]["exceeded"][0]["dedupKey"],
        "budget/everyone/2026-03-02T00:00:00+00:00/100"
    );
    // Text shows the budget lines too.
    let text = ok(report(&dir, &["--budgets", "budgets.json"]));
    assert!(
        text.contains(
            "budget vision (workspace:vision): 89.50 of 100.00 USD = 89.5% — exceeded 80%"
        ),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn html_is_one_self_contained_page_with_the_chart() {
    let dir = scratch("html");
    let out = ok(report(
        &dir,
        &[
            "--format",
            "html",
            "--by",
            "owner",
            "--output",
            "report.html",
        ],
    ));
    assert!(out.is_empty());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg id=\"spend-savings-chart\""));
    assert_eq!(
        html.matches("class=\"spend\"").count(),
        3,
        "2 days + legend"
    );
    assert_eq!(
        html.matches("class=\"savings\"").count(),
        3,
        "2 days + legend"
    );
    assert!(html.contains("2026-03-02: spend 63.25 USD"));
    assert!(html.contains("2026-03-03: saved 41.75 USD"));
    assert!(html.contains("<h2>By owner</h2>"));
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "found {banned}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_window_and_shipped_prices() {
    let dir = scratch("defaults");
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args(["report", "--timeline", "timeline.jsonl", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    // From the first record's day to the last record.
    assert_eq!(v["window"]["from"], "2026-03-01T00:00:00Z");
    assert_eq!(v["window"]["to"], "2026-03-03T21:00:00Z");
    assert!(v["prices"].as_str().unwrap().contains("NOT fetched"));
    assert!(v["totals"]["spend"].as_f64().unwrap() > 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_inputs_exit_2_naming_the_place() {
    let dir = scratch("errors");
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"kind\":\"state\",\"instance\":\"a\",\"at\":\"noon\",\"state\":\"Running\"}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args(["report", "--timeline", "bad.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl: line 1: at:"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args([
            "report",
            "--timeline",
            "timeline.jsonl",
            "--from",
            "2026-03-04",
            "--to",
            "2026-03-01",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not after"));
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args(["report", "--timeline", "missing.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 11: `curfew report --config F` reads the timeline from the governor's store (every
/// governor's records), with the settings' prices: the same figures as the file.
#[test]
fn the_report_reads_the_store_named_by_the_settings() {
    let dir = scratch("store");
    let db = dir.join("state.sqlite");
    // The store holds the timeline the governors wrote (here, the fleet's records).
    let records: Vec<curfew_store::TimelineRecord> = TIMELINE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            curfew_store::TimelineRecord {
                at: record["at"]
                    .as_str()
                    .unwrap_or("2026-03-01T00:00:00Z")
                    .parse()
                    .unwrap(),
                instance: record["instance"].as_str().unwrap().to_owned(),
                record,
            }
        })
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let store = curfew_store::SqliteStore::open(&db).await.unwrap();
            curfew_store::StateStore::append_timeline(&store, &records)
                .await
                .unwrap();
        });
    std::fs::write(
        dir.join("curfew.yaml"),
        format!(
            "arm:\n  scopes: [/subscriptions/00000000-0000-0000-0000-000000000000]\n  credential: token-env:NO_TOKEN\nstore:\n  sqlite: {}\nprices: prices.json\n",
            db.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .env_remove("CURFEW_CONFIG")
        .env("NO_TOKEN", "unused: the report reads no ARM")
        .args([
            "report",
            "--config",
            "curfew.yaml",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-04",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    let close = |x: &serde_json::Value, want: f64| (x.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&v["totals"]["spend"], 108.5), "{}", v["totals"]);
    assert!(close(&v["totals"]["savings"], 60.5), "{}", v["totals"]);
    // One source or the other.
    let both = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args([
            "report",
            "--config",
            "curfew.yaml",
            "--timeline",
            "timeline.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
