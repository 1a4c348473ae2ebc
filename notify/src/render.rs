//! Chat renderings of an event: a Microsoft Teams message carrying an Adaptive Card (for
//! incoming webhooks and Workflows "when a webhook request is received") and a Slack Block Kit
//! message (for Slack incoming webhooks). Buttons open the caller's signed links.

use serde_json::{json, Value};

use crate::event::{Event, EventData, ShutdownPending};

/// Adaptive Card schema version used (Teams renders 1.4 everywhere, mobile included).
const ADAPTIVE_CARD_VERSION: &str = "1.4";

fn title(event: &Event) -> String {
    match &event.data {
        EventData::ShutdownPending(d) => format!(
            "{} will {} in {} min",
            d.instance.name,
            d.action,
            d.minutes()
        ),
        _ => event.summary(),
    }
}

/// Facts as (label, value) pairs, shared by both renderings.
fn facts(event: &Event) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    if let Some(i) = event.instance() {
        f.push((
            "Instance",
            format!("{} (workspace {})", i.name, i.workspace),
        ));
    }
    match &event.data {
        EventData::ShutdownPending(d) => {
            f.push(("Time (local)", d.at_local.clone()));
            f.push((
                "Time (UTC)",
                d.at_utc.format("%Y-%m-%d %H:%M UTC").to_string(),
            ));
            f.push(("Reason", d.reason.clone()));
        }
        EventData::ShutdownDismissed(d) => f.push(("Reason", d.reason.clone())),
        EventData::InstanceChanged(d) => {
            f.push((
                "Time (UTC)",
                d.at_utc.format("%Y-%m-%d %H:%M UTC").to_string(),
            ));
            f.push(("Reason", d.reason.clone()));
        }
        EventData::ActionFailed(d) => {
            f.push(("Error", d.error.clone()));
            f.push(("Reason", d.reason.clone()));
        }
        EventData::PolicyApplied(d) => f.push(("Policy", format!("{} ({})", d.policy, d.effect))),
        EventData::BudgetExceeded(d) => f.push(("Scope", d.scope.clone())),
        EventData::IdleUnknown(d) => f.push(("Reason", d.reason.clone())),
        EventData::OwnerUnreachable(d) => f.push(("Reason", d.reason.clone())),
        EventData::DriftDetected(d) => {
            f.push(("Expected", d.expected.clone()));
            f.push(("Observed", d.observed.clone()));
            f.push(("Reason", d.reason.clone()));
        }
    }
    f
}

/// Buttons as (id, label, url): skip first, then snoozes.
fn buttons(d: &ShutdownPending) -> Vec<(String, String, String)> {
    let mut b = Vec::new();
    if let Some(url) = &d.links.skip {
        b.push((
            "curfew-skip".to_owned(),
            "Skip this shutdown".to_owned(),
            url.clone(),
        ));
    }
    for s in &d.links.snooze {
        b.push((
            format!("curfew-snooze-{}", s.minutes),
            snooze_label(s.minutes),
            s.url.clone(),
        ));
    }
    b
}

fn snooze_label(minutes: u32) -> String {
    if minutes >= 60 && minutes.is_multiple_of(60) {
        let h = minutes / 60;
        format!("Snooze {h} h")
    } else {
        format!("Snooze {minutes} min")
    }
}

fn pending_data(event: &Event) -> Option<&ShutdownPending> {
    match &event.data {
        EventData::ShutdownPending(d) => Some(d),
        _ => None,
    }
}

/// The Teams webhook body: a `message` with one Adaptive Card attachment (title, facts, and
/// `Action.OpenUrl` buttons for skip/snooze on a pending shutdown).
pub fn teams_message(event: &Event) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
        "text": title(event),
    })];
    if let Some(note) = pending_data(event).and_then(|d| d.note.as_ref()) {
        body.push(json!({ "type": "TextBlock", "color": "Warning", "wrap": true, "text": note }));
    }
    let facts: Vec<Value> = facts(event)
        .into_iter()
        .map(|(t, v)| json!({ "title": t, "value": v }))
        .collect();
    body.push(json!({ "type": "FactSet", "facts": facts }));
    body.push(json!({
        "type": "TextBlock", "isSubtle": true, "size": "Small", "wrap": true,
        "text": format!("{} · {}", event.kind.as_str(), event.id),
    }));
    let actions: Vec<Value> = pending_data(event)
        .map(buttons)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, label, url)| json!({ "type": "Action.OpenUrl", "title": label, "url": url }))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Escapes the three characters Slack's mrkdwn reserves.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack webhook body: `text` fallback plus Block Kit blocks — a section (title and facts),
