//! The self-service page attacked through the router, with the real governor behind it
//! (SQLite, the ARM simulator in process): hostile instance names and tags stay text, a
//! forged, changed or expired link is refused before anything is looked up, strangers see
//! nothing, a POST without the page's form token (or with somebody else's) changes nothing,
//! and a bad cron comes back as the engine's message.

use chrono::{DateTime, TimeDelta, Utc};
use curfew_engine::governor::{sign_view, LinkKey, ViewPurpose};
use curfew_store::{SqliteStore, StateStore};
use serde_json::{json, Value};

use crate::functions::{invoke_for_test, Ports};
use curfew_governor::config::MapStrings;

const SUB: &str = "00000000-0000-0000-0000-0000000000pa";
const OWNER: &str = "11111111-2222-3333-4444-555555555555";
const OTHER: &str = "22222222-2222-3333-4444-555555555555";
const ADMIN: &str = "aaaaaaaa-2222-3333-4444-555555555555";
const STRANGER: &str = "99999999-2222-3333-4444-555555555555";
const KEY: &str = "page-test-link-key-0123456789abcdef";
/// Hostile names (an ARM name cannot hold a `/`, so no closing tag) and a hostile tag value.
const EVIL: &str = "<script>";
const EVIL_IMG: &str = "<img src=x onerror=alert(1)>";
const EVIL_TAG: &str = "<script>alert(2)</script>";
const NOW: &str = "2026-03-09T17:40:00Z";

fn ws() -> armsim::WorkspacePath {
    armsim::WorkspacePath {
        subscription: SUB.into(),
        resource_group: "rg-pa".into(),
        workspace: "ws-pa".into(),
    }
}

/// A compute instance; without `id_name` the simulator places it by `name` alone (how a name
/// no ARM id could carry reaches the page).
fn compute(id_name: Option<&str>, name: &str, owner: &str, tags: Value) -> Value {
    json!({
        "id": id_name.map(|n| ws().compute_id(n)),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "tags": tags,
        "properties": {
            "computeType": "ComputeInstance",
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "state": "Running",
                "personalComputeInstanceSettings": {"assignedUser": {"objectId": owner, "tenantId": SUB}},
                "schedules": {"computeStartStop": [
                    {"action": "Stop", "status": "Enabled", "triggerType": "Cron",
                     "cron": {"expression": "0 18 * * *", "timeZone": "UTC"}},
                    {"action": "Start", "status": "Enabled", "triggerType": "Cron",
                     "cron": {"expression": "0 8 * * *", "timeZone": "UTC"}}
                ]}
            }
        }
    })
}

fn fleet() -> armsim::SimFleet {
    let items = json!([
        compute(
            Some("ci-mine"),
            "ci-mine",
            OWNER,
            json!({"team": "a\"b'c<d>"})
        ),
        compute(None, EVIL, OWNER, json!({"note": EVIL_TAG})),
        compute(None, EVIL_IMG, OWNER, json!({})),
        compute(Some("ci-theirs"), "ci-theirs", OTHER, json!({})),
    ]);
    armsim::SimFleet::from_json(items, &ws()).unwrap()
}

fn status(method: &str, query: Value, headers: Value, body: &str) -> Vec<u8> {
    json!({
        "Data": {"req": {"Url": "https://curfew.example/api/Status", "Method": method,
                 "Query": query, "Headers": headers, "Params": {}, "Body": body}},
        "Metadata": {"sys": {"MethodName": "Status", "UtcNow": NOW}}
    })
    .to_string()
    .into_bytes()
}

/// `request` as if it came at `at` (the host's `UtcNow`).
fn at_time(request: Vec<u8>, at: DateTime<Utc>) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&request).unwrap();
    v["Metadata"]["sys"]["UtcNow"] = json!(at.to_rfc3339());
    v.to_string().into_bytes()
}

fn as_principal(p: &str) -> Value {
    json!({"Accept": ["text/html"], "X-MS-CLIENT-PRINCIPAL-ID": [p]})
}

fn browser() -> Value {
    json!({"Accept": ["text/html"]})
}

struct Page {
    code: u64,
    headers: Value,
    body: String,
}

