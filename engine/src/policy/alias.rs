//! Field names and aliases: from the names a policy writes (`name`, `tags['team']`,
//! `Microsoft.MachineLearningServices/workspaces/computes/schedules`) to paths in the ARM compute
//! resource JSON, and reading those paths from an instance.

use serde_json::Value;

/// The provider prefix every compute alias starts with (compared case-insensitively); exported so
/// reports can shorten alias names.
pub const COMPUTE_ALIAS_PREFIX: &str = "Microsoft.MachineLearningServices/workspaces/computes/";

/// Where an alias lives in the compute resource: under `properties` (the compute envelope) or
/// under `properties.properties` (the compute-instance specific properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Envelope,
    Instance,
}

/// Every alias suffix Curfew knows (after [`COMPUTE_ALIAS_PREFIX`]), and where it lives. Azure's
/// alias list for `workspaces/computes` has these names; `[*]` walks every array element.
const ALIASES: &[(&str, Base)] = &[
    ("computeType", Base::Envelope),
    ("computeLocation", Base::Envelope),
    ("description", Base::Envelope),
    ("provisioningState", Base::Envelope),
    ("resourceId", Base::Envelope),
    ("disableLocalAuth", Base::Envelope),
    ("isAttachedCompute", Base::Envelope),
    ("createdOn", Base::Envelope),
    ("modifiedOn", Base::Envelope),
    ("vmSize", Base::Instance),
    ("state", Base::Instance),
    ("idleTimeBeforeShutdown", Base::Instance),
    ("applicationSharingPolicy", Base::Instance),
    ("computeInstanceAuthorizationType", Base::Instance),
    ("enableNodePublicIp", Base::Instance),
    ("enableSSO", Base::Instance),
    ("enableRootAccess", Base::Instance),
    ("enableOSPatching", Base::Instance),
    ("releaseQuotaOnStop", Base::Instance),
    ("subnet", Base::Instance),
    ("subnet.id", Base::Instance),
    ("sshSettings", Base::Instance),
    ("sshSettings.sshPublicAccess", Base::Instance),
    ("sshSettings.adminUserName", Base::Instance),
    ("sshSettings.sshPort", Base::Instance),
    ("osImageMetadata", Base::Instance),
    ("osImageMetadata.isLatestOsImageVersion", Base::Instance),
    ("osImageMetadata.currentImageVersion", Base::Instance),
    ("osImageMetadata.latestImageVersion", Base::Instance),
    (
        "personalComputeInstanceSettings.assignedUser.objectId",
        Base::Instance,
    ),
    (
        "personalComputeInstanceSettings.assignedUser.tenantId",
        Base::Instance,
    ),
    ("createdBy.userName", Base::Instance),
    ("createdBy.userId", Base::Instance),
    ("createdBy.userOrgId", Base::Instance),
    ("customServices[*].name", Base::Instance),
    ("applications[*].displayName", Base::Instance),
    ("scaleSettings.minNodeCount", Base::Instance),
    ("scaleSettings.maxNodeCount", Base::Instance),
    ("scaleSettings.nodeIdleTimeBeforeScaleDown", Base::Instance),
    ("schedules", Base::Instance),
    ("schedules.computeStartStop", Base::Instance),
    ("schedules.computeStartStop[*]", Base::Instance),
    ("schedules.computeStartStop[*].action", Base::Instance),
    ("schedules.computeStartStop[*].status", Base::Instance),
    ("schedules.computeStartStop[*].triggerType", Base::Instance),
    (
        "schedules.computeStartStop[*].cron.expression",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].cron.startTime",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].cron.timeZone",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.frequency",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.interval",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.startTime",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.timeZone",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.schedule.hours[*]",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.schedule.minutes[*]",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.schedule.weekDays[*]",
        Base::Instance,
    ),
    (
        "schedules.computeStartStop[*].recurrence.schedule.monthDays[*]",
        Base::Instance,
    ),
];

/// Top-level resource fields a policy may name directly.
const RESOURCE_FIELDS: &[&str] = &["name", "type", "location", "id", "kind"];

/// The tag name Curfew reads on the resource for `tags…` fields.
const TAGS: &str = "tags";

