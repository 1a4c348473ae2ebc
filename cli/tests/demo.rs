//! `curfew demo` runs a simulated week end to end: no Azure, no network beyond loopback.

use std::process::Command;

#[test]
fn demo_runs_a_week_with_dismissals_catch_up_and_no_duplicates() {
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .args(["demo"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Summary:"))
        .expect("a summary line");
    assert!(summary.contains(" 0 duplicate(s)"), "{summary}");
    assert!(
        summary.contains("dismissals: 2 honoured, 1 refused"),
        "{summary}"
    );
    assert!(
        summary.contains("(1 as repair after the outage,"),
        "{summary}"
    );
    // The snooze moved the first Seattle stop from 02:00Z to 03:00Z; the link skipped Sydney's.
    assert!(
        stdout.contains("Thu 10-29 03:00Z  ACT    gpu-seattle-01     Stop"),
        "{stdout}"
    );
    assert!(stdout
        .contains("the owner clicks 'skip' in the notice: stop of 2026-10-29 09:00 UTC skipped"));
    assert!(
        !stdout.contains("Thu 10-29 09:00Z  ACT    gpu-sydney-01"),
        "the skipped stop did not run"
    );
    // Across the US fall-back: the 01:30 Pacific stop fires once (08:30Z), not again at 09:30Z.
    assert!(stdout.contains("Sun 11-01 08:30Z  ACT    gpu-portland-fold  Stop"));
    assert!(!stdout.contains("Sun 11-01 09:30Z  ACT    gpu-portland-fold"));
    // The 19:00 Pacific stop is 02:00Z under PDT and 03:00Z under PST.
    assert!(stdout.contains("Mon 11-02 03:00Z"), "{stdout}");
    // Idle shutdown: a kernel open all evening keeps gpu-no-schedule up; 30 min after the last
    // activity (22:00Z) it is warned twice and stopped at 22:30Z.
    assert!(summary.contains("1 idle shutdown(s)"), "{summary}");
    assert!(
        stdout.contains("Thu 10-29 22:00Z  warn   gpu-no-schedule    stop in 30 min (at 22:30Z)")
    );
    assert!(
        stdout.contains("Thu 10-29 22:30Z  ACT    gpu-no-schedule    Stop — stop: idle shutdown")
    );
    // Budgets: the research workspace's 400 USD monthly budget is crossed at 80 % and 100 % in
    // October and again in November (month-to-date), one event each, never repeated.
    assert!(summary.contains("4 budget alert(s)"), "{summary}");
    assert!(stdout.contains("alert  budget 'research-gpus' (workspace:ws-research): 80 % of 400.00 USD spent in 2026-10"));
    // It ends with the cost report.
    assert!(stdout.contains("Curfew cost report"));
    assert!(stdout.lines().any(|l| l.starts_with("TOTAL")));
}