async fn page(ports: &Ports, request: Vec<u8>) -> Page {
    let (_, v) = invoke_for_test(ports.clone(), "Status", request).await;
    let res = &v["Outputs"]["res"];
    Page {
        code: res["statusCode"].as_u64().unwrap_or_else(|| panic!("{v}")),
        headers: res["headers"].clone(),
        body: res["body"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The ARM simulator over `fleet` on a free loopback port: no auth, instant transitions.
pub(super) async fn simulator(fleet: armsim::SimFleet) -> armsim::Simulator {
    armsim::Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        fleet,
        armsim::SimConfig {
            require_auth: false,
            transition: std::time::Duration::ZERO,
            ..armsim::SimConfig::default()
        },
    )
    .await
    .unwrap()
}

/// A fresh, empty scratch folder `curfew-<tag>-<pid>` under the temp dir.
pub(super) fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("curfew-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The default `CURFEW_SCOPES`: the simulator's subscription.
fn default_scope() -> String {
    format!("/subscriptions/{SUB}")
}

/// A page test's world: the ARM simulator over a fleet, a fresh scratch folder with the
/// SQLite store, and the handler's ports configured for both.
struct World {
    sim: armsim::Simulator,
    ports: Ports,
    dir: std::path::PathBuf,
    db: std::path::PathBuf,
}

/// Starts a [`World`]; `tag` names its folder, `deployment` is `CURFEW_DEPLOYMENT` if given.
async fn world(
    fleet: armsim::SimFleet,
    tag: &str,
    scopes: &str,
    deployment: Option<&str>,
) -> World {
    let sim = simulator(fleet).await;
    let dir = scratch(&format!("page-{tag}"));
    let db = dir.join("state.sqlite");
    let endpoint = sim.base_url();
    let db_text = db.display().to_string();
    let mut pairs = vec![
        ("CURFEW_SCOPES", scopes),
        ("CURFEW_ARM_ENDPOINT", endpoint.as_str()),
        ("CURFEW_ARM_CREDENTIAL", "token-env:CURFEW_ARM_TOKEN"),
        ("CURFEW_ARM_TOKEN", "simulator"),
        ("CURFEW_SQLITE", db_text.as_str()),
        ("CURFEW_NOTIFY", "binding"),
        ("CURFEW_LINK_KEY", KEY),
        ("CURFEW_ADMINS", ADMIN),
    ];
    if let Some(d) = deployment {
        pairs.push(("CURFEW_DEPLOYMENT", d));
    }
    let ports = crate::hosted::ports(&MapStrings::from_pairs(&pairs));
    World {
        sim,
        ports,
        dir,
        db,
    }
}

/// The page's own markup before its one script: what a hostile string must never appear in.
fn markup(p: &Page) -> &str {
    p.body.rsplit_once("<script>").map_or(&p.body, |(a, _)| a)
}

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

fn link(secret: &str, subject: &str, expires: DateTime<Utc>) -> String {
    sign_view(
        &LinkKey::new("k1", secret.as_bytes()),
        ViewPurpose::OwnerLink,
        subject,
        expires,
    )
}

/// The form token of a served page.
fn form_token(p: &Page) -> String {
    let at = p.body.find("name=\"form\" value=\"").expect("a form token") + 19;
    let rest = &p.body[at..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn form(token: &str, instance: &str, schedules: &str) -> String {
    let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    format!(
        "form={}&instance={}&op=set&schedules={}",
        enc(token),
        enc(instance),
        enc(schedules)
    )
}

/// The editor form as the page sends it: with the override version it was built with.
fn form_at(token: &str, instance: &str, schedules: &str, version: &str) -> String {
    let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    format!(
        "{}&version={}",
        form(token, instance, schedules),
        enc(version)
    )
}

/// The override version in `instance`'s editor of a served page.
fn editor_version(p: &Page, instance: &str) -> String {
    let form = p
        .body
        .find(&format!("name=\"instance\" value=\"{instance}\""))
        .unwrap_or_else(|| panic!("no editor for {instance}: {}", p.body));
    let rest = &p.body[form..];
    let needle = "name=\"version\" value=\"";
    let at = rest.find(needle).expect("a version field") + needle.len();
    rest[at..at + rest[at..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_page_withstands_hostile_names_links_strangers_and_forms() {
    let World {
        sim,
        ports,
        dir,
        db,
    } = world(fleet(), "main", &default_scope(), Some("pa")).await;
    // A tick at 17:40 sends the 30-minute notices of the 18:00 stops (their ledger records).
    let timer = json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": NOW}}
    });
    let (_, t) = invoke_for_test(ports.clone(), "Tick", timer.to_string().into_bytes()).await;
    assert!(t["Logs"].to_string().contains("notice"), "{t}");

    // The owner, signed in: their two instances, hostile name and tag as text, never the
    // other owner's; skip/snooze buttons for the noticed stops; the strict policy.
    let mine = page(&ports, status("GET", json!({}), as_principal(OWNER), "")).await;
    assert_eq!(mine.code, 200, "{}", mine.body);
    let html = markup(&mine);
    assert!(
        html.contains("ci-mine") && !html.contains("ci-theirs"),
        "{html}"
    );
    for (evil, escaped) in [
        (EVIL, "&lt;script&gt;"),
        (EVIL_IMG, "&lt;img src=x onerror=alert(1)&gt;"),
        (EVIL_TAG, "&lt;script&gt;alert(2)&lt;/script&gt;"),
    ] {
        assert!(
            !html.contains(evil) && html.contains(escaped),
            "{evil}: {html}"
        );
    }
    assert!(!html.contains("a\"b'c"), "{html}");
    assert!(html.contains("a&quot;b&#39;c&lt;d&gt;"), "{html}");
    assert!(html.contains("action=\"Dismiss?token="), "{html}");
    assert!(html.contains("Snooze 30 min"), "{html}");
    let csp = mine.headers["Content-Security-Policy"].as_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(mine.headers["Referrer-Policy"], "no-referrer");
    assert_eq!(mine.headers["X-Frame-Options"], "DENY");

    // Strangers and the anonymous get a refusal that names nothing.
    for headers in [as_principal(STRANGER), browser(), as_principal("  ")] {
        let p = page(&ports, status("GET", json!({}), headers, "")).await;
        assert_eq!(p.code, 403, "{}", p.body);
        for name in ["ci-mine", "ci-theirs", "&lt;script", "&lt;img"] {
            assert!(!p.body.contains(name), "{name} in {}", p.body);
        }
    }

    // A signed link opens the owner's view without a sign-in; a forged, changed or expired
    // one is refused before anything is looked up (no ARM request, no store read).
    let good = link(KEY, OWNER, now() + TimeDelta::days(1));
    let p = page(&ports, status("GET", json!({"link": good}), browser(), "")).await;
    assert_eq!(p.code, 200, "{}", p.body);
    assert!(p.body.contains("ci-mine") && !p.body.contains("ci-theirs"));
    assert!(p.body.contains("Opened with a signed link"), "{}", p.body);
    let (payload, sig) = good.split_once('.').unwrap();
    let other = link(KEY, OTHER, now() + TimeDelta::days(1));
    let (other_payload, _) = other.split_once('.').unwrap();
    let requests = sim.state().requests().len();
    for bad in [
        link(
            "a guessed key, a guessed key, a guess",
            OWNER,
            now() + TimeDelta::days(1),
        ),
        format!("{other_payload}.{sig}"),
        format!("{payload}.{}", &sig[1..]),
        link(KEY, OWNER, now() - TimeDelta::minutes(1)),
        "junk".to_owned(),
    ] {
        let p = page(&ports, status("GET", json!({"link": bad}), browser(), "")).await;
        assert_eq!(p.code, 403, "{bad}: {}", p.body);
        assert!(p.body.contains("This link is not valid"), "{}", p.body);
        assert!(!p.body.contains("ci-"), "{}", p.body);
    }
    assert_eq!(
        sim.state().requests().len(),
        requests,
        "a bad link costs no ARM request"
    );

    // The editor: a POST without the page's token, or with the token of somebody else's
    // page, changes nothing; with the owner's token a bad cron gets the engine's message.
    let store = SqliteStore::open(&db).await.unwrap();
    let key = ws().compute_id("ci-mine").to_ascii_lowercase();
    let bad_cron = r#"[{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"61 25 * * *","timeZone":"UTC"}}]"#;
    let theirs = page(&ports, status("GET", json!({}), as_principal(OTHER), "")).await;
    for token in [String::new(), "forged.token".into(), form_token(&theirs)] {
        let p = page(
            &ports,
            status(
                "POST",
                json!({}),
                as_principal(OWNER),
                &form(&token, "ci-mine", "[]"),
            ),
        )
        .await;
        assert_eq!(p.code, 403, "{token}: {}", p.body);
        assert!(p.body.contains("Nothing was changed"), "{}", p.body);
    }
    assert_eq!(store.get_override(&key).await.unwrap(), None);
    let token = form_token(&mine);
    let p = page(
        &ports,
        status(
            "POST",
            json!({}),
            as_principal(OWNER),
            &form(&token, "ci-mine", bad_cron),
        ),
    )
    .await;
    assert_eq!(p.code, 200, "{}", p.body);
    assert!(p.body.contains("id=\"notice\""), "{}", p.body);
    assert!(p.body.contains("override refused"), "{}", p.body);
    assert!(
        p.body.contains("61 25"),
        "the engine names the field: {}",
        p.body
    );
    assert_eq!(store.get_override(&key).await.unwrap(), None);
    // Another owner's instance through the owner's own valid form: the Schedules logic refuses.
    let p = page(
        &ports,
        status(
            "POST",
            json!({}),
            as_principal(OWNER),
            &form(&token, "ci-theirs", "[]"),
        ),
    )
    .await;
    assert!(
        p.body.contains("may not change its schedules"),
        "{}",
        p.body
    );
    // A good one is stored, and audited by the Schedules logic.
    let good_cron = r#"[{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"0 19 * * *","timeZone":"UTC"}}]"#;
    let p = page(
        &ports,
        status(
            "POST",
            json!({}),
            as_principal(OWNER),
            &form(&token, "ci-mine", good_cron),
        ),
    )
    .await;
    assert!(p.body.contains("class=\"ok\""), "{}", p.body);
    assert!(store.get_override(&key).await.unwrap().is_some());

    // Lost updates: the page carries the version it showed. A save from a page loaded before
    // somebody else's change is refused with what is stored now; the owner's text is kept,
    // and the page now carries the new version, so saving again replaces it on purpose.
    let loaded = page(&ports, status("GET", json!({}), as_principal(OWNER), "")).await;
    let seen = editor_version(&loaded, "ci-mine");
    assert_ne!(seen, "none", "an override is stored");
    let elsewhere = json!([{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"0 20 * * *","timeZone":"UTC"}}]);
    store.set_override(&key, &elsewhere).await.unwrap();
    let mine_now = r#"[{"action":"Stop","status":"Enabled","triggerType":"Cron","cron":{"expression":"0 21 * * *","timeZone":"UTC"}}]"#;
    let token = form_token(&loaded);
    let p = page(
        &ports,
        status(
            "POST",
            json!({}),
            as_principal(OWNER),
            &form_at(&token, "ci-mine", mine_now, &seen),
        ),
    )
    .await;
    assert_eq!(p.code, 200, "{}", p.body);
    assert!(
        p.body.contains("changed since this page was loaded"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("0 20 * * *"),
        "what is stored now: {}",
        p.body
    );
    assert!(
        p.body.contains("0 21 * * *"),
        "the owner's text is kept: {}",
        p.body
    );
    assert_eq!(
        store.get_override(&key).await.unwrap(),
        Some(elsewhere.clone())
    );
    let current = editor_version(&p, "ci-mine");
    assert_ne!(current, seen);
    // A page that showed no override, and versions no store issued: refused alike.
    for stale in [
        "none",
        "",
        "*",
        "\"",
        "bm90LWEtdmVyc2lvbg",
        &"A".repeat(5000),
    ] {
        let p = page(
            &ports,
            status(
                "POST",
                json!({}),
                as_principal(OWNER),
                &form_at(&token, "ci-mine", mine_now, stale),
            ),
        )
        .await;
        assert_eq!(p.code, 200, "{stale}: {}", p.body);
        assert!(
            p.body.contains("changed since this page"),
            "{stale}: {}",
            p.body
        );
    }
    assert_eq!(store.get_override(&key).await.unwrap(), Some(elsewhere));
    let p = page(
        &ports,
        status(
            "POST",
            json!({}),
            as_principal(OWNER),
            &form_at(&token, "ci-mine", mine_now, &current),
        ),
    )
    .await;
    assert!(p.body.contains("class=\"ok\""), "{}", p.body);
    assert_eq!(
        store.get_override(&key).await.unwrap().unwrap()["computeStartStop"],
        serde_json::from_str::<Value>(mine_now).unwrap()
    );
    let audits = store
        .audit_between(now() - TimeDelta::days(1), now() + TimeDelta::days(1))
        .await
        .unwrap();
    assert!(
        audits.iter().filter(|a| a.kind == "override.stale").count() >= 7,
        "every refused save is audited: {audits:?}"
    );

    // Through the owner's signed link (nobody signed in): the edit is the owner's, audited as
    // made through the link. An admin's own link carries no admin power: it may not change
    // somebody else's instance, as its holder might be anybody the link was sent to.
    let by_link = link(KEY, OWNER, now() + TimeDelta::days(1));
    let loaded = page(
        &ports,
        status("GET", json!({"link": by_link}), browser(), ""),
    )
    .await;
    let p = page(
        &ports,
        status(
            "POST",
            json!({"link": by_link}),
            browser(),
            &form_at(
                &form_token(&loaded),
                "ci-mine",
                good_cron,
                &editor_version(&loaded, "ci-mine"),
            ),
        ),
    )
    .await;
    assert!(p.body.contains("class=\"ok\""), "{}", p.body);
    let audits = store
        .audit_between(now() - TimeDelta::days(1), now() + TimeDelta::days(1))
        .await
        .unwrap();
    let last = audits
        .iter()
        .rev()
        .find(|a| a.kind == "override.set")
        .unwrap();
    assert_eq!(
        (&last.details["caller"], &last.details["by"]),
        (&json!("link"), &json!(OWNER)),
        "{last:?}"
    );
    let admin_link = link(KEY, ADMIN, now() + TimeDelta::days(1));
    let admin_form = sign_view(
        &LinkKey::new("k1", KEY.as_bytes()),
        ViewPurpose::Form,
        ADMIN,
        now() + TimeDelta::hours(1),
    );
    let theirs_key = ws().compute_id("ci-theirs").to_ascii_lowercase();
    let p = page(
        &ports,
        status(
            "POST",
            json!({"link": admin_link}),
            browser(),
            &form(&admin_form, "ci-theirs", good_cron),
        ),
    )
    .await;
    assert!(
        p.body.contains("may not change its schedules"),
        "{}: {}",
        p.code,
        p.body
    );
    assert_eq!(store.get_override(&theirs_key).await.unwrap(), None);
    // The same admin signed in may.
    let p = page(
        &ports,
        status(
            "POST",
            json!({}),
            as_principal(ADMIN),
            &form(&admin_form, "ci-theirs", good_cron),
        ),
    )
    .await;
    assert!(p.body.contains("class=\"ok\""), "{}", p.body);
    assert!(store.get_override(&theirs_key).await.unwrap().is_some());

    // The admin: the fleet with filters (query parameters), audits, owner links.
    let all = page(&ports, status("GET", json!({}), as_principal(ADMIN), "")).await;
    assert_eq!(all.code, 200, "{}", all.body);
    assert!(all.body.contains("ci-theirs") && all.body.contains("ci-mine"));
    assert!(all.body.contains("id=\"owner-links\""), "{}", all.body);
    let theirs_only = page(
        &ports,
        status("GET", json!({"owner": OTHER}), as_principal(ADMIN), ""),
    )
    .await;
    let table = theirs_only
        .body
        .split("</table>")
        .next()
        .unwrap()
        .to_owned();
    assert!(
        table.contains("ci-theirs") && !table.contains("ci-mine"),
        "{table}"
    );
    assert!(
        theirs_only.body.contains("1 of 4 instances"),
        "{}",
        theirs_only.body
    );

    // The fleet-wide views (JSON, the HTML table, the cost report) answer admins only: Status
    // is anonymous to the host for the owners' page.
    for query in [
        json!({}),
        json!({"format": "html"}),
        json!({"view": "report"}),
    ] {
        for (who, code) in [
            (json!({}), 403),
            (json!({"X-MS-CLIENT-PRINCIPAL-ID": [OWNER]}), 403),
        ] {
            let p = page(&ports, status("GET", query.clone(), who, "")).await;
            assert_eq!(p.code, code, "{query}: {}", p.body);
            assert!(!p.body.contains("ci-mine"), "{}", p.body);
        }
    }
    let p = page(
        &ports,
        status(
            "GET",
            json!({"format": "json"}),
            json!({"X-MS-CLIENT-PRINCIPAL-ID": [ADMIN]}),
            "",
        ),
    )
    .await;
    assert_eq!(p.code, 200, "{}", p.body);
    assert!(p.body.contains("\"byState\""), "{}", p.body);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The owner view reads the viewer's instances by one ARM GET each (no listing), found from
/// the tick's `instance` records in the cost timeline; a record naming the wrong owner (stale
/// or forged) never shows an instance to them, since ownership is decided on the fresh ARM
/// body; an instance ARM no longer has (404) is left out without a problem line.
#[tokio::test]
async fn the_owner_view_gets_only_its_instances_and_trusts_arm_over_the_timeline() {
    let World {
        sim,
        ports,
        dir,
        db,
    } = world(fleet(), "owner", &default_scope(), Some("po")).await;
    let kinds = |from: usize| -> Vec<&'static str> {
        sim.state().requests()[from..]
            .iter()
            .map(|r| r.kind)
            .filter(|k| *k != "token")
            .collect()
    };
    // Before any tick the owner has nothing to see yet (documented: after the next tick).
    let p = page(&ports, status("GET", json!({}), as_principal(OWNER), "")).await;
    assert_eq!(p.code, 403, "{}", p.body);
    assert!(p.body.contains("after Curfew"), "{}", p.body);
    let timer = json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": NOW}}
    });
    invoke_for_test(ports.clone(), "Tick", timer.to_string().into_bytes()).await;

    let before = sim.state().requests().len();
    let mine = page(&ports, status("GET", json!({}), as_principal(OWNER), "")).await;
    assert_eq!(mine.code, 200, "{}", mine.body);
    assert!(mine.body.contains("ci-mine") && !mine.body.contains("ci-theirs"));
    assert_eq!(
        kinds(before),
        ["get-compute"; 3],
        "the owner's three instances, one GET each, no listing"
    );

    // Forged records: the stranger "owns" ci-theirs, the owner "owns" a deleted instance.
    let store = SqliteStore::open(&db).await.unwrap();
    let forged = |name: &str, owner: &str| curfew_store::TimelineRecord {
        at: now(),
        instance: name.into(),
        record: json!({"kind": "instance", "instance": name, "owner": owner,
                       "computeId": ws().compute_id(name)}),
    };
    store
        .append_timeline(&[forged("ci-theirs", STRANGER), forged("ci-gone", OWNER)])
        .await
        .unwrap();
    let before = sim.state().requests().len();
    let p = page(&ports, status("GET", json!({}), as_principal(STRANGER), "")).await;
    assert_eq!(p.code, 403, "{}", p.body);
    assert!(!p.body.contains("ci-theirs"), "{}", p.body);
    assert_eq!(
        kinds(before),
        ["get-compute"],
        "ARM was asked, and its owner won"
    );
    let p = page(&ports, status("GET", json!({}), as_principal(OWNER), "")).await;
    assert_eq!(p.code, 200, "{}", p.body);
    assert!(
        p.body.contains("ci-mine") && !p.body.contains("ci-gone"),
        "{}",
        p.body
    );

    // ci-theirs is created again under its name for the owner: after the next tick the
    // store's timeline says so, and the owner's view shows it (one GET more).
    assert!(sim
        .state()
        .set_assigned_user(&ws().compute_id("ci-theirs"), OWNER));
    let timer = json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": "2026-03-09T17:41:00Z"}}
    });
    invoke_for_test(ports.clone(), "Tick", timer.to_string().into_bytes()).await;
    let before = sim.state().requests().len();
    let p = page(&ports, status("GET", json!({}), as_principal(OWNER), "")).await;
    assert_eq!(p.code, 200, "{}", p.body);
    assert!(
        p.body.contains("ci-mine") && p.body.contains("ci-theirs"),
        "{}",
        p.body
    );
    assert_eq!(
        kinds(before),
        ["get-compute"; 5],
        "its three, ci-gone and ci-theirs"
    );

    // The admin's fleet view still lists the fleet.
    let before = sim.state().requests().len();
    let all = page(&ports, status("GET", json!({}), as_principal(ADMIN), "")).await;
    assert_eq!(all.code, 200, "{}", all.body);
    assert!(
        kinds(before).contains(&"list-computes"),
        "{:?}",
        kinds(before)
    );
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The unfiltered fleet view pages: at most `PAGE_ROWS` rows, next/previous links keeping
/// the filters; an out-of-range page shows the last one.
#[tokio::test]
async fn the_admin_fleet_view_pages() {
    let items: Vec<Value> = (0..450)
        .map(|i| {
            let name = format!("ci-{i:03}");
            compute(
                Some(&name),
                &name,
                if i % 2 == 0 { OWNER } else { OTHER },
                json!({}),
            )
        })
        .collect();
    let World {
        sim,
        ports,
        dir,
        db: _,
    } = world(
        armsim::SimFleet::from_json(json!(items), &ws()).unwrap(),
        "pages",
        &default_scope(),
        None,
    )
    .await;
    let rows = |p: &Page| p.body.matches("<tr data-instance=").count();
    let first = page(&ports, status("GET", json!({}), as_principal(ADMIN), "")).await;
    assert_eq!(first.code, 200, "{}", first.body);
    assert_eq!(rows(&first), crate::functions::PAGE_ROWS);
    assert!(
        first
            .body
            .contains("450 of 450 instances, as listed at 17:40:00 UTC. Rows 1–200, page 1 of 3."),
        "{}",
        first.body
    );
    assert!(first.body.contains("rel=\"next\" href=\"Status?page=2\""));
    let last = page(
        &ports,
        status("GET", json!({"page": "3"}), as_principal(ADMIN), ""),
    )
    .await;
    assert_eq!(rows(&last), 50);
    assert!(last.body.contains("ci-449") && !last.body.contains("ci-000"));
    assert!(last.body.contains("rel=\"prev\" href=\"Status?page=2\""));
    // Filters stay in the links; a page past the end shows the last one.
    let theirs = page(
        &ports,
        status(
            "GET",
            json!({"owner": OTHER, "page": "99"}),
            as_principal(ADMIN),
            "",
        ),
    )
    .await;
    assert_eq!(rows(&theirs), 25, "225 match: page 2 holds 25");
    assert!(theirs.body.contains(&format!(
        "rel=\"prev\" href=\"Status?owner={OTHER}&amp;page=1\""
    )));
    for junk in ["0", "-1", "x", "1e9"] {
        let p = page(
            &ports,
            status("GET", json!({"page": junk}), as_principal(ADMIN), ""),
        )
        .await;
        assert_eq!(rows(&p), crate::functions::PAGE_ROWS, "{junk}");
    }
    // The views above reused the first one's listing: one fleet listing in all. Within a
    // minute it is reused again; after it, the fleet is listed anew (and the page says when).
    let listings = || {
        sim.state()
            .requests()
            .iter()
            .filter(|r| r.kind == "list-computes")
            .count()
    };
    // One listing of 450 instances (nine pages of 50) shared by every view so far.
    let one = listings();
    assert_eq!(one, 9, "one listing for every view of the same minute");
    let view = |at: DateTime<Utc>| {
        let ports = ports.clone();
        async move {
            page(
                &ports,
                at_time(status("GET", json!({}), as_principal(ADMIN), ""), at),
            )
            .await
        }
    };
    let p = view(now() + TimeDelta::seconds(59)).await;
    assert!(p.body.contains("as listed at 17:40:00 UTC"), "{}", p.body);
    assert_eq!(listings(), one, "reused within the minute");
    let p = view(now() + TimeDelta::seconds(60)).await;
    assert!(p.body.contains("as listed at 17:41:00 UTC"), "{}", p.body);
    assert_eq!(listings(), 2 * one);
    // A clock that went back does not use a listing "from the future".
    view(now() - TimeDelta::seconds(5)).await;
    assert_eq!(listings(), 3 * one);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listing with a problem (here a scope ARM does not know) is shown with it and not kept:
/// the next view, even within the minute, lists again.
#[tokio::test]
async fn a_partial_admin_listing_is_not_reused() {
    let scopes =
        format!("/subscriptions/{SUB},/subscriptions/00000000-0000-4000-8000-00000000dead");
    let World {
        sim,
        ports,
        dir,
        db: _,
    } = world(fleet(), "partial", &scopes, None).await;
    let listings = || {
        sim.state()
            .requests()
            .iter()
            .filter(|r| r.kind == "list-computes")
            .count()
    };
    let first = page(&ports, status("GET", json!({}), as_principal(ADMIN), "")).await;
    assert_eq!(first.code, 200, "{}", first.body);
    assert!(first.body.contains("ci-mine"), "{}", first.body);
    assert!(
        first.body.contains("dead"),
        "the problem is shown: {}",
        first.body
    );
    let one = listings();
    assert!(one >= 1);
    page(&ports, status("GET", json!({}), as_principal(ADMIN), "")).await;
    assert_eq!(listings(), 2 * one, "listed again");
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/benchmarks.md: the whole page (ARM listing through the simulator, effective schedules,
/// store reads, rendering) for an admin over 10 000 instances against an owner of 10 of them,
/// alternately in one run.
/// `cargo test -p curfew-handler --lib page_request_bench -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a benchmark: run it by name with --ignored"]
async fn page_request_bench() {
    let mut items = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let w = armsim::WorkspacePath {
            workspace: format!("ws-{:02}", i % 10),
            ..ws()
        };
        let mut c = compute(
            None,
            "x",
            &format!("owner-{:04}", i % 1000),
            json!({"team": "t"}),
        );
        c["id"] = json!(w.compute_id(&format!("ci-{i:05}")));
        items.push(c);
    }
    let fleet = armsim::SimFleet::from_json(json!(items), &ws()).unwrap();
    let World {
        sim,
        ports,
        dir,
        db: _,
    } = world(fleet, "bench", &default_scope(), None).await;
    // One tick first: it writes the timeline records the owner view finds instances by.
    let timer = json!({
        "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": "false"}},
        "Metadata": {"sys": {"MethodName": "Tick", "UtcNow": NOW}}
    });
    invoke_for_test(ports.clone(), "Tick", timer.to_string().into_bytes()).await;
    let arm_requests = || {
        sim.state()
            .requests()
            .iter()
            .filter(|r| r.kind != "token")
            .count()
    };
    let mut totals = [(std::time::Duration::ZERO, 0usize, 0usize, 0usize); 3];
    const ROUNDS: u32 = 3;
    for round in 0..=ROUNDS {
        // Each round a minute later: the admin view lists the fleet anew, then once more
        // within the minute (the listing reused).
        let at = now() + TimeDelta::seconds(61 * i64::from(round));
        for (k, who) in [ADMIN, ADMIN, "owner-0001"].into_iter().enumerate() {
            let asked = arm_requests();
            let t = std::time::Instant::now();
            let p = page(
                &ports,
                at_time(status("GET", json!({}), as_principal(who), ""), at),
            )
            .await;
            let took = t.elapsed();
            let asked = arm_requests() - asked;
            assert_eq!(p.code, 200, "{}", &p.body[..p.body.len().min(400)]);
            if round > 0 {
                // Round 0 warms up (the runtime is built on first use).
                totals[k].0 += took;
                totals[k].1 = p.body.len();
                totals[k].2 = p.body.matches("<tr data-instance=").count();
                totals[k].3 = asked;
            }
        }
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3 / f64::from(ROUNDS);
    println!("| view | rows | request (mean of {ROUNDS}) | HTML size | ARM requests |");
    println!("|---|---|---|---|---|");
    for (label, (t, size, rows, asked)) in [
        "admin (page 1)",
        "admin (page 1, again within the minute)",
        "owner",
    ]
    .iter()
    .zip(totals)
    {
        println!(
            "| {label} | {rows} | {:.0} ms | {:.1} KiB | {asked} |",
            ms(t),
            size as f64 / 1024.0
        );
    }
    println!(
        "ratio admin/owner: time {:.1}×, size {:.0}×",
        totals[0].0.as_secs_f64() / totals[2].0.as_secs_f64(),
        totals[0].1 as f64 / totals[2].1 as f64
    );
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
