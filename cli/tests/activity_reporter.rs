//! The on-instance activity reporter (`scripts/reporter/curfew-activity-reporter.sh`) in
//! `--once --dry-run` mode, with `curl`, `docker`, `who`, `ss` and `pgrep` replaced by shims on
//! `PATH`: the JSON it prints is exactly the schema the engine reads, and the signature header
//! is the HMAC-SHA256 of `<timestamp>.<body>`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/reporter/curfew-activity-reporter.sh")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-reporter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shim(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Shims that describe a busy instance: 2 kernels, 1 terminal, 2 sessions, 2 SSH logins,
/// one VS Code server with a connection (another without), one Azure ML run process and one run
/// container, and an RStudio container plus an ignored sidecar.
fn busy_shims(dir: &Path) {
    let log = dir.join("curl.log");
    shim(
        dir,
        "curl",
        &format!(
            r#"printf '%s\n' "$*" >> '{}'
case "$*" in
  */api/kernels*) echo '[{{"id":"k1","execution_state":"idle"}},{{"id":"k2","execution_state":"busy"}}]' ;;
  */api/terminals*) echo '[{{"name":"1","last_activity":"2026-03-02T08:00:00Z"}}]' ;;
  */api/sessions*) echo '[{{"id":"s1","kernel":{{"id":"k1"}}}},{{"id":"s2","kernel":{{"id":"k2"}}}}]' ;;
  *) exit 22 ;;
esac"#,
            log.display()
        ),
    );
    shim(
        dir,
        "docker",
        r#"[[ "$1" == ps ]] || exit 1
printf 'rstudio\tghcr.io/azure/rstudio-workbench:latest\n'
printf 'job-1234\tmcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\n'
printf 'sidecar\tbusybox\n'"#,
    );
    shim(
        dir,
        "who",
        r#"echo 'azureuser pts/0 2026-03-02 08:00 (10.0.0.5)'
echo 'azureuser pts/1 2026-03-02 08:10 (10.0.0.5)'"#,
    );
    shim(
        dir,
        "ss",
        r#"case "$*" in
  *-Htnp*) echo 'ESTAB 0 0 10.0.0.4:8000 10.0.0.9:51000 users:(("node",pid=4242,fd=20))' ;;
  *sport*) echo 'ESTAB 0 0 10.0.0.4:50000 10.0.0.5:40000' ;;
esac"#,
    );
    shim(
        dir,
        "pgrep",
        r#"case "$*" in
  *vscode*) printf '4242\n4343\n' ;;
  *-fc*) echo 1 ;;
  *) exit 1 ;;
esac"#,
    );
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("CURFEW_REPORTER_CONFIG", dir.join("none.env"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn header<'a>(stderr: &'a str, name: &str) -> &'a str {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {stderr}"))
}

