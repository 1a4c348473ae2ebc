//! Default policies (issue 6, docs/design.md §8): the three Azure documentation policies against the ARM
//! and SDK fixtures, every operator and expression function, load errors with JSON paths, scope
//! precedence and exemptions.

use chrono::NaiveDate;
use curfew_engine::policy::{
    assess, validate, validate_str, AppendTarget, Assignment, Effect, Exemption, Observed,
    PolicyDefinition, PolicyError, PolicyScope,
};
use serde_json::{json, Map, Value};

const STOP_2200: &str = include_str!("../../testdata/policies/default-stop-schedule-2200-pst.json");
const IDLE_PT60M: &str = include_str!("../../testdata/policies/idle-shutdown-default-pt60m.json");
const AUDIT_OS: &str = include_str!("../../testdata/policies/audit-outdated-os-image.json");
const ARM_GET: &str =
    include_str!("../../testdata/arm/2025-12-01_Compute_get_ComputeInstance.json");
const ARM_GET_PREVIEW: &str =
    include_str!("../../testdata/arm/2025-10-01-preview_Compute_get_ComputeInstance.json");
const ARM_LIST: &str = include_str!("../../testdata/arm/2025-09-01_Compute_list.json");
const ARM_CREATE: &str = include_str!(
    "../../testdata/arm/2025-04-01_Compute_createOrUpdate_ComputeInstanceWithSchedules.json"
);
const SDK_WEEKLY_START: &str =
    include_str!("../../testdata/sdk/01_weekly_fri_1530_ist_start.compute.json");
const SDK_CRON_STOP: &str = include_str!("../../testdata/sdk/03_cron_1800_stop_pst.compute.json");
const SDK_ARM_SAMPLE: &str =
    include_str!("../../testdata/sdk/04_arm_sample_cron_stop_start_recurrence_utc.compute.json");
const SDK_IDLE_30: &str = include_str!("../../testdata/sdk/07_idle_30min_docs_string.compute.json");

const PREFIX: &str = "Microsoft.MachineLearningServices/workspaces/computes/";
const WS_ID: &str = "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345/resourceGroups/testrg123/providers/Microsoft.MachineLearningServices/workspaces/workspaces123";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn load(text: &str) -> PolicyDefinition {
    PolicyDefinition::from_json_str(text, &Map::new()).expect("policy loads")
}

fn load_value(document: Value) -> PolicyDefinition {
    PolicyDefinition::load(&document, &Map::new()).expect("policy loads")
}

/// The compute instance of the ARM `Compute_Get` example (no schedules, no idle time, OS image
/// not the latest).
fn arm_instance() -> Value {
    json_of(ARM_GET)["responses"]["200"]["body"].clone()
}

/// The AKS compute of the ARM `Compute_List` example.
fn aks_compute() -> Value {
    json_of(ARM_LIST)["responses"]["200"]["body"]["value"][0].clone()
}

/// An SDK-serialised compute body, given the ARM envelope (`id`, `name`, `type`) it has once it
/// exists in a workspace.
fn sdk_instance(text: &str, name: &str) -> Value {
    let mut body = json_of(text);
    body["id"] = json!(format!("{WS_ID}/computes/{name}"));
    body["name"] = json!(name);
    body["type"] = json!("Microsoft.MachineLearningServices/workspaces/computes");
    body
}