/// a context line (type, id), and for a pending shutdown an actions block of URL buttons.
pub fn slack_message(event: &Event) -> Value {
    let mut text = format!("*{}*", slack_escape(&title(event)));
    if let Some(note) = pending_data(event).and_then(|d| d.note.as_ref()) {
        text.push_str(&format!("\n:warning: {}", slack_escape(note)));
    }
    for (label, value) in facts(event) {
        text.push_str(&format!("\n*{label}:* {}", slack_escape(&value)));
    }
    let mut blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } }),
        json!({ "type": "context", "elements": [{
            "type": "mrkdwn",
            "text": format!("{} · {}", event.kind.as_str(), event.id),
        }]}),
    ];
    let elements: Vec<Value> = pending_data(event)
        .map(buttons)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, (id, label, url))| {
            let mut b = json!({
                "type": "button",
                "action_id": id,
                "text": { "type": "plain_text", "text": label },
                "url": url,
            });
            if i == 0 {
                b["style"] = json!("primary");
            }
            b
        })
        .collect();
    if !elements.is_empty() {
        blocks.push(json!({ "type": "actions", "elements": elements }));
    }
    json!({ "text": event.summary(), "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::samples::*;

    /// The JSON block after `heading` in docs/notify.md.
    fn doc_sample(heading: &str) -> Value {
        let doc = include_str!("../../docs/notify.md");
        let after = doc.split(heading).nth(1).expect(heading);
        let block = after.split("```json\n").nth(1).expect("a json block");
        serde_json::from_str(block.split("```").next().unwrap()).expect("sample JSON")
    }

    /// docs/notify.md shows exactly what is sent; `.ci/adaptive-card.sh` validates and renders
    /// that Teams sample with the `adaptivecards` renderer.
    #[test]
    fn the_documented_renderings_are_what_is_sent() {
        assert_eq!(
            doc_sample("### Teams rendering of the pending sample"),
            teams_message(&pending_event(30)),
            "docs/notify.md's Teams sample drifted from teams_message"
        );
        assert_eq!(
            doc_sample("### Slack rendering of the pending sample"),
            slack_message(&pending_event(30)),
            "docs/notify.md's Slack sample drifted from slack_message"
        );
        assert_eq!(
            doc_sample("### Slack rendering of a native stop's notice"),
            slack_message(&native_event(30)),
            "docs/notify.md's native-only Slack sample drifted from slack_message"
        );
    }

    fn native_event(lead: u32) -> Event {
        Event::shutdown_pending(&source(), now(), native_pending(lead))
    }

    /// A native stop's notice says which native schedule to disable and the `curfew adopt`
    /// command, in every rendering (not only in the event's reason).
    #[test]
    fn native_notices_carry_the_specific_caveat_in_every_rendering() {
        let e = native_event(30);
        let note = native_pending(30).note.unwrap();
        assert!(note.contains("native schedule #0") && note.contains("`curfew adopt gpu-alice`"));
        let teams = teams_message(&e);
        let warning = &teams["attachments"][0]["content"]["body"][1];
        assert_eq!(warning["color"], "Warning");
        assert_eq!(warning["text"], note.as_str());
        let slack = slack_message(&e);
        let text = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.contains(&format!(":warning: {note}")), "{text}");
        assert!(slack["text"].as_str().unwrap().contains(&note));
        let EventData::ShutdownPending(d) = &e.data else {
            unreachable!()
        };
        let mail = crate::email::shutdown_email(d);
        assert!(
            mail.text.contains(&format!("Note: {note}")),
            "{}",
            mail.text
        );
        assert!(
            mail.html.contains("`curfew adopt gpu-alice`"),
            "{}",
            mail.html
        );
        assert!(!e.summary().contains(crate::NATIVE_ONLY_NOTE));
        assert_eq!(e.to_json()["data"]["note"], note.as_str());
    }

    #[test]
    fn teams_card_has_facts_and_the_given_links() {
        let m = teams_message(&pending_event(30));
        assert_eq!(m["type"], "message");
        let a = &m["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][0]["text"], "gpu-alice will stop in 30 min");
        let facts = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "FactSet")
            .unwrap()["facts"]
            .as_array()
            .unwrap()
            .clone();
        let titles: Vec<_> = facts.iter().map(|f| f["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Instance", "Time (local)", "Time (UTC)", "Reason"]);
        assert_eq!(facts[1]["value"], "2026-03-01 18:00 PST");
        let actions = card["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 4);
        assert!(actions.iter().all(|a| a["type"] == "Action.OpenUrl"));
        assert_eq!(
            actions[0]["url"],
            "https://curfew.example/api/dismiss?t=SKIPTOKEN"
        );
        assert_eq!(actions[3]["title"], "Snooze 2 h");
        assert_eq!(
            actions[1]["url"],
            "https://curfew.example/api/dismiss?t=SNOOZE30TOKEN"
        );
    }

    #[test]
    fn slack_blocks_have_section_context_and_url_buttons() {
        let m = slack_message(&pending_event(5));
        assert!(m["text"]
            .as_str()
            .unwrap()
            .starts_with("gpu-alice will stop"));
        let blocks = m["blocks"].as_array().unwrap();
        let kinds: Vec<_> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["section", "context", "actions"]);
        assert!(blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("*Time (local):* 2026-03-01 18:00 PST"));
        let buttons = blocks[2]["elements"].as_array().unwrap();
        let urls: Vec<_> = buttons.iter().map(|b| b["url"].as_str().unwrap()).collect();
        assert_eq!(
            urls,
            [
                "https://curfew.example/api/dismiss?t=SKIPTOKEN",
                "https://curfew.example/api/dismiss?t=SNOOZE30TOKEN",
                "https://curfew.example/api/dismiss?t=SNOOZE60TOKEN",
                "https://curfew.example/api/dismiss?t=SNOOZE120TOKEN",
            ]
        );
        assert!(buttons.iter().all(|b| b["type"] == "button"));
        assert_eq!(buttons[1]["action_id"], "curfew-snooze-30");
    }

    #[test]
    fn other_events_have_no_buttons() {
        for e in all_events().into_iter().skip(1) {
            assert!(teams_message(&e)["attachments"][0]["content"]
                .get("actions")
                .is_none());
            let blocks = slack_message(&e)["blocks"].as_array().unwrap().len();
            assert_eq!(blocks, 2, "{}", e.kind.as_str());
        }
    }

    #[test]
    fn slack_text_is_escaped() {
        let mut p = pending(30);
        p.reason = "a <b> & c".into();
        let e = crate::Event::shutdown_pending(&source(), now(), p);
        let t = slack_message(&e)["blocks"][0]["text"]["text"].clone();
        assert!(t.as_str().unwrap().contains("a &lt;b&gt; &amp; c"));
    }
}
