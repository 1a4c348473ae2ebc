//! Every real payload in `testdata/arm` and `testdata/sdk` read through the engine, and every
//! schedule in them round-tripped through `normalize` without changing when it fires.
//! A fixture added without a test here fails `every_fixture_is_covered`.

use chrono::{DateTime, Utc};
use curfew_engine::inventory::{self, Inventory};
use curfew_engine::schedule::{compile, normalize};
use curfew_engine::{fleet, Action, Severity};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(dir)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(dir: &str, name: &str) -> Value {
    serde_json::from_str(&read(&data(dir).join(name))).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn inv_of(v: &Value, name: &str) -> Inventory {
    inventory::parse(&v.to_string(), name).unwrap()
}

/// Each schedule compiles without errors, and its normalised form is canonical and fires the same.
fn assert_round_trip(inv: &Inventory) {
    for inst in &inv.instances {
        for (i, entry) in inst.schedules.iter().enumerate() {
            let c = compile(entry);
            assert!(
                c.problems.iter().all(|p| p.severity != Severity::Error),
                "{} #{i}: {:?}",
                inst.name,
                c.problems
            );
            let n = normalize(entry);
            assert_eq!(normalize(&n), n, "normalize is idempotent");
            let (a, b) = (c.schedule.unwrap(), compile(&n).schedule.unwrap());
            let (from, to) = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
            let fa: Vec<_> = a.occurrences(from, to).collect();
            let fb: Vec<_> = b.occurrences(from, to).collect();
            assert!(!fa.is_empty(), "{} #{i} fires in 2026", inst.name);
            assert_eq!(fa, fb, "{} #{i}: normalised form fires the same", inst.name);
        }
    }
}

fn first_fire(inv: &Inventory, instance: usize, schedule: usize) -> (Action, DateTime<Utc>) {
    let s = compile(&inv.instances[instance].schedules[schedule])
        .schedule
        .unwrap();
    (
        s.action,
        s.next_after(utc("2026-01-01T00:00:00Z")).unwrap().at,
    )
}

#[test]
fn arm_get_compute_instance_reads_owner_state_and_no_schedules() {
    for f in [
        "2025-12-01_Compute_get_ComputeInstance.json",
        "2025-10-01-preview_Compute_get_ComputeInstance.json",
    ] {
        let body = &json("arm", f)["responses"]["200"]["body"];
        let inv = inv_of(body, f);
        assert_eq!(inv.instances.len(), 1, "{f}");
        let i = &inv.instances[0];
        assert_eq!(i.name, "compute123");
        assert_eq!(i.state.as_deref(), Some("Running"));
        assert_eq!(i.vm_size.as_deref(), Some("STANDARD_NC6"));
        assert_eq!(
            i.assigned_user.as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        assert_eq!(
            i.created_by.as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        assert!(i.id.as_deref().unwrap().ends_with("/computes/compute123"));
        assert!(i.schedules.is_empty(), "schedules: null reads as none");
        assert!(inv.problems.is_empty());
    }
}

#[test]
fn arm_create_with_schedules_plans_the_pacific_stop() {
    let f = "2025-04-01_Compute_createOrUpdate_ComputeInstanceWithSchedules.json";
    let mut body = json("arm", f)["parameters"]["parameters"].clone();
    body["name"] = Value::from("compute123");
    let inv = inv_of(&body, f);
    assert_round_trip(&inv);
    // 18:00 Pacific on 2025-12-31 (PST, −8) is 02:00Z on 2026-01-01.
    assert_eq!(
        first_fire(&inv, 0, 0),
        (Action::Stop, utc("2026-01-01T02:00:00Z"))
    );
    // The responses carry only provisioning state; they read as instances without schedules.
    for code in ["200", "201"] {
        let inv = inv_of(&json("arm", f)["responses"][code]["body"], f);
        assert_eq!(inv.instances.len(), 1);
        assert!(inv.instances[0].schedules.is_empty());
    }
}

#[test]
fn arm_list_skips_and_counts_other_compute_types() {
    let f = "2025-09-01_Compute_list.json";
    let body = &json("arm", f)["responses"]["200"]["body"];
    assert_eq!(body["nextLink"], "nextLink");
    let inv = inv_of(body, f);
    assert!(inv.instances.is_empty());
    assert_eq!(inv.skipped.get("AKS"), Some(&2));
}

#[test]
fn arm_actions_answer_202_with_a_polling_header() {
    for f in [
        "2025-04-01_Compute_start.json",
        "2025-04-01_Compute_restart.json",
        "2025-09-01_Compute_stop.json",
        "2026-07-01_Compute_stop.json",
    ] {
        let h = &json("arm", f)["responses"]["202"]["headers"];
        assert!(
            h.get("Azure-AsyncOperation").is_some() || h.get("Location").is_some(),
            "{f}: {h}"
        );
    }
    let idle = json(
        "arm",
        "2024-10-01-preview_Compute_updateIdleShutdownSetting.json",
    );
    assert_eq!(
        idle["parameters"]["parameters"]["idleTimeBeforeShutdown"],
        "PT120M"
    );
}

#[test]
fn sdk_payloads_plan_as_the_sdk_meant() {
    let cases: [(&str, &[(Action, &str)]); 4] = [
        // Friday 15:30 India (+05:30) = 10:00Z; first Friday of 2026 is 01-02.
        (
            "01_weekly_fri_1530_ist_start",
            &[(Action::Start, "2026-01-02T10:00:00Z")],
        ),
        (
            "03_cron_1800_stop_pst",
            &[(Action::Stop, "2026-01-01T02:00:00Z")],
        ),
        (
            "04_arm_sample_cron_stop_start_recurrence_utc",
            &[
                (Action::Stop, "2026-01-01T18:00:00Z"),
                (Action::Start, "2026-01-01T08:00:00Z"),
                (Action::Stop, "2026-01-01T17:00:00Z"),
            ],
        ),
        ("07_idle_30min_docs_string", &[]),
    ];
    for (stem, expect) in cases {
        let compute = inv_of(&json("sdk", &format!("{stem}.compute.json")), stem);
        let schedules = inventory::parse(
            &read(&data("sdk").join(format!("{stem}.schedules.json"))),
            stem,
        )
        .unwrap();
        assert_eq!(compute.instances.len(), 1, "{stem}");
        let got: Vec<(Action, DateTime<Utc>)> = (0..compute.instances[0].schedules.len())
            .map(|i| first_fire(&compute, 0, i))
            .collect();
        let want: Vec<(Action, DateTime<Utc>)> = expect.iter().map(|(a, t)| (*a, utc(t))).collect();
        assert_eq!(got, want, "{stem}");
        assert_round_trip(&compute);
        // The bare schedules object holds the same entries as the compute body.
        let from_schedules: Vec<Value> = schedules
            .instances
            .first()
            .map(|i| i.schedules.clone())
            .unwrap_or_default();
        assert_eq!(from_schedules, compute.instances[0].schedules, "{stem}");
        // The request names the compute in its URL.
        let req = json("sdk", &format!("{stem}.request.json"));
        assert_eq!(req["method"], "PUT");
        let url = req["url"].as_str().unwrap();
        assert!(
            url.contains("/computes/") && url.contains("api-version="),
            "{url}"
        );
    }
    let idle = inv_of(&json("sdk", "07_idle_30min_docs_string.compute.json"), "07");
    assert_eq!(
        idle.instances[0].idle_time_before_shutdown.as_deref(),
        Some("PT30M")
    );
}

#[test]
fn cli_yaml_reads_like_its_arm_equivalent() {
    let inv = inventory::parse(
        &read(&data("sdk").join("create-instance.yml")),
        "create-instance.yml",
    )
    .unwrap();
    assert_eq!(inv.instances.len(), 1);
    let i = &inv.instances[0];
    assert_eq!(i.name, "schedule-example-i");
    assert_eq!(i.vm_size.as_deref(), Some("STANDARD_DS3_v2"));
    assert_round_trip(&inv);
    let yaml = normalize(&i.schedules[0]);
    let sdk =
        normalize(&json("sdk", "03_cron_1800_stop_pst.schedules.json")["computeStartStop"][0]);
    assert_eq!(
        yaml, sdk,
        "the CLI YAML and the SDK's JSON say the same thing"
    );
    let f = fleet::compile(&inv);
    assert!(f.diagnostics.is_empty());
}

#[test]
fn every_fixture_is_covered() {
    let covered: BTreeSet<&str> = [
        "2024-10-01-preview_Compute_updateIdleShutdownSetting.json",
        "2025-04-01_Compute_createOrUpdate_ComputeInstanceWithSchedules.json",
        "2025-04-01_Compute_restart.json",
        "2025-04-01_Compute_start.json",
        "2025-09-01_Compute_list.json",
        "2025-09-01_Compute_stop.json",
        "2025-10-01-preview_Compute_get_ComputeInstance.json",
        "2025-12-01_Compute_get_ComputeInstance.json",
        "2026-07-01_Compute_stop.json",
        "01_weekly_fri_1530_ist_start.compute.json",
        "01_weekly_fri_1530_ist_start.request.json",
        "01_weekly_fri_1530_ist_start.schedules.json",
        "03_cron_1800_stop_pst.compute.json",
        "03_cron_1800_stop_pst.request.json",
        "03_cron_1800_stop_pst.schedules.json",
        "04_arm_sample_cron_stop_start_recurrence_utc.compute.json",
        "04_arm_sample_cron_stop_start_recurrence_utc.request.json",
        "04_arm_sample_cron_stop_start_recurrence_utc.schedules.json",
        "07_idle_30min_docs_string.compute.json",
        "07_idle_30min_docs_string.request.json",
        "07_idle_30min_docs_string.schedules.json",
        "create-instance.yml",
    ]
    .into_iter()
    .collect();
    for dir in ["arm", "sdk"] {
        for entry in std::fs::read_dir(data(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                covered.contains(name.as_str()),
                "testdata/{dir}/{name} has no test"
            );
        }
    }
}

#[test]
fn windows_ids_offered_by_the_sdk_all_resolve() {
    let csv = read(&data("timezones").join("azure_ai_ml_1.35.2_TimeZone_enum.csv"));
    let mut n = 0;
    for line in csv.lines().skip(1) {
        let id = line.split(',').nth(1).unwrap();
        assert!(curfew_engine::tz::resolve(id).is_some(), "{id}");
        n += 1;
    }
    assert_eq!(n, 131);
    // And every CLDR 001 row, through the table compiled into the binary.
    let cldr = read(&data("timezones").join("windows_zones_cldr48.csv"));
    for line in cldr.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols[1] == "001" {
            assert!(curfew_engine::tz::resolve(cols[0]).is_some(), "{}", cols[0]);
        }
    }
}

/// What each compute of an input reads as, via `items` (all at once) or `stream_items` (in
/// runs of `batch`, put back in order by `Items::first`), as debug text to compare.
fn read_all(text: &str, batch: Option<usize>) -> Result<Vec<String>, String> {
    let mut runs = Vec::new();
    match batch {
        None => runs.push(inventory::items(text, "fleet.json").map_err(|e| e.to_string())?),
        Some(b) => inventory::stream_items(text, "fleet.json", b, &mut |run| runs.push(run))
            .map_err(|e| e.to_string())?,
    }
    let mut out = Vec::new();
    let mut expected_first = 0;
    for run in &runs {
        assert_eq!(
            run.first(),
            expected_first,
            "runs arrive in order, without gaps"
        );
        expected_first += run.len();
        out.extend((0..run.len()).map(|i| format!("{:?}", run.read(i))));
    }
    Ok(out)
}

#[test]
fn streamed_split_reads_exactly_what_the_whole_split_reads() {
    let mut inputs: Vec<String> = ["arm", "sdk"]
        .iter()
        .flat_map(|d| std::fs::read_dir(data(d)).unwrap())
        .map(|e| read(&e.unwrap().path()))
        .collect();
    let list = read(&data("arm").join("2025-09-01_Compute_list.json"));
    let computes: Value = serde_json::from_str(&list).unwrap();
    let value = computes["value"].clone();
    // Shapes around the list: an array, a list whose `value` comes after other keys, a null or
    // empty list, a bad compute among good ones (named by its path), and broken inputs.
    inputs.push(value.to_string());
    inputs.push(format!(
        "{{\"nextLink\":null,\"x\":[1,{{}}],\"value\":{value}}}"
    ));
    inputs.push(r#"{"value":null,"computeStartStop":[]}"#.to_string());
    inputs.push(r#"{"value":[]}"#.to_string());
    inputs.push(format!(
        "[{},{{\"properties\":{{\"computeType\":5}}}},{}]",
        value[0], value[0]
    ));
    inputs.push(format!("{{\"value\":{value},\"value\":[]}}"));
    inputs.push(format!("{{\"value\":{value}"));
    inputs.push(format!("{value} trailing"));
    inputs.push("name: gpu\nschedules: null\n".to_string());
    for text in &inputs {
        let whole = read_all(text, None);
        for batch in [1, 2, 1024] {
            let streamed = read_all(text, Some(batch));
            match (&whole, &streamed) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "batch {batch}: {text}"),
                (Err(_), Err(_)) => {}
                _ => panic!("batch {batch}: {whole:?} vs {streamed:?} for {text}"),
            }
        }
    }
}

/// Compiles an entry from a `Value` and from a borrowed `Node`; both must say the same.
fn assert_same_compile(text: &str) {
    let value: Value = serde_json::from_str(text).unwrap();
    let node: curfew_engine::json::Node<'_> = serde_json::from_str(text).unwrap();
    assert_eq!(
        format!("{:?}", compile(&value)),
        format!("{:?}", compile(&node)),
        "{text}"
    );
}

#[test]
fn entries_compile_the_same_from_a_value_and_from_a_borrowed_node() {
    let mut entries = Vec::new();
    for dir in ["arm", "sdk"] {
        for e in std::fs::read_dir(data(dir)).unwrap() {
            let path = e.unwrap().path();
            if let Ok(inv) = inventory::parse(&read(&path), "fixture.json") {
                for inst in inv.instances {
                    entries.extend(inst.schedules.iter().map(Value::to_string));
                }
            }
        }
    }
    assert!(entries.len() >= 10, "fixtures hold schedules");
    // Every kind of problem the compiler reports, so that messages match word for word.
    entries.extend(
        [
            r#"5"#,
            r#"{"action":5,"status":"Paused","triggerType":"Cron","cron":{"expression":"61 * * * *"}}"#,
            r#"{"action":"Stop","triggerType":"cron","cron":{"expression":"0 18 * * *","timeZone":{"z":1,"a":[2]},"startTime":"bad"}}"#,
            r#"{"action":"start","triggerType":"Cron","cron":{"triggerType":"Recurrence","expression":"0 7 * * 1-5","timeZone":"Nowhere"}}"#,
            r#"{"action":"Stop","cron":{"expression":"0 1 * * *"},"recurrence":{"frequency":"Day"}}"#,
            r#"{"action":"Stop","triggerType":"Recurrence","recurrence":{"frequency":"Hour","interval":"x","schedule":{"hours":[1],"minutes":[]}}}"#,
            r#"{"action":"Stop","triggerType":"Recurrence","recurrence":{"frequency":"Minute","interval":15,"schedule":{"hours":null,"minutes":[],"weekDays":[]}}}"#,
            r#"{"action":"Stop","triggerType":"Recurrence","recurrence":{"frequency":"Week","interval":2,"schedule":{"hours":[25,"7"],"minutes":"0","weekDays":["Funday",3,"monday"],"monthDays":[1]}}}"#,
            r#"{"action":"Stop","triggerType":"Recurrence","recurrence":{"frequency":"Month","timeZone":"India Standard Time","startTime":"2026-01-31 09:30:00","schedule":{"hours":[9],"minutes":[30],"monthDays":[29,30,31]}}}"#,
            r#"{"action":"Stop","action":"Start","triggerType":"Recurrence","recurrence":{"frequency":"Fortnight"}}"#,
            r#"{"action":"Stop","triggerType":"Cron","cron":{"expression":"0 \u0031 * * *","timeZone":"W. Europe Standard Time"}}"#,
        ]
        .map(str::to_string),
    );
    for text in &entries {
        assert_same_compile(text);
    }
}