fn inner(instance: &mut Value) -> &mut Map<String, Value> {
    instance["properties"]["properties"]
        .as_object_mut()
        .expect("compute instance properties")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The three documentation policies, verbatim.

#[test]
fn fixture_policies_load_verbatim() {
    let stop = load(STOP_2200);
    assert_eq!(stop.effect(), Effect::Append);
    assert_eq!(stop.display_name(), "unnamed policy");
    assert_eq!(
        stop.with_fallback_name("default-stop").display_name(),
        "default-stop"
    );
    assert_eq!(load(IDLE_PT60M).effect(), Effect::Append);
    assert_eq!(load(AUDIT_OS).effect(), Effect::Audit);
    for text in [STOP_2200, IDLE_PT60M, AUDIT_OS] {
        assert_eq!(validate_str(text, &Map::new()), vec![]);
    }
}

#[test]
fn stop_schedule_appends_to_an_instance_without_schedules() {
    let policy = load(STOP_2200);
    let evaluation = policy.evaluate(&arm_instance());
    assert!(evaluation.matched, "{}", evaluation.explanation());
    let expected = json_of(STOP_2200)["policyRule"]["then"]["details"][0]["value"].clone();
    assert_eq!(evaluation.appends.len(), 1);
    assert_eq!(evaluation.appends[0].target, AppendTarget::Schedules);
    assert_eq!(
        evaluation.appends[0].json_path,
        "properties.properties.schedules"
    );
    assert_eq!(evaluation.appends[0].value, expected);
    assert_eq!(
        expected["computeStartStop"][0]["cron"]["expression"],
        "0 22 * * *"
    );
    let decider = evaluation.decided_by.as_ref().unwrap();
    assert_eq!(&*decider.step.path, "allOf[1]");
    assert_eq!(decider.observed, Observed::Absent);
    assert_eq!(
        decider.to_string(),
        format!("allOf[1]: field '{PREFIX}schedules' exists false — holds: the instance has no value there")
    );
    assert_eq!(evaluation.trace.len(), 2);
    assert!(evaluation.trace.iter().all(|s| s.holds));
}

#[test]
fn stop_schedule_counts_empty_schedules_as_none() {
    let policy = load(STOP_2200);
    for schedules in [
        json!(null),
        json!({}),
        json!({"computeStartStop": []}),
        json!({"computeStartStop": null}),
    ] {
        let mut instance = arm_instance();
        inner(&mut instance).insert("schedules".into(), schedules.clone());
        assert!(
            policy.evaluate(&instance).matched,
            "schedules = {schedules}"
        );
    }
}

#[test]
fn stop_schedule_leaves_instances_idle_set_alone() {
    let policy = load(STOP_2200);
    for (text, name) in [
        (SDK_CRON_STOP, "cron-stop"),
        (SDK_WEEKLY_START, "weekly-start"),
        (SDK_ARM_SAMPLE, "sample"),
    ] {
        let evaluation = policy.evaluate(&sdk_instance(text, name));
        assert!(!evaluation.matched, "{name}");
        assert!(evaluation.appends.is_empty());
        let decider = evaluation.decided_by.unwrap();
        assert_eq!(&*decider.step.path, "allOf[1]");
        assert_eq!(decider.observed, Observed::Present);
    }
    // The create request body of the ARM example carries schedules too.
    let request = json_of(ARM_CREATE)["parameters"]["parameters"].clone();
    assert!(!policy.evaluate(&request).matched);
}

#[test]
fn stop_schedule_ignores_other_compute_types() {
    let evaluation = load(STOP_2200).evaluate(&aks_compute());
    assert!(!evaluation.matched);
    let decider = evaluation.decided_by.unwrap();
    assert_eq!(&*decider.step.path, "allOf[0]");
    assert_eq!(decider.observed, Observed::Value("'AKS'".into()));
    assert_eq!(
        evaluation.trace.len(),
        1,
        "allOf stops at the first failing condition"
    );
}

#[test]
fn idle_policy_gives_pt60m_where_missing() {
    let policy = load(IDLE_PT60M);
    for fixture in [ARM_GET, ARM_GET_PREVIEW] {
        let instance = json_of(fixture)["responses"]["200"]["body"].clone();
        let evaluation = policy.evaluate(&instance);
        assert!(evaluation.matched);
        assert_eq!(
            evaluation.appends[0].target,
            AppendTarget::IdleTimeBeforeShutdown
        );
        assert_eq!(evaluation.appends[0].value, json!("PT60M"));
        assert_eq!(
            &*evaluation.decided_by.unwrap().step.path,
            "allOf[2].anyOf[0]"
        );
    }
    // An SDK body once it exists, without an idle time.
    assert!(
        policy
            .evaluate(&sdk_instance(SDK_CRON_STOP, "cron-stop"))
            .matched
    );
}

#[test]
fn idle_policy_gives_pt60m_where_empty() {
    let policy = load(IDLE_PT60M);
    let mut instance = arm_instance();
    inner(&mut instance).insert("idleTimeBeforeShutdown".into(), json!(""));
    let evaluation = policy.evaluate(&instance);
    assert!(evaluation.matched);
    assert_eq!(evaluation.appends[0].value, json!("PT60M"));
    let decider = evaluation.decided_by.unwrap();
    assert_eq!(&*decider.step.path, "allOf[2].anyOf[1]");
    assert_eq!(decider.observed, Observed::Value("true".into()));

    inner(&mut instance).insert("idleTimeBeforeShutdown".into(), Value::Null);
    assert!(policy.evaluate(&instance).matched);
}

#[test]
fn idle_policy_keeps_a_set_idle_time() {
    let policy = load(IDLE_PT60M);
    let evaluation = policy.evaluate(&sdk_instance(SDK_IDLE_30, "idle30"));
    assert!(!evaluation.matched);
    assert!(evaluation.appends.is_empty());
    let decider = evaluation.decided_by.unwrap();
    assert_eq!(&*decider.step.path, "allOf[2].anyOf[1]");
    assert_eq!(
        decider.to_string(),
        format!(
            "allOf[2].anyOf[1]: value '[empty(field('{PREFIX}idleTimeBeforeShutdown'))]' equals true \
             — does not hold: the instance has false"
        )
    );
    assert!(!policy.evaluate(&aks_compute()).matched);
    // The SDK request body alone has no `type`, and the policy requires it.
    assert!(!policy.evaluate(&json_of(SDK_CRON_STOP)).matched);
}

#[test]
fn audit_policy_reports_outdated_os_images() {
    let policy = load(AUDIT_OS).with_fallback_name("audit-outdated-os-image");
    let evaluation = policy.evaluate(&arm_instance());
    assert!(
        evaluation.matched,
        "isLatestOsImageVersion: false equals \"false\""
    );
    assert!(evaluation.appends.is_empty());

    let assignments = [Assignment::new("audit-os", "/", policy.clone()).unwrap()];
    let assessment = assess(&assignments, &arm_instance(), today());
    assert_eq!(assessment.findings.len(), 1);
    assert_eq!(&*assessment.findings[0].policy, "audit-outdated-os-image");
    assert_eq!(
        assessment.findings[0].reason,
        format!("allOf[2]: field '{PREFIX}osImageMetadata.isLatestOsImageVersion' equals 'false' — holds: the instance has false")
    );

    let mut latest = arm_instance();
    inner(&mut latest)["osImageMetadata"]["isLatestOsImageVersion"] = json!(true);
    assert!(!policy.evaluate(&latest).matched);
    let mut text = arm_instance();
    inner(&mut text)["osImageMetadata"]["isLatestOsImageVersion"] = json!("False");
    assert!(policy.evaluate(&text).matched);
    let mut unknown = arm_instance();
    inner(&mut unknown).remove("osImageMetadata");
    assert!(
        !policy.evaluate(&unknown).matched,
        "no metadata: nothing to report"
    );
    assert!(!policy.evaluate(&aks_compute()).matched);
}

#[test]
fn all_three_policies_together() {
    let assignments = [
        Assignment::new("stop-2200", "/", load(STOP_2200)).unwrap(),
        Assignment::new("idle-60", "/", load(IDLE_PT60M)).unwrap(),
        Assignment::new("audit-os", "/", load(AUDIT_OS)).unwrap(),
    ];
    let assessment = assess(&assignments, &arm_instance(), today());
    assert_eq!(assessment.exemption, Exemption::None);
    assert_eq!(assessment.outcomes.len(), 3);
    let schedules = assessment.supplied(&AppendTarget::Schedules).unwrap();
    assert_eq!(&*schedules.assignment, "stop-2200");
    assert_eq!(schedules.value["computeStartStop"][0]["action"], "Stop");
    assert_eq!(
        assessment
            .supplied(&AppendTarget::IdleTimeBeforeShutdown)
            .unwrap()
            .value,
        json!("PT60M")
    );
    assert_eq!(assessment.findings.len(), 1);
    // The assessment is what `curfew policy check` prints as JSON.
    let rendered = serde_json::to_value(&assessment).unwrap();
    assert_eq!(
        rendered["supplied"][1]["target"],
        json!({"kind": "idleTimeBeforeShutdown"})
    );
    assert_eq!(
        rendered["outcomes"][0]["evaluation"]["decidedBy"]["step"]["path"],
        "allOf[1]"
    );

    let idle_set = assess(&assignments, &sdk_instance(SDK_IDLE_30, "idle30"), today());
    let targets: Vec<&AppendTarget> = idle_set.supplied.iter().map(|s| &s.target).collect();
    assert_eq!(
        targets,
        vec![&AppendTarget::Schedules],
        "idle time is set; only the schedule is supplied"
    );
    assert!(
        idle_set.findings.is_empty(),
        "no OS image metadata: nothing to audit"
    );
    let complete = assess(
        &assignments,
        &sdk_instance(SDK_CRON_STOP, "cron-stop"),
        today(),
    );
    let targets: Vec<&AppendTarget> = complete.supplied.iter().map(|s| &s.target).collect();
    assert_eq!(targets, vec![&AppendTarget::IdleTimeBeforeShutdown]);
}

// ---------------------------------------------------------------------------------------------
// Operators and expression functions.

fn instance_for_operators() -> Value {
    json!({
        "id": format!("{WS_ID}/computes/gpu-01"),
        "name": "gpu-01",
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "location": "eastus2",
        "tags": {"Team": "Vision", "cost-center": "42"},
        "properties": {
            "computeType": "ComputeInstance",
            "properties": {
                "vmSize": "Standard_NC6",
                "idleTimeBeforeShutdown": "PT30M",
                "sshSettings": {"sshPort": 22},
                "schedules": {"computeStartStop": [
                    {"action": "Stop", "status": "Enabled", "triggerType": "Cron",
                     "cron": {"expression": "0 18 * * *", "timeZone": "UTC"}},
                    {"action": "start", "status": "Enabled", "triggerType": "Cron",
                     "cron": {"expression": "0 8 * * 1-5", "timeZone": "UTC"}}
                ]}
            }
        }
    })
}

fn holds(condition: Value) -> bool {
    let definition = load_value(json!({"if": condition, "then": {"effect": "audit"}}));
    definition.evaluate(&instance_for_operators()).matched
}

#[test]
fn every_operator_on_fields() {
    let vm = format!("{PREFIX}vmSize");
    let port = format!("{PREFIX}sshSettings.sshPort");
    let missing = format!("{PREFIX}computeLocation");
    let cases: Vec<(Value, bool)> = vec![
        (json!({"field": vm, "equals": "standard_nc6"}), true),
        (json!({"field": vm, "equals": "Standard_NC12"}), false),
        (json!({"field": vm, "notEquals": "Standard_NC12"}), true),
        (json!({"field": vm, "notEquals": "STANDARD_NC6"}), false),
        (json!({"field": vm, "exists": true}), true),
        (json!({"field": vm, "exists": "true"}), true),
        (json!({"field": vm, "exists": false}), false),
        (json!({"field": missing, "exists": "False"}), true),
        (
            json!({"field": vm, "in": ["Standard_D4", "standard_nc6"]}),
            true,
        ),
        (json!({"field": vm, "in": ["Standard_D4"]}), false),
        (json!({"field": vm, "notIn": ["Standard_D4"]}), true),
        (json!({"field": vm, "notIn": ["STANDARD_NC6"]}), false),
        (json!({"field": vm, "like": "standard_nc*"}), true),
        (json!({"field": vm, "like": "*_D*"}), false),
        (json!({"field": vm, "notLike": "*_D*"}), true),
        (json!({"field": vm, "notLike": "*nc6"}), false),
        (json!({"field": vm, "contains": "NC"}), true),
        (json!({"field": vm, "contains": "NV"}), false),
        (json!({"field": vm, "notContains": "NV"}), true),
        (json!({"field": vm, "notContains": "nc"}), false),
        (json!({"field": port, "greater": 21}), true),
        (json!({"field": port, "greater": 22}), false),
        (json!({"field": port, "greaterOrEquals": 22}), true),
        (json!({"field": port, "greaterOrEquals": "23"}), false),
        (json!({"field": port, "less": 23}), true),
        (json!({"field": port, "less": 22}), false),
        (json!({"field": port, "lessOrEquals": 22}), true),
        (json!({"field": port, "lessOrEquals": 21}), false),
        (json!({"field": "location", "greater": "EASTUS"}), true),
        // An absent field: only `exists false` and the negated operators hold.
        (json!({"field": missing, "equals": "x"}), false),
        (json!({"field": missing, "notEquals": "x"}), true),
        (json!({"field": missing, "in": ["x"]}), false),
        (json!({"field": missing, "notIn": ["x"]}), true),
        (json!({"field": missing, "like": "*"}), false),
        (json!({"field": missing, "notLike": "*"}), true),
        (json!({"field": missing, "contains": "x"}), false),
        (json!({"field": missing, "notContains": "x"}), true),
        (json!({"field": missing, "greater": 1}), false),
        (json!({"field": missing, "lessOrEquals": 1}), false),
    ];
    for (condition, expected) in cases {
        assert_eq!(holds(condition.clone()), expected, "{condition}");
    }
}

#[test]
fn resource_fields_and_tags() {
    let cases: Vec<(Value, bool)> = vec![
        (json!({"field": "name", "equals": "GPU-01"}), true),
        (
            json!({"field": "type", "equals": "microsoft.machinelearningservices/workspaces/computes"}),
            true,
        ),
        (
            json!({"field": "location", "in": ["eastus2", "westeurope"]}),
            true,
        ),
        (
            json!({"field": "id", "like": "*/workspaces/workspaces123/computes/*"}),
            true,
        ),
        (json!({"field": "tags['team']", "equals": "vision"}), true),
        (json!({"field": "tags[Team]", "equals": "Vision"}), true),
        (json!({"field": "tags.cost-center", "equals": 42}), true),
        (json!({"field": "tags['owner']", "exists": false}), true),
        (json!({"field": "tags", "contains": "team"}), true),
        (
            json!({"field": format!("{PREFIX}computeType"), "equals": "ComputeInstance"}),
            true,
        ),
    ];
    for (condition, expected) in cases {
        assert_eq!(holds(condition.clone()), expected, "{condition}");
    }
}

#[test]
fn array_aliases_hold_for_every_element() {
    let action = format!("{PREFIX}schedules.computeStartStop[*].action");
    let status = format!("{PREFIX}schedules.computeStartStop[*].status");
    assert!(holds(json!({"field": status, "equals": "enabled"})));
    assert!(holds(json!({"field": action, "in": ["Stop", "Start"]})));
    assert!(
        !holds(json!({"field": action, "equals": "Stop"})),
        "one schedule is a start"
    );
    assert!(holds(
        json!({"not": {"field": action, "notEquals": "start"}})
    ));
    assert!(holds(
        json!({"value": format!("[length(field('{PREFIX}schedules.computeStartStop[*]'))]"), "equals": 2})
    ));
}

#[test]
fn logical_operators() {
    let yes = json!({"field": "name", "equals": "gpu-01"});
    let no = json!({"field": "name", "equals": "cpu-01"});
    assert!(holds(json!({"allOf": [yes, yes]})));
    assert!(!holds(json!({"allOf": [yes, no]})));
    assert!(holds(json!({"anyOf": [no, yes]})));
    assert!(!holds(json!({"anyOf": [no, no]})));
    assert!(holds(json!({"not": no})));
    assert!(!holds(json!({"not": {"anyOf": [no, {"not": no}]}})));
    assert!(
        holds(json!({"ALLOF": [{"Field": "name", "EQUALS": "gpu-01"}]})),
        "keys are case-insensitive"
    );
}

#[test]
fn every_expression_function_in_conditions() {
    let idle = format!("{PREFIX}idleTimeBeforeShutdown");
    let cases: Vec<(Value, bool)> = vec![
        (
            json!({"value": format!("[field('{idle}')]"), "equals": "pt30m"}),
            true,
        ),
        (
            json!({"value": format!("[empty(field('{idle}'))]"), "equals": false}),
            true,
        ),
        (
            json!({"value": "[empty(field('tags.owner'))]", "equals": "true"}),
            true,
        ),
        (
            json!({"value": "[not(empty(field('tags')))]", "equals": true}),
            true,
        ),
        (
            json!({"value": "[equals(field('name'), 'gpu-01')]", "equals": true}),
            true,
        ),
        (
            json!({"value": "[equals(field('name'), 'GPU-01')]", "equals": true}),
            false,
        ),
        (
            json!({"value": "[toLower(field('tags.team'))]", "equals": "vision"}),
            true,
        ),
        (
            json!({"value": "[concat(field('name'), '@', field('location'))]", "equals": "gpu-01@eastus2"}),
            true,
        ),
        (
            json!({"value": "[contains(field('name'), 'gpu')]", "equals": true}),
            true,
        ),
        (
            json!({"value": "[contains(field('tags'), 'cost-center')]", "equals": true}),
            true,
        ),
        (
            json!({"value": "[length(field('name'))]", "equals": 6}),
            true,
        ),
        (
            json!({"value": "[length(field('tags'))]", "greater": 1}),
            true,
        ),
        (json!({"value": "[true()]", "equals": true}), true),
        (json!({"value": "[false()]", "equals": true}), false),
        (
            json!({"value": "[and(true(), not(false()))]", "equals": true}),
            true,
        ),
        (
            json!({"value": "[if(empty(field('tags.owner')), 'nobody', field('tags.owner'))]", "equals": "nobody"}),
            true,
        ),
        (
            json!({"value": "[startsWith(field('name'), 'GPU')]", "equals": true}),
            true,
        ),
        (json!({"value": "['it''s']", "equals": "IT'S"}), true),
        (
            json!({"value": "[[not an expression]", "equals": "[[not an expression]"}),
            true,
        ),
        (json!({"value": "plain", "equals": "PLAIN"}), true),
        (json!({"value": 3, "less": 4}), true),
        (
            json!({"field": "name", "equals": "[concat('gpu', '-', '01')]"}),
            true,
        ),
        (
            json!({"field": "name", "in": "[concat(createArray(), 'x')]"}),
            false,
        ),
    ];
    for (condition, expected) in cases {
        if condition["in"].is_string() {
            // createArray is outside the subset: a load error, not a silent false.
            let document = json!({"if": condition, "then": {"effect": "audit"}});
            assert!(PolicyDefinition::load(&document, &Map::new()).is_err());
            continue;
        }
        assert_eq!(holds(condition.clone()), expected, "{condition}");
    }
}

#[test]
fn expression_errors_on_an_instance_make_the_condition_fail() {
    let definition = load_value(json!({
        "if": {"value": "[toLower(field('Microsoft.MachineLearningServices/workspaces/computes/sshSettings.sshPort'))]",
               "notEquals": "x"},
        "then": {"effect": "audit"}
    }));
    let evaluation = definition.evaluate(&instance_for_operators());
    assert!(!evaluation.matched);
    assert_eq!(
        evaluation.decided_by.unwrap().observed,
        Observed::Error("toLower() expects a string, got 22".into())
    );
}

#[test]
fn parameters_defaults_and_caller_values() {
    let document = json!({
        "properties": {
            "displayName": "Idle time default",
            "mode": "Indexed",
            "parameters": {
                "effect": {"type": "String", "defaultValue": "Append", "allowedValues": ["Append", "Audit", "Disabled"]},
                "idleTime": {"type": "String", "defaultValue": "PT60M"},
                "tagName": {"type": "String"},
                "sizes": {"type": "Array", "defaultValue": ["Standard_NC6"]}
            },
            "policyRule": {
                "if": {"allOf": [
                    {"field": "[concat('tags[', parameters('tagName'), ']')]", "exists": false},
                    {"field": "Microsoft.MachineLearningServices/workspaces/computes/vmSize", "in": "[parameters('sizes')]"}
                ]},
                "then": {"effect": "[parameters('effect')]", "details": [
                    {"field": "Microsoft.MachineLearningServices/workspaces/computes/idleTimeBeforeShutdown",
                     "value": "[parameters('idleTime')]"},
                    {"field": "[concat('tags[', parameters('tagName'), ']')]", "value": "[concat('set-by-', field('name'))]"}
                ]}
            }
        }
    });
    let mut given = Map::new();
    given.insert("tagName".into(), json!("owner"));
    let definition = PolicyDefinition::load(&document, &given).unwrap();
    assert_eq!(definition.display_name(), "Idle time default");
    assert_eq!(definition.effect(), Effect::Append);
    assert_eq!(definition.parameter("IDLETIME"), Some(&json!("PT60M")));
    let evaluation = definition.evaluate(&instance_for_operators());
    assert!(evaluation.matched, "{}", evaluation.explanation());
    assert_eq!(evaluation.appends[0].value, json!("PT60M"));
    assert_eq!(
        evaluation.appends[1].target,
        AppendTarget::Tag("owner".into())
    );
    assert_eq!(evaluation.appends[1].value, json!("set-by-gpu-01"));

    given.insert("effect".into(), json!("Audit"));
    given.insert("idleTime".into(), json!("PT2H"));
    let audit = PolicyDefinition::load(&document, &given).unwrap();
    assert_eq!(audit.effect(), Effect::Audit);
    given.insert("effect".into(), json!("disabled"));
    let disabled = PolicyDefinition::load(&document, &given).unwrap();
    let evaluation = disabled.evaluate(&instance_for_operators());
    assert!(!evaluation.matched);
    assert!(evaluation.decided_by.is_none());
    assert_eq!(
        evaluation.explanation(),
        "Idle time default: effect is disabled; not evaluated"
    );

    let errors = |given: Value| {
        let given = given.as_object().unwrap().clone();
        validate(&document, &given)
            .into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        errors(json!({})),
        vec![
            "properties.parameters.tagName: parameter 'tagName': no value: it has no defaultValue and the assignment gives none",
            "properties.policyRule.if.allOf[0].field: unknown parameter 'tagName'",
            "properties.policyRule.then.details[1].field: unknown parameter 'tagName'",
        ]
    );
    assert_eq!(
        errors(json!({"tagName": "owner", "effect": "Deny", "colour": "blue"})),
        vec![
            "properties.parameters.effect: parameter 'effect': value \"Deny\" is not one of the allowedValues [\"Append\",\"Audit\",\"Disabled\"]",
            "assignment.parameters.colour: parameter 'colour': the definition does not declare it",
            "properties.policyRule.then.effect: unknown or unsupported effect 'Deny' (supported: append, audit, disabled)",
        ]
    );
    assert_eq!(
        errors(json!({"tagName": 7})),
        vec!["properties.parameters.tagName: parameter 'tagName': value 7 is not of type String"]
    );
}

// ---------------------------------------------------------------------------------------------
// Load errors, with JSON paths.

#[test]
fn unknown_alias_is_a_load_error_with_its_path() {
    let document = json!({
        "properties": {
            "displayName": "typo",
            "policyRule": {
                "if": {"allOf": [
                    {"field": "type", "equals": "Microsoft.MachineLearningServices/workspaces/computes"},
                    {"field": "Microsoft.MachineLearningServices/workspaces/computes/schedule", "exists": "false"}
                ]},
                "then": {"effect": "audit"}
            }
        }
    });
    let error = PolicyDefinition::load(&document, &Map::new()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "properties.policyRule.if.allOf[1].field: unknown alias 'Microsoft.MachineLearningServices/workspaces/computes/schedule'"
    );
    assert_eq!(error.path(), "properties.policyRule.if.allOf[1].field");
    assert!(matches!(error, PolicyError::UnknownAlias { .. }));
}

#[test]
fn validate_reports_every_problem() {
    let document = json!({
        "mode": "Microsoft.Kubernetes.Data",
        "policyRule": {
            "if": {"allOf": [
                {"field": "Microsoft.MachineLearningServices/workspaces/computes/vmSise", "equals": "x"},
                {"field": "name", "equal": "x"},
                {"value": "[empty(field('Microsoft.MachineLearningServices/workspaces/computes/idleTime'))]", "equals": true},
                {"value": "[toLower('A']", "equals": "a"},
                {"field": "name", "exists": "maybe"},
                {"field": "name", "in": "x"},
                {"field": "name", "equals": "x", "like": "y"},
                {"anyOf": []},
                {"count": {"field": "tags"}, "greater": 0},
                {"value": "[parameters('nope')]", "equals": 1},
                "not a condition"
            ]},
            "then": {"effect": "deny"}
        }
    });
    let errors: Vec<String> = validate(&document, &Map::new())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            "mode: mode \"Microsoft.Kubernetes.Data\" is not supported (Curfew evaluates resources: All or Indexed)",
            "policyRule.if.allOf[0].field: unknown alias 'Microsoft.MachineLearningServices/workspaces/computes/vmSise'",
            "policyRule.if.allOf[1].equal: unknown or unsupported operator 'equal'",
            "policyRule.if.allOf[1]: missing an operator (equals, exists, in, like, …)",
            "policyRule.if.allOf[2].value: unknown alias 'Microsoft.MachineLearningServices/workspaces/computes/idleTime'",
            "policyRule.if.allOf[3].value: expression error at column 13: expected ',' or ')'",
            "policyRule.if.allOf[4].exists: exists takes true or false (or \"true\"/\"false\"), got \"maybe\"",
            "policyRule.if.allOf[5].in: in takes an array, got \"x\"",
            "policyRule.if.allOf[6].like: one operator per condition; already has 'equals'",
            "policyRule.if.allOf[7].anyOf: expected a non-empty array of conditions",
            "policyRule.if.allOf[8].count: count expressions are not supported",
            "policyRule.if.allOf[9].value: unknown parameter 'nope'",
            "policyRule.if.allOf[10]: expected a condition object",
            "policyRule.then.effect: unknown or unsupported effect 'deny' (supported: append, audit, disabled)",
        ]
    );
    // `load` stops at the first.
    assert_eq!(
        PolicyDefinition::load(&document, &Map::new())
            .unwrap_err()
            .to_string(),
        errors[0]
    );
}