/// One step of a path into the resource JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// An object member (exact name first, then a case-insensitive match).
    Key(Box<str>),
    /// `[*]`: every element of an array.
    Each,
}

/// Which well-known property a field is, for the things Curfew treats specially.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// `…/schedules`: absent when null, `{}` or with an empty `computeStartStop`.
    Schedules,
    /// `…/idleTimeBeforeShutdown`.
    IdleTimeBeforeShutdown,
    /// `tags['x']`: one tag (the name as written).
    Tag(String),
    /// Anything else.
    Other,
}

/// A field name compiled to a path in the compute resource JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    /// The field as the policy wrote it.
    pub(crate) name: String,
    /// The JSON path it reads, dotted (`properties.properties.schedules`).
    pub(crate) json_path: String,
    pub(crate) known: Known,
    segments: Vec<Segment>,
    has_each: bool,
}

/// The value(s) a field has on one instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved<'a> {
    /// Not there (or JSON `null`).
    Missing,
    /// One value.
    One(&'a Value),
    /// A `[*]` path that met an array: one entry per element (possibly none).
    Many(Vec<&'a Value>),
}

impl FieldPath {
    /// Compile a field name; `None` if it is not a name or alias Curfew knows.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let trimmed = name.trim();
        if let Some(field) = RESOURCE_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(trimmed))
        {
            return Some(Self::build(
                name,
                vec![Segment::Key((*field).into())],
                Known::Other,
            ));
        }
        if let Some(tag) = parse_tag(trimmed) {
            return Some(match tag {
                None => Self::build(name, vec![Segment::Key(TAGS.into())], Known::Other),
                Some(tag) => Self::build(
                    name,
                    vec![Segment::Key(TAGS.into()), Segment::Key(tag.as_str().into())],
                    Known::Tag(tag),
                ),
            });
        }
        let prefix = trimmed.get(..COMPUTE_ALIAS_PREFIX.len())?;
        if !prefix.eq_ignore_ascii_case(COMPUTE_ALIAS_PREFIX) {
            return None;
        }
        let suffix = &trimmed[COMPUTE_ALIAS_PREFIX.len()..];
        let (canonical, base) = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(suffix))?;
        let mut segments = vec![Segment::Key("properties".into())];
        if *base == Base::Instance {
            segments.push(Segment::Key("properties".into()));
        }
        for part in canonical.split('.') {
            match part.strip_suffix("[*]") {
                Some(key) => {
                    segments.push(Segment::Key(key.into()));
                    segments.push(Segment::Each);
                }
                None => segments.push(Segment::Key(part.into())),
            }
        }
        let known = if canonical.eq_ignore_ascii_case("schedules") {
            Known::Schedules
        } else if canonical.eq_ignore_ascii_case("idleTimeBeforeShutdown") {
            Known::IdleTimeBeforeShutdown
        } else {
            Known::Other
        };
        Some(Self::build(name, segments, known))
    }

    fn build(name: &str, segments: Vec<Segment>, known: Known) -> Self {
        let mut json_path = String::new();
        for segment in &segments {
            match segment {
                Segment::Key(key) => {
                    if !json_path.is_empty() {
                        json_path.push('.');
                    }
                    json_path.push_str(key);
                }
                Segment::Each => json_path.push_str("[*]"),
            }
        }
        let has_each = segments.contains(&Segment::Each);
        Self {
            name: name.to_owned(),
            json_path,
            known,
            segments,
            has_each,
        }
    }

    /// Read this field from an instance.
    pub(crate) fn resolve<'a>(&self, instance: &'a Value) -> Resolved<'a> {
        if !self.has_each {
            let mut current = instance;
            for segment in &self.segments {
                match segment {
                    Segment::Key(key) => match member(current, key) {
                        Some(next) => current = next,
                        None => return Resolved::Missing,
                    },
                    Segment::Each => unreachable!("has_each is false"),
                }
            }
            if current.is_null() || (self.known == Known::Schedules && schedules_empty(current)) {
                return Resolved::Missing;
            }
            return Resolved::One(current);
        }
        let mut current: Vec<&'a Value> = vec![instance];
        let mut seen_array = false;
        for segment in &self.segments {
            let mut next = Vec::with_capacity(current.len());
            match segment {
                Segment::Key(key) => next.extend(current.iter().filter_map(|v| member(v, key))),
                Segment::Each => {
                    for value in &current {
                        if let Value::Array(items) = value {
                            seen_array = true;
                            next.extend(items.iter());
                        }
                    }
                }
            }
            current = next;
        }
        if !seen_array {
            return Resolved::Missing;
        }
        Resolved::Many(current.into_iter().filter(|v| !v.is_null()).collect())
    }
}

