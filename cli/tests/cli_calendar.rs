//! `curfew plan --calendar / --policy / --overrides`: the effective plan, run as a user runs
//! the binary (README "Calendars"; docs/calendars.md).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn rows(args: &[&str]) -> Vec<Value> {
    let out = curfew(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

const WINDOW: [&str; 4] = [
    "--from",
    "2026-12-22T00:00:00Z",
    "--to",
    "2027-01-06T00:00:00Z",
];

fn plan(extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "plan",
        "--inventory",
        "examples/fleet.json",
        "--format",
        "json",
    ];
    args.extend(WINDOW);
    args.extend(extra);
    rows(&args)
}

/// (instance, schedule, action, at) of a row.
fn key(r: &Value) -> (String, i64, String, String) {
    (
        r["instance"].as_str().unwrap().to_string(),
        r["schedule"].as_i64().unwrap_or(-1),
        r["action"].as_str().unwrap().to_string(),
        r["at"].as_str().unwrap().to_string(),
    )
}

/// The README interface: a lone `.ics` is a holiday calendar for every instance. Suppressed
/// rows stay listed with `suppressedBy`; what fires is exactly the plain plan less them.
#[test]
fn a_lone_ics_calendar_skips_starts_on_each_instances_local_days() {
    let plain = plan(&[]);
    let with = plan(&["--calendar", "testdata/calendars/nz-holidays.ics"]);
    // The plain plan's rows are as they were: no `source`, nothing suppressed.
    assert!(plain
        .iter()
        .all(|r| r.get("source").is_none() && r.get("suppressedBy").is_none()));
    assert_eq!(
        with.iter().map(key).collect::<Vec<_>>(),
        plain.iter().map(key).collect::<Vec<_>>(),
        "every plain row is listed, in order"
    );
    let suppressed: Vec<&Value> = with
        .iter()
        .filter(|r| r.get("suppressedBy").is_some())
        .collect();
    assert!(!suppressed.is_empty());
    for r in &suppressed {
        assert_eq!(r["suppressedBy"], "calendar:nz-holidays");
        assert_eq!(
            r["action"], "Start",
            "a holiday calendar never skips a stop: {r}"
        );
        // The instance's local day (the row's local time) is in the summer shutdown.
        let local = &r["local"].as_str().unwrap()[..10];
        assert!(("2026-12-24"..="2027-01-04").contains(&local), "{r}");
    }
    for r in with.iter().filter(|r| r.get("suppressedBy").is_none()) {
        let local = &r["local"].as_str().unwrap()[..10];
        if r["action"] == "Start" {
            assert!(!("2026-12-24"..="2027-01-04").contains(&local), "{r}");
        }
        assert_eq!(r["source"], "native");
    }
}

#[test]
fn the_effective_plan_names_each_rows_source() {
    let with = plan(&[
        "--calendar",
        "testdata/calendars/effective-set.json",
        "--overrides",
        "testdata/calendars/overrides.json",
        "--policy",
        "testdata/policies/default-stop-schedule-2200-pst.json",
    ]);
    let sources: std::collections::BTreeSet<&str> =
        with.iter().map(|r| r["source"].as_str().unwrap()).collect();
    for s in [
        "native",
        "override",
        "policy:default-stop-schedule-2200-pst",
        "calendar:xmas-off",
    ] {
        assert!(sources.contains(s), "{s} in {sources:?}");
    }
    // The off calendar stops gpu-sydney-01 at 00:00 AEDT on 25 December, and its starts that
    // day do not fire.
    let off: Vec<&Value> = with
        .iter()
        .filter(|r| r["source"] == "calendar:xmas-off")
        .collect();
    assert_eq!(off.len(), 1, "{off:?}");
    assert_eq!(off[0]["instance"], "gpu-sydney-01");
    assert_eq!(off[0]["at"], "2026-12-24T13:00:00Z");
    assert_eq!(off[0]["action"], "Stop");
    assert!(off[0].get("schedule").is_none());
    // The override replaced gpu-seattle-01's native schedules; its keep-running exception
    // suppresses the override's stop inside the period, and no later one.
    let seattle: Vec<&Value> = with
        .iter()
        .filter(|r| r["instance"] == "gpu-seattle-01")
        .collect();
    assert!(
        seattle.iter().all(|r| r["source"] == "override"),
        "{seattle:?}"
    );
    for r in &seattle {
        let at = r["at"].as_str().unwrap();
        let inside = ("2026-12-23T00:00:00Z".."2026-12-24T12:00:00Z").contains(&at);
        assert_eq!(r.get("suppressedBy").is_some(), inside, "{r}");
    }
}

#[test]
fn bad_calendars_are_all_named_and_refused() {
    let dir = std::env::temp_dir().join(format!("curfew-cal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.json");
    let b = dir.join("b.ics");
    std::fs::write(&a, r#"{"dates": ["2026-02-30"], "yearly": ["13-01"]}"#).unwrap();
    std::fs::write(&b, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Odd\r\nDTSTART;TZID=Nowhere/City:20260101T100000\r\nDTEND;TZID=Nowhere/City:20260101T110000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").unwrap();
    let mut args = vec!["plan", "--inventory", "examples/fleet.json"];
    args.extend(WINDOW);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    args.extend(["--calendar", a, "--calendar", b]);
    let out = curfew(&args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in ["dates[0]", "yearly[0]", "Nowhere/City", "VEVENT 0 (Odd)"] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `curfew exception`: a keep-running and an off exception written into a set file, which
/// `plan --calendar` then applies; a past one is refused (exit 1); `prune` removes ended ones.
#[test]
fn exceptions_are_calendar_entries_with_an_expiry() {
    let dir = std::env::temp_dir().join(format!("curfew-exc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("calendars.json");
    let f = file.to_str().unwrap();
    let now = ["--now", "2026-12-22T00:00:00Z", "--file", f];
    let run = |args: &[&str]| curfew(&[&["exception"], args, &now].concat());
    let out = run(&[
        "keep-running",
        "gpu-seattle-01",
        "--until",
        "2026-12-24T02:00:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "off",
        "gpu-sydney-01",
        "--from",
        "2026-12-28",
        "--to",
        "2027-01-01",
    ]);
    assert!(out.status.success());
    let out = run(&[
        "keep-running",
        "gpu-seattle-01",
        "--until",
        "2026-12-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        run(&["off", "x", "--from", "28 Dec", "--to", "2027-01-01"])
            .status
            .code(),
        Some(2)
    );
    let rows = plan(&["--calendar", f]);
    let by = |r: &&Value| r["suppressedBy"].as_str().unwrap_or("").to_string();
    let seattle_stops: Vec<String> = rows
        .iter()
        .filter(|r| r["instance"] == "gpu-seattle-01" && r["action"] == "Stop")
        .filter(|r| r["at"].as_str().unwrap() < "2026-12-24T02:00:00Z")
        .map(|r| by(&r))
        .collect();
    assert!(!seattle_stops.is_empty());
    assert!(seattle_stops
        .iter()
        .all(|b| b == "calendar:exception-gpu-seattle-01-1"));
    assert!(rows
        .iter()
        .any(|r| r["source"] == "calendar:exception-gpu-sydney-01-1"));
    let out = curfew(&[
        "exception",
        "prune",
        "--now",
        "2027-01-10T00:00:00Z",
        "--file",
        f,
    ]);
    assert!(out.status.success());
    let set: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(set["calendars"].as_array().unwrap().is_empty(), "{set}");
    let _ = std::fs::remove_dir_all(&dir);
}