#[test]
fn dry_run_prints_the_documented_report_and_signs_it() {
    let dir = scratch("busy");
    busy_shims(&dir);
    let key_file = dir.join("key");
    std::fs::write(&key_file, "s3cret-key\n").unwrap();
    let out = run(
        &dir,
        &[
            ("CURFEW_INSTANCE", "ci-ana"),
            ("CURFEW_COMPUTE_ID", "/subscriptions/S/resourceGroups/R/providers/Microsoft.MachineLearningServices/workspaces/W/computes/ci-ana"),
            ("CURFEW_KEY_FILE", key_file.to_str().unwrap()),
            ("JUPYTER_TOKEN", "tok123"),
            ("CURFEW_IGNORE_CONTAINERS", "^sidecar$"),
        ],
        &["--once", "--dry-run"],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let body = stdout.trim_end();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["schema"], "curfew.activity/v1");
    assert_eq!(json["instance"], "ci-ana");
    assert_eq!(json["kernels"], 2);
    assert_eq!(json["terminals"], 1);
    assert_eq!(json["sessions"], 2);
    assert_eq!(json["ssh"], 2);
    assert_eq!(json["vscode"], 1);
    assert_eq!(json["azuremlRuns"], 2);
    assert_eq!(json["customApps"], serde_json::json!(["rstudio"]));
    assert_eq!(json["reporter"], "curfew-activity-reporter/1");
    // The engine reads it as is.
    let report = curfew_engine::idle::ActivityReport::from_json(body).unwrap();
    assert!(report.is_busy());
    assert_eq!(
        report
            .compute_id
            .as_deref()
            .map(|s| s.ends_with("/computes/ci-ana")),
        Some(true)
    );
    // Jupyter was asked with its token, on every API.
    let curl_log = std::fs::read_to_string(dir.join("curl.log")).unwrap();
    for api in ["/api/kernels", "/api/terminals", "/api/sessions"] {
        assert!(
            curl_log
                .lines()
                .any(|l| l.contains(api) && l.contains("Authorization: token tok123")),
            "{curl_log}"
        );
    }
    // The signature is HMAC-SHA256(key, "<timestamp>.<body>"), recomputed with openssl.
    let ts = header(&stderr, "X-Curfew-Timestamp");
    let sig = header(&stderr, "X-Curfew-Signature");
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "s3cret-key"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{ts}.{body}").as_bytes())
        .unwrap();
    let digest = String::from_utf8(openssl.wait_with_output().unwrap().stdout).unwrap();
    let hex = digest.trim().rsplit(' ').next().unwrap();
    assert_eq!(sig, format!("sha256={hex}"));
    // And the engine's verifier (what the Activity endpoint runs) accepts it.
    let now = chrono::DateTime::from_timestamp(ts.parse().unwrap(), 0).unwrap();
    curfew_engine::idle::verify_report(b"s3cret-key", "ci-ana", ts, sig, body.as_bytes(), now)
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_quiet_instance_reports_zeros_and_unsigned_without_a_key() {
    let dir = scratch("quiet");
    // Jupyter down, no containers, nobody logged in.
    shim(&dir, "curl", "exit 7");
    shim(&dir, "docker", "exit 0");
    shim(&dir, "who", "exit 0");
    shim(&dir, "ss", "exit 0");
    shim(&dir, "pgrep", "echo 0; exit 1");
    let out = run(&dir, &[("CI_NAME", "ci-quiet")], &["--once", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report = curfew_engine::idle::ActivityReport::from_json(
        String::from_utf8(out.stdout).unwrap().trim(),
    )
    .unwrap();
    assert_eq!(report.instance, "ci-quiet");
    assert!(!report.is_busy(), "{report:?}");
    assert_eq!(header(&stderr, "X-Curfew-Signature"), "unsigned");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sending_requires_a_key_and_an_endpoint_and_bad_arguments_are_refused() {
    let dir = scratch("refuse");
    shim(&dir, "curl", "exit 7");
    let out = run(&dir, &[("CURFEW_INSTANCE", "x")], &["--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key"));
    let out = run(
        &dir,
        &[("CURFEW_INSTANCE", "x"), ("CURFEW_KEY", "k")],
        &["--once"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CURFEW_ENDPOINT"));
    let out = run(&dir, &[], &["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The simulator and `curfew serve` as the Functions host starts it.
mod host;

/// A stand-in for the Functions host's HTTP front: `POST /api/<Name>` reaches function
/// `<Name>` only when `functions/<Name>/function.json` declares an HTTP trigger for that
/// method (as the host routes it), wrapped in the custom-handler envelope; the function's
/// `res` output is the answer. Anything else is 404, as the host answers it.
struct FunctionsFront {
    url: String,
    /// (function, status) of every request answered.
    answered: std::sync::Arc<std::sync::Mutex<Vec<(String, u16, String)>>>,
}

impl FunctionsFront {
    fn start(handler: std::net::SocketAddr) -> FunctionsFront {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = answered.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let mut headers = serde_json::Map::new();
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        headers.insert(k.trim().to_owned(), serde_json::json!([v.trim()]));
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let name = path.strip_prefix("/api/").unwrap_or("").to_owned();
                let routed = std::fs::read_to_string(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../functions")
                        .join(&name)
                        .join("function.json"),
                )
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .filter(|f| {
                    let trigger = &f["bindings"][0];
                    trigger["type"] == "httpTrigger"
                        && trigger["methods"].as_array().is_some_and(|m| {
                            m.iter().any(|x| {
                                x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(&method))
                            })
                        })
                })
                .is_some();
                let (status, text) = if routed {
                    let envelope = serde_json::json!({
                        "Data": {"req": {
                            "Url": format!("https://curfew-func.azurewebsites.net{path}"),
                            "Method": method, "Query": {}, "Headers": headers, "Params": {},
                            "Body": String::from_utf8_lossy(&body)
                        }},
                        "Metadata": {"sys": {"MethodName": name,
                            "UtcNow": chrono::Utc::now().to_rfc3339(),
                            "RandGuid": "0b0e2e00-0000-4000-8000-0000000000ff"}}
                    });
                    let (_, bytes) = host::request(
                        handler,
                        "POST",
                        &format!("/{name}"),
                        envelope.to_string().as_bytes(),
                    )
                    .unwrap();
                    let out: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    let res = &out["Outputs"]["res"];
                    (
                        res["statusCode"].as_u64().unwrap_or(500) as u16,
                        res["body"].as_str().unwrap_or_default().to_owned(),
                    )
                } else {
                    (404, String::new())
                };
                log.lock().unwrap().push((name, status, text.clone()));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FunctionsFront { url, answered }
    }
}

/// The reporter, sending for real: to `/api/ActivityReport` (the route `functions/` declares
/// and docs/idle.md names) with the instance key an operator derives with `openssl` from the
/// master key and the compute id, its report is verified and stored by `curfew serve`. The
/// old documented URL, `/api/Activity`, is a queue trigger with no HTTP route: 404, a failure.
#[test]
fn the_reporter_reports_to_the_real_route() {
    const MASTER: &str = "reporter-route-master-key-0123456789abcdef";
    let ws = armsim::WorkspacePath {
        subscription: "00000000-0000-0000-0000-0000000000b1".into(),
        resource_group: "rg-rep".into(),
        workspace: "ws-rep".into(),
    };
    let compute_id = ws.compute_id("ci-rep");
    let fleet = armsim::SimFleet::from_json(
        serde_json::json!([{
            "id": compute_id, "name": "ci-rep",
            "type": "Microsoft.MachineLearningServices/workspaces/computes",
            "properties": {"computeType": "ComputeInstance", "provisioningState": "Succeeded",
                "properties": {"vmSize": "STANDARD_DS3_V2", "state": "Running"}}
        }]),
        &ws,
    )
    .unwrap();
    let sim = host::Sim::start(fleet);
    let dir = scratch("route");
    let h = host::Handler::start(&[
        (
            "CURFEW_SCOPES",
            format!("/subscriptions/{}", ws.subscription),
        ),
        ("CURFEW_ARM_ENDPOINT", sim.base_url.clone()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN".into()),
        ("CURFEW_ARM_TOKEN", "simulator".into()),
        (
            "CURFEW_SQLITE",
            dir.join("state.sqlite").display().to_string(),
        ),
        ("CURFEW_ACTIVITY_KEY", MASTER.into()),
    ]);
    let front = FunctionsFront::start(h.addr);

    // The operator's derivation (docs/idle.md) is the engine's.
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", MASTER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(compute_id.to_ascii_lowercase().as_bytes())
        .unwrap();
    let digest = String::from_utf8(openssl.wait_with_output().unwrap().stdout).unwrap();
    let derived = digest.trim().rsplit(' ').next().unwrap().to_owned();
    let key = String::from_utf8(curfew_engine::idle::instance_key(
        MASTER.as_bytes(),
        &compute_id,
    ))
    .unwrap();
    assert_eq!(derived, key);
    let key_file = dir.join("reporter.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();

    // A quiet instance: Jupyter down, nothing else open; `curl` is the real one.
    for tool in ["docker", "who", "ss"] {
        shim(&dir, tool, "exit 0");
    }
    shim(&dir, "pgrep", "echo 0; exit 1");
    let endpoint = |route: &str| format!("{}/api/{route}", front.url);
    let send = |route: &str| {
        run(
            &dir,
            &[
                ("CURFEW_INSTANCE", "ci-rep"),
                ("CURFEW_COMPUTE_ID", compute_id.as_str()),
                ("CURFEW_KEY_FILE", key_file.to_str().unwrap()),
                ("CURFEW_ENDPOINT", endpoint(route).as_str()),
                ("JUPYTER_URL", "http://127.0.0.1:9"),
            ],
            &["--once"],
        )
    };
    let out = send("ActivityReport");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answered = front.answered.lock().unwrap().clone();
    assert_eq!(answered.len(), 1, "{answered:?}");
    let (function, status, body) = &answered[0];
    assert_eq!(
        (function.as_str(), *status),
        ("ActivityReport", 202),
        "{body}"
    );
    assert!(body.contains("quiet; stored"), "{body}");

    let out = send("Activity");
    assert!(!out.status.success(), "the queue function has no route");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answered = front.answered.lock().unwrap().clone();
    assert_eq!(answered[1].0, "Activity");
    assert_eq!(answered[1].1, 404);
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}