#[test]
fn append_details_are_checked() {
    let bad = |then: Value| -> Vec<String> {
        let document = json!({"if": {"field": "name", "exists": true}, "then": then});
        validate(&document, &Map::new())
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        bad(json!({"effect": "append"})),
        vec!["then.details: append needs a details array of {field, value}"]
    );
    assert_eq!(
        bad(json!({"effect": "Append", "details": []})),
        vec!["then.details: expected a non-empty array of {field, value}"]
    );
    assert_eq!(
        bad(json!({"effect": "append", "details": [{"field": "Microsoft.MachineLearningServices/workspaces/computes/idle", "value": 1}, {"value": 2}]})),
        vec![
            "then.details[0].field: unknown alias 'Microsoft.MachineLearningServices/workspaces/computes/idle'",
            "then.details[1].field: missing",
        ]
    );
    assert_eq!(bad(json!({"details": []})), vec!["then.effect: missing"]);
}

#[test]
fn document_shapes() {
    let rule = json!({"if": {"field": "name", "equals": "gpu-01"}, "then": {"effect": "audit"}});
    for document in [
        rule.clone(),
        json!({"policyRule": rule}),
        json!({"properties": {"policyRule": rule, "displayName": "x"}, "name": "guid"}),
    ] {
        assert!(
            load_value(document)
                .evaluate(&instance_for_operators())
                .matched
        );
    }
    let named = load_value(json!({"name": "from-name", "properties": {"policyRule": rule}}));
    assert_eq!(named.display_name(), "from-name");
    let errors = |document: Value| -> Vec<String> {
        validate(&document, &Map::new())
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        errors(json!([])),
        vec!["(document): expected a JSON object (a policy definition)"]
    );
    assert_eq!(
        errors(json!({"displayName": "x"})),
        vec!["(document): expected a policy definition: properties.policyRule, policyRule, or a bare {if, then} rule"]
    );
    assert_eq!(
        errors(json!({"policyRule": {"if": {"field": "name", "exists": true}}})),
        vec!["policyRule.then: missing"]
    );
    assert_eq!(
        validate_str("{\"if\": ", &Map::new())[0].to_string(),
        "line 1 column 7: not valid JSON: EOF while parsing a value at line 1 column 7"
    );
}

