//! Which channels an event goes to: routing rules map scopes (subscription, resource group,
//! workspace, tag, owner) and event types to channel labels. The first matching rule wins
//! unless it says `continue`; then later matching rules add their channels too.
//!
//! Pure: the governor builds a [`RouteTarget`] from the instance (or the event's subject) and
//! asks [`route`]; `docs/notify.md` shows the configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a rule's scope is compared with: where the instance lives, its tags and its owner.
/// Serialisable: an event waiting in the outbox keeps it, so a resend is routed the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RouteTarget {
    /// Subscription id.
    pub subscription: Option<String>,
    /// Resource group name.
    pub resource_group: Option<String>,
    /// Workspace name.
    pub workspace: Option<String>,
    /// Resource tags.
    pub tags: BTreeMap<String, String>,
    /// The owner's Entra object id (assigned user, else creator).
    pub owner: Option<String>,
}

impl RouteTarget {
    /// The subscription, resource group and workspace read from an ARM id (an instance's, a
    /// workspace's or a budget scope's); anything else gives an empty target.
    pub fn from_arm_id(id: &str) -> RouteTarget {
        let parts: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
        let after = |key: &str| {
            parts
                .windows(2)
                .find(|w| w[0].eq_ignore_ascii_case(key))
                .map(|w| w[1].to_owned())
        };
        RouteTarget {
            subscription: after("subscriptions"),
            resource_group: after("resourceGroups"),
            workspace: after("workspaces"),
            ..RouteTarget::default()
        }
    }
}

/// Where a rule applies. Every field given must match (case-insensitive); none given: every
/// instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteScope {
    /// Subscription id.
    pub subscription: Option<String>,
    /// Resource group name.
    pub resource_group: Option<String>,
    /// Workspace name.
    pub workspace: Option<String>,
    /// `key=value`, or `key` alone for any value.
    pub tag: Option<String>,
    /// An owner's object id, or `*` for any instance whose owner is known.
    pub owner: Option<String>,
}

/// One routing rule, as written under `routes` in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteRule {
    /// Names the rule in problems and in `explain`.
    pub name: String,
    /// Where it applies (default: everywhere).
    #[serde(default)]
    pub scope: RouteScope,
    /// Event types it applies to (`curfew.shutdown.pending`, or a prefix ending in `*`);
    /// empty: every type.
    #[serde(default)]
    pub events: Vec<String>,
    /// Channel labels the matching events go to.
    pub channels: Vec<String>,
    /// Keep looking at later rules after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_: bool,
}

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
        (Some(_), None) => false,
    }
}

impl RouteScope {
    /// Whether `t` lies in this scope.
    pub fn contains(&self, t: &RouteTarget) -> bool {
        let tag = match &self.tag {
            None => true,
            Some(spec) => {
                let (k, v) = match spec.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim())),
                    None => (spec.trim(), None),
                };
                t.tags.iter().any(|(tk, tv)| {
                    tk.eq_ignore_ascii_case(k) && v.is_none_or(|v| tv.eq_ignore_ascii_case(v))
                })
            }
        };
        let owner = match self.owner.as_deref() {
            None => true,
            Some("*") => t.owner.is_some(),
            Some(o) => t
                .owner
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(o)),
        };
        tag && owner
            && same(&self.subscription, &t.subscription)
            && same(&self.resource_group, &t.resource_group)
            && same(&self.workspace, &t.workspace)
    }
}

/// Whether an event-type pattern (exact, or a prefix ending in `*`) matches `kind`.
pub fn event_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

impl RouteRule {
    /// Whether this rule applies to an event of type `kind` about `t`.
    pub fn matches(&self, t: &RouteTarget, kind: &str) -> bool {
        (self.events.is_empty() || self.events.iter().any(|p| event_matches(p, kind)))
            && self.scope.contains(t)
    }
}

/// What the rules decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The rules that matched, in order (the last one stopped the search unless every one
    /// said `continue`).
    pub rules: Vec<&'a str>,
    /// Channel labels, each once, in the order the rules name them.
    pub channels: Vec<&'a str>,
}

/// The channels an event of type `kind` about `t` goes to. `None` without rules (every
/// channel, as before routing existed); with rules, the matching ones' channels: the first
/// match wins unless it says `continue`. No match gives no channel.
pub fn route<'a>(rules: &'a [RouteRule], t: &RouteTarget, kind: &str) -> Option<Routed<'a>> {
    if rules.is_empty() {
        return None;
    }
    let mut out = Routed {
        rules: Vec::new(),
        channels: Vec::new(),
    };
    for r in rules.iter().filter(|r| r.matches(t, kind)) {
        out.rules.push(&r.name);
        for c in &r.channels {
            if !out.channels.contains(&c.as_str()) {
                out.channels.push(c);
            }
        }
        if !r.continue_ {
            break;
        }
    }
    Some(out)
}

