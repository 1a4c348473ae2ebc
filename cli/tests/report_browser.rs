//! The HTML cost report rendered by a real browser: headless Chromium screenshots the page
//! written by `curfew report --format html` and dumps its DOM; the chart must be there and the
//! screenshot must be far from blank. Without Chromium the test prints a loud SKIPPED notice
//! and passes, unless `CURFEW_REQUIRE_CHROMIUM=1` (CI installs Debian's `chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;

const TIMELINE: &str = r#"{"kind":"instance","instance":"ci-ana","vmSize":"Standard_NC6s_v3","owner":"ana","workspace":"vision"}
{"kind":"instance","instance":"ci-bo","vmSize":"Standard_DS3_v2","owner":"bo","workspace":"nlp"}
{"kind":"state","instance":"ci-ana","at":"2026-03-01T08:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-ana","at":"2026-03-01T18:00:00Z","action":"stop","by":"curfew","nextStart":"2026-03-02T08:00:00Z"}
{"kind":"state","instance":"ci-ana","at":"2026-03-01T18:00:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-ana","at":"2026-03-02T08:00:00Z","state":"Running"}
{"kind":"action","instance":"ci-ana","at":"2026-03-02T18:00:00Z","action":"stop","by":"curfew","nextStart":"2026-03-03T08:00:00Z"}
{"kind":"state","instance":"ci-ana","at":"2026-03-02T18:00:00Z","state":"Stopped"}
{"kind":"state","instance":"ci-ana","at":"2026-03-03T08:00:00Z","state":"Running"}
{"kind":"state","instance":"ci-bo","at":"2026-03-01T00:00:00Z","state":"Running"}
"#;

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn chromium(browser: &Path, profile: &Path, extra: &[String], url: &str) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--timeout=30000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

#[test]
fn chromium_renders_the_report_with_its_chart() {
    let Some(browser) = find_chromium() else {
        let required = std::env::var("CURFEW_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        eprintln!("\n************************************************************");
        eprintln!("SKIPPED report_browser: no chromium on PATH (apt-get install chromium)");
        eprintln!("************************************************************\n");
        assert!(
            !required,
            "CURFEW_REQUIRE_CHROMIUM=1 but chromium is not installed"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("curfew-report-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("timeline.jsonl"), TIMELINE).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_curfew"))
        .current_dir(&dir)
        .args([
            "report",
            "--timeline",
            "timeline.jsonl",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-04",
            "--by",
            "owner",
            "--format",
            "html",
            "--output",
            "report.html",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.join("blank.html"),
        "<!DOCTYPE html><html><body></body></html>",
    )
    .unwrap();

    // The DOM as the browser parsed it: the chart and its bars are there.
    let url = format!("file://{}", dir.join("report.html").display());
    let dom = chromium(
        &browser,
        &dir.join("profile-dom"),
        &["--dump-dom".into()],
        &url,
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_text.contains("<svg id=\"spend-savings-chart\""),
        "{dom_text}"
    );
    assert!(
        dom_text.matches("class=\"spend\"").count() >= 3,
        "{dom_text}"
    );
    assert!(dom_text.contains("Saved by Curfew"));

    // Screenshots of the report and of a blank page: the report is far from blank.
    let shot = |name: &str, page: &str| -> Vec<u8> {
        let png = dir.join(format!("{name}.png"));
        let out = chromium(
            &browser,
            &dir.join(format!("profile-{name}")),
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1200,900".into(),
            ],
            &format!("file://{}", dir.join(page).display()),
        );
        std::fs::read(&png).unwrap_or_else(|e| {
            panic!(
                "{name}: no screenshot ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let report = shot("report", "report.html");
    let blank = shot("blank", "blank.html");
    assert_eq!(png_size(&report), (1200, 900));
    assert!(
        report.len() > 4 * blank.len() && report.len() > 20_000,
        "report screenshot {} bytes vs blank {} bytes",
        report.len(),
        blank.len()
    );
    eprintln!(
        "report_browser: {} rendered {}, screenshot {} bytes (blank page {} bytes)",
        browser.display(),
        dir.join("report.html").display(),
        report.len(),
        blank.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