// ---------------------------------------------------------------------------------------------
// Scopes and exemptions.

fn stop_at(hour: u32) -> PolicyDefinition {
    let mut document = json_of(STOP_2200);
    document["policyRule"]["then"]["details"][0]["value"]["computeStartStop"][0]["cron"]
        ["expression"] = json!(format!("0 {hour} * * *"));
    load_value(document)
}

fn supplied_expression(assignments: &[Assignment], instance: &Value) -> (String, String) {
    let assessment = assess(assignments, instance, today());
    let supplied = assessment
        .supplied(&AppendTarget::Schedules)
        .expect("a schedule is supplied");
    (
        supplied.assignment.to_string(),
        supplied.value["computeStartStop"][0]["cron"]["expression"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[test]
fn the_most_specific_scope_wins() {
    let sub = "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345";
    let rg = format!("{sub}/resourceGroups/testrg123");
    let assignments = [
        Assignment::new("tenant-22", "/", stop_at(22)).unwrap(),
        Assignment::new("workspace-19", WS_ID, stop_at(19)).unwrap(),
        Assignment::new("sub-21", sub, stop_at(21)).unwrap(),
        Assignment::new("rg-20", &rg.to_uppercase(), stop_at(20)).unwrap(),
        Assignment::new(
            "other-rg-18",
            &format!("{sub}/resourceGroups/other"),
            stop_at(18),
        )
        .unwrap(),
    ];
    let instance = arm_instance();
    assert_eq!(
        supplied_expression(&assignments, &instance),
        ("workspace-19".into(), "0 19 * * *".into())
    );
    assert_eq!(
        supplied_expression(&assignments[2..], &instance),
        ("rg-20".into(), "0 20 * * *".into())
    );
    assert_eq!(
        supplied_expression(&[assignments[0].clone(), assignments[2].clone()], &instance),
        ("sub-21".into(), "0 21 * * *".into())
    );

    let assessment = assess(&assignments, &instance, today());
    assert_eq!(
        assessment.outcomes.len(),
        4,
        "the other resource group's assignment is out of scope"
    );
    let superseded: Vec<(String, Option<String>)> = assessment
        .outcomes
        .iter()
        .map(|o| {
            (
                o.assignment.to_string(),
                o.superseded_by.as_deref().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        superseded,
        vec![
            ("tenant-22".into(), Some("workspace-19".into())),
            ("workspace-19".into(), None),
            ("sub-21".into(), Some("workspace-19".into())),
            ("rg-20".into(), Some("workspace-19".into())),
        ]
    );
    assert_eq!(assessment.outcomes[1].scope.specificity(), 3);
    let rendered = serde_json::to_value(&assessment.supplied[0]).unwrap();
    assert_eq!(rendered["scope"], json!(WS_ID));
    assert_eq!(rendered["assignment"], json!("workspace-19"));
}

#[test]
fn equal_scopes_keep_assignment_order_and_targets_are_independent() {
    let first = Assignment::new("first", "/", stop_at(22)).unwrap();
    let second = Assignment::new("second", "/", stop_at(23)).unwrap();
    let idle = Assignment::new("idle", WS_ID, load(IDLE_PT60M)).unwrap();
    let instance = arm_instance();
    let assignments = [first.clone(), second.clone(), idle.clone()];
    assert_eq!(
        supplied_expression(&assignments, &instance),
        ("first".into(), "0 22 * * *".into())
    );
    assert_eq!(
        supplied_expression(&[second, first, idle], &instance).0,
        "second"
    );
    let assessment = assess(&assignments, &instance, today());
    assert_eq!(
        &*assessment
            .supplied(&AppendTarget::IdleTimeBeforeShutdown)
            .unwrap()
            .assignment,
        "idle"
    );
    assert_eq!(
        &*assessment
            .supplied(&AppendTarget::Schedules)
            .unwrap()
            .assignment,
        "first"
    );
}

#[test]
fn scopes_need_the_instance_id() {
    let assignments = [
        Assignment::new(
            "sub",
            "/subscriptions/34adfa4f-cedf-4dc0-ba29-b6d1a69ab345",
            stop_at(21),
        )
        .unwrap(),
        Assignment::new("tenant", "/", stop_at(22)).unwrap(),
    ];
    let mut instance = arm_instance();
    instance.as_object_mut().unwrap().remove("id");
    assert_eq!(supplied_expression(&assignments, &instance).0, "tenant");
    assert_eq!(
        Assignment::new("bad", "/subscriptions/S/workspaces/W", stop_at(1)).unwrap_err().to_string(),
        "assignment 'bad'.scope: invalid scope '/subscriptions/S/workspaces/W': expected '/', '/subscriptions/S', \
         '…/resourceGroups/R' or '…/providers/Microsoft.MachineLearningServices/workspaces/W'"
    );
    assert_eq!(PolicyScope::parse(WS_ID, "x").unwrap().to_string(), WS_ID);
}

fn tagged(tags: Value) -> Value {
    let mut instance = arm_instance();
    instance["tags"] = tags;
    instance
}

#[test]
fn exemption_wins_over_every_policy() {
    let assignments = [
        Assignment::new("stop", WS_ID, load(STOP_2200)).unwrap(),
        Assignment::new("audit", "/", load(AUDIT_OS)).unwrap(),
    ];
    for value in ["true", "", "approved by FinOps"] {
        let assessment = assess(
            &assignments,
            &tagged(json!({"curfew:exempt": value})),
            today(),
        );
        assert!(assessment.exemption.is_exempt(), "{value:?}");
        assert!(
            assessment.outcomes.is_empty()
                && assessment.supplied.is_empty()
                && assessment.findings.is_empty()
        );
        assert_eq!(
            assessment.exemption.to_string(),
            "exempt by tag curfew:exempt"
        );
    }
    let not_exempt = assess(
        &assignments,
        &tagged(json!({"curfew:exempt": "false"})),
        today(),
    );
    assert_eq!(not_exempt.exemption, Exemption::None);
    assert_eq!(not_exempt.findings.len(), 1);
}

#[test]
fn exemption_expires_by_itself() {
    let assignments = [Assignment::new("stop", "/", load(STOP_2200)).unwrap()];
    let instance = tagged(json!({"curfew:exempt-until": "2026-03-01", "team": "vision"}));
    let last_day = assess(&assignments, &instance, today());
    assert!(last_day.exemption.is_exempt());
    assert_eq!(
        last_day.exemption.to_string(),
        "exempt by tag curfew:exempt-until until 2026-03-01 (inclusive)"
    );
    assert!(last_day.supplied.is_empty());

    let next_day = assess(&assignments, &instance, today().succ_opt().unwrap());
    assert_eq!(
        next_day.exemption.to_string(),
        "exemption by tag curfew:exempt-until expired after 2026-03-01"
    );
    assert_eq!(
        next_day.supplied.len(),
        1,
        "the default schedule applies again"
    );

    let invalid = assess(
        &assignments,
        &tagged(json!({"curfew:exempt-until": "03/01/2026"})),
        today(),
    );
    assert!(matches!(invalid.exemption, Exemption::Invalid { .. }));
    assert_eq!(
        invalid.supplied.len(),
        1,
        "an unreadable expiry does not exempt"
    );
}

/// The example in the module documentation (doc tests are not run by the policy test target).
#[test]
fn module_doc_example() {
    let rule = json!({
        "if": {"field": "Microsoft.MachineLearningServices/workspaces/computes/idleTimeBeforeShutdown",
               "exists": false},
        "then": {"effect": "append", "details": [{
            "field": "Microsoft.MachineLearningServices/workspaces/computes/idleTimeBeforeShutdown",
            "value": "PT60M"}]}
    });
    let definition = PolicyDefinition::load(&rule, &Map::new()).unwrap();
    let assignments = [Assignment::new("idle", "/", definition).unwrap()];
    let instance = json!({"properties": {"computeType": "ComputeInstance", "properties": {}}});
    let assessment = assess(&assignments, &instance, today());
    let idle = assessment
        .supplied(&AppendTarget::IdleTimeBeforeShutdown)
        .unwrap();
    assert_eq!(idle.value, json!("PT60M"));
}