/// `tags`, `tags['x']`, `tags[x]`, `tags.x` → `Some(None)` / `Some(Some("x"))`.
fn parse_tag(name: &str) -> Option<Option<String>> {
    let head = name.get(..TAGS.len())?;
    if !head.eq_ignore_ascii_case(TAGS) {
        return None;
    }
    let rest = &name[TAGS.len()..];
    if rest.is_empty() {
        return Some(None);
    }
    if let Some(tag) = rest.strip_prefix('.') {
        return (!tag.is_empty()).then(|| Some(tag.to_owned()));
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(inner);
    (!inner.is_empty()).then(|| Some(inner.to_owned()))
}

/// An object member by name: exact first, then case-insensitively (ARM names are
/// case-insensitive; tag names especially).
pub(crate) fn member<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A `schedules` value that holds no schedule: `{}` or an empty/null `computeStartStop`. Azure ML
/// returns these for instances whose schedules were removed; they count as "no schedules".
fn schedules_empty(value: &Value) -> bool {
    match member(value, "computeStartStop") {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_aliases_to_the_compute_json() {
        let cases = [
            ("Microsoft.MachineLearningServices/workspaces/computes/computeType", "properties.computeType"),
            (
                "microsoft.machinelearningservices/workspaces/computes/IDLETIMEBEFORESHUTDOWN",
                "properties.properties.idleTimeBeforeShutdown",
            ),
            (
                "Microsoft.MachineLearningServices/workspaces/computes/schedules.computeStartStop[*].action",
                "properties.properties.schedules.computeStartStop[*].action",
            ),
            ("tags['team']", "tags.team"),
            ("tags[team]", "tags.team"),
            ("tags.team", "tags.team"),
            ("Type", "type"),
        ];
        for (alias, path) in cases {
            assert_eq!(FieldPath::parse(alias).unwrap().json_path, path, "{alias}");
        }
        assert!(
            FieldPath::parse("Microsoft.MachineLearningServices/workspaces/computes/schedule")
                .is_none()
        );
        assert!(FieldPath::parse("tags[]").is_none());
        assert!(FieldPath::parse("properties.vmSize").is_none());
    }

    #[test]
    fn empty_schedules_are_missing() {
        let field =
            FieldPath::parse("Microsoft.MachineLearningServices/workspaces/computes/schedules")
                .unwrap();
        for schedules in [
            json!(null),
            json!({}),
            json!({"computeStartStop": []}),
            json!({"computeStartStop": null}),
        ] {
            let instance = json!({"properties": {"properties": {"schedules": schedules}}});
            assert_eq!(field.resolve(&instance), Resolved::Missing, "{schedules}");
        }
    }

    #[test]
    fn each_walks_arrays_and_missing_arrays_are_missing() {
        let field = FieldPath::parse(
            "Microsoft.MachineLearningServices/workspaces/computes/schedules.computeStartStop[*].action",
        )
        .unwrap();
        let two = json!({"properties": {"properties": {"schedules": {"computeStartStop": [
            {"action": "Stop"}, {"action": "start"}]}}}});
        assert_eq!(
            field.resolve(&two),
            Resolved::Many(vec![&json!("Stop"), &json!("start")])
        );
        assert_eq!(field.resolve(&json!({})), Resolved::Missing);
        let none = json!({"properties": {"properties": {"schedules": {"computeStartStop": []}}}});
        assert_eq!(field.resolve(&none), Resolved::Many(vec![]));
    }

    #[test]
    fn tag_lookup_ignores_case() {
        let field = FieldPath::parse("tags['Team']").unwrap();
        let instance = json!({"tags": {"team": "ml"}});
        assert_eq!(field.resolve(&instance), Resolved::One(&json!("ml")));
    }
}