/// Problems of a rule list that no single rule shows: empty or repeated names, rules without
/// channels, channels no configured channel has (`known`), and event types not in
/// `event_types`. Each problem is `(rule index, message)`.
pub fn check_rules(
    rules: &[RouteRule],
    known: &[&str],
    event_types: &[&str],
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let name = &r.name;
        if name.trim().is_empty() {
            out.push((i, "a rule needs a name".to_owned()));
        } else if rules[..i].iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
            out.push((
                i,
                format!("rule '{name}': the name is used by an earlier rule"),
            ));
        }
        if r.channels.is_empty() {
            out.push((i, format!("rule '{name}': names no channel")));
        }
        for c in &r.channels {
            if !known.contains(&c.as_str()) {
                out.push((
                    i,
                    format!(
                        "rule '{name}': no channel is labelled '{c}' (channels: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        for e in &r.events {
            if !event_types.iter().any(|k| event_matches(e, k)) {
                out.push((
                    i,
                    format!(
                        "rule '{name}': '{e}' matches no event type ({})",
                        event_types.join(", ")
                    ),
                ));
            }
        }
        if let Some(tag) = &r.scope.tag {
            if tag.split('=').next().unwrap_or("").trim().is_empty() {
                out.push((i, format!("rule '{name}': tag '{tag}' has no key")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "/subscriptions/S1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-a/computes/gpu-alice";

    fn target() -> RouteTarget {
        RouteTarget {
            tags: [("team".to_owned(), "vision".to_owned())].into(),
            owner: Some("oid-alice".to_owned()),
            ..RouteTarget::from_arm_id(ID)
        }
    }

    fn rule(
        name: &str,
        scope: RouteScope,
        events: &[&str],
        channels: &[&str],
        cont: bool,
    ) -> RouteRule {
        RouteRule {
            name: name.to_owned(),
            scope,
            events: events.iter().map(|s| (*s).to_owned()).collect(),
            channels: channels.iter().map(|s| (*s).to_owned()).collect(),
            continue_: cont,
        }
    }

    fn scope(f: impl FnOnce(&mut RouteScope)) -> RouteScope {
        let mut s = RouteScope::default();
        f(&mut s);
        s
    }

    #[test]
    fn arm_ids_give_where_an_instance_lives() {
        let t = RouteTarget::from_arm_id(ID);
        assert_eq!(t.subscription.as_deref(), Some("S1"));
        assert_eq!(t.resource_group.as_deref(), Some("rg-ml"));
        assert_eq!(t.workspace.as_deref(), Some("ws-a"));
        assert_eq!(
            RouteTarget::from_arm_id("gpu-alice"),
            RouteTarget::default()
        );
    }

    #[test]
    fn scopes_match_table() {
        let t = target();
        let cases: Vec<(&str, RouteScope, bool)> = vec![
            ("everywhere", RouteScope::default(), true),
            (
                "subscription",
                scope(|s| s.subscription = Some("s1".into())),
                true,
            ),
            (
                "other subscription",
                scope(|s| s.subscription = Some("S2".into())),
                false,
            ),
            (
                "resource group",
                scope(|s| s.resource_group = Some("RG-ML".into())),
                true,
            ),
            (
                "workspace",
                scope(|s| s.workspace = Some("ws-a".into())),
                true,
            ),
            (
                "other workspace",
                scope(|s| s.workspace = Some("ws-b".into())),
                false,
            ),
            (
                "tag with value",
                scope(|s| s.tag = Some("team=vision".into())),
                true,
            ),
            (
                "tag other value",
                scope(|s| s.tag = Some("team=nlp".into())),
                false,
            ),
            ("tag key only", scope(|s| s.tag = Some("Team".into())), true),
            (
                "missing tag",
                scope(|s| s.tag = Some("cost-center".into())),
                false,
            ),
            ("owner", scope(|s| s.owner = Some("OID-ALICE".into())), true),
            (
                "other owner",
                scope(|s| s.owner = Some("oid-bob".into())),
                false,
            ),
            ("any owner", scope(|s| s.owner = Some("*".into())), true),
            (
                "all of them",
                scope(|s| {
                    s.subscription = Some("S1".into());
                    s.workspace = Some("ws-a".into());
                    s.tag = Some("team=vision".into());
                }),
                true,
            ),
            (
                "one of them fails",
                scope(|s| {
                    s.subscription = Some("S1".into());
                    s.workspace = Some("ws-b".into());
                }),
                false,
            ),
        ];
        for (what, s, want) in cases {
            assert_eq!(s.contains(&t), want, "{what}");
        }
        let ownerless = RouteTarget::from_arm_id(ID);
        assert!(!scope(|s| s.owner = Some("*".into())).contains(&ownerless));
    }

    /// What, about whom, which event type, the rules expected, the channels expected.
    type Case<'a> = (
        &'a str,
        &'a RouteTarget,
        &'a str,
        Vec<&'a str>,
        Vec<&'a str>,
    );

    #[test]
    fn first_match_wins_unless_continue_table() {
        let pending = "curfew.shutdown.pending";
        let failed = "curfew.action.failed";
        let vision = scope(|s| s.tag = Some("team=vision".into()));
        let rules = vec![
            rule(
                "ops-failures",
                RouteScope::default(),
                &[failed, "curfew.drift.*"],
                &["ops"],
                true,
            ),
            rule("vision", vision.clone(), &[], &["vision-teams"], false),
            rule(
                "owners",
                scope(|s| s.owner = Some("*".into())),
                &[pending],
                &["email"],
                false,
            ),
            rule("rest", RouteScope::default(), &[], &["audit"], false),
        ];
        let t = target();
        let other = RouteTarget {
            tags: BTreeMap::new(),
            ..target()
        };
        let nobody = RouteTarget::from_arm_id("/subscriptions/S9");
        let cases: Vec<Case<'_>> = vec![
            (
                "a tagged notice: first match",
                &t,
                pending,
                vec!["vision"],
                vec!["vision-teams"],
            ),
            (
                "a failure: continue, then the tag's",
                &t,
                failed,
                vec!["ops-failures", "vision"],
                vec!["ops", "vision-teams"],
            ),
            (
                "drift by prefix",
                &other,
                "curfew.drift.detected",
                vec!["ops-failures", "rest"],
                vec!["ops", "audit"],
            ),
            (
                "an untagged notice: the owner",
                &other,
                pending,
                vec!["owners"],
                vec!["email"],
            ),
            (
                "an untagged start: the rest",
                &other,
                "curfew.instance.started",
                vec!["rest"],
                vec!["audit"],
            ),
            (
                "a budget: the rest",
                &nobody,
                "curfew.budget.exceeded",
                vec!["rest"],
                vec!["audit"],
            ),
        ];
        for (what, target, kind, want_rules, want_channels) in cases {
            let r = route(&rules, target, kind).expect("rules exist");
            assert_eq!(r.rules, want_rules, "{what}");
            assert_eq!(r.channels, want_channels, "{what}");
        }
        assert_eq!(route(&[], &t, pending), None, "no rules: every channel");
        let narrow = vec![rule("only-vision", vision, &[], &["x"], false)];
        assert_eq!(
            route(&narrow, &other, pending).map(|r| r.channels),
            Some(vec![]),
            "rules but no match: no channel"
        );
    }

    #[test]
    fn a_channel_named_twice_is_sent_once() {
        let rules = vec![
            rule("a", RouteScope::default(), &[], &["ops", "email"], true),
            rule("b", RouteScope::default(), &[], &["email", "audit"], false),
        ];
        let r = route(&rules, &target(), "curfew.instance.stopped").unwrap();
        assert_eq!(r.channels, ["ops", "email", "audit"]);
    }

    #[test]
    fn every_bad_rule_is_named() {
        let rules = vec![
            rule(
                "a",
                RouteScope::default(),
                &["curfew.nope"],
                &["ops", "fax"],
                false,
            ),
            rule("A", scope(|s| s.tag = Some("=x".into())), &[], &[], false),
            rule(
                "",
                RouteScope::default(),
                &["curfew.shutdown.*"],
                &["ops"],
                false,
            ),
        ];
        let got = check_rules(&rules, &["ops", "email"], &["curfew.shutdown.pending"]);
        let msgs: Vec<String> = got.iter().map(|(i, m)| format!("{i}: {m}")).collect();
        assert_eq!(
            msgs,
            [
                "0: rule 'a': no channel is labelled 'fax' (channels: ops, email)",
                "0: rule 'a': 'curfew.nope' matches no event type (curfew.shutdown.pending)",
                "1: rule 'A': the name is used by an earlier rule",
                "1: rule 'A': names no channel",
                "1: rule 'A': tag '=x' has no key",
                "2: a rule needs a name",
            ]
        );
    }
}
