//! `curfew policy check`: per compute, which default policies match, what each appends or
//! audits, and why (the condition that decided); and [`validate_policy_file`] for `validate`.

use super::OutputFormat;
use anyhow::Context;
use chrono::NaiveDate;
use curfew_engine::policy::{
    assess, validate_str, Assessment, Assignment, PolicyDefinition, PolicyScope,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// The ARM resource type the fixture policies test; added to computes that lack it (SDK bodies,
/// CLI YAML), as `docs/policies.md` asks.
const COMPUTE_TYPE: &str = "Microsoft.MachineLearningServices/workspaces/computes";

/// `curfew policy …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Per compute: which policies match, what each appends or audits, and why.
    Check(CheckArgs),
}

/// Arguments of `curfew policy check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// A compute resource, JSON array, ARM list response or CLI YAML; `-` reads stdin.
    #[arg(long)]
    inventory: String,
    /// Policy definition files (full definition, definition body or bare rule); repeatable.
    #[arg(long = "policy", required = true, num_args = 1..)]
    policies: Vec<String>,
    /// Scope every policy is assigned at (`/`, `/subscriptions/S`, …/resourceGroups/R, …/workspaces/W).
    #[arg(long, default_value = "/")]
    scope: String,
    /// The date exemption tags are judged against (default: today, UTC).
    #[arg(long)]
    today: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

/// Runs a `curfew policy` subcommand.
pub(crate) fn run(command: &PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check(args) => check(args),
    }
}

/// Every problem of a policy file, one line each: `<file>: <JSON path>: <problem>`. Empty when
/// the file loads. For `curfew validate` (and used by `policy check`).
pub(crate) fn validate_policy_file(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Err(e) => vec![format!("{}: cannot read: {e}", path.display())],
        Ok(text) => validate_str(&text, &Map::new())
            .iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect(),
    }
}

fn stem(path: &str) -> String {
    let base = Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(path);
    if base.is_empty() || base == "-" {
        "policy".to_owned()
    } else {
        base.to_owned()
    }
}

/// One policy file as loaded.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyFile {
    file: String,
    assignment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effect: Option<String>,
    problems: Vec<String>,
}

/// One compute and what the policies say about it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checked {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    assessment: Assessment,
}

/// The `policy check --format json` document; field names are a stable contract.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckReport<'a> {
    today: NaiveDate,
    scope: &'a str,
    policies: &'a [PolicyFile],
    computes: &'a [Checked],
    problems: &'a [String],
    summary: Summary,
}

#[derive(Serialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct Summary {
    computes: usize,
    policies: usize,
    matches: usize,
    supplied: usize,
    findings: usize,
    exempt: usize,
    errors: usize,
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let today = match &args.today {
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .with_context(|| format!("--today '{t}' is not a YYYY-MM-DD date"))?,
        None => chrono::Utc::now().date_naive(),
    };
    PolicyScope::parse(&args.scope, "--scope").map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut files = Vec::new();
    let mut assignments = Vec::new();
    for path in &args.policies {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading policy '{path}'"))?;
        let name = stem(path);
        let mut file = PolicyFile {
            file: path.clone(),
            assignment: name.clone(),
            policy: None,
            effect: None,
            problems: validate_policy_file(Path::new(path)),
        };
        if file.problems.is_empty() {
            match PolicyDefinition::from_json_str(&text, &Map::new()) {
                Ok(definition) => {
                    let definition = definition.with_fallback_name(&name);
                    file.policy = Some(definition.display_name().to_owned());
                    file.effect = Some(definition.effect().to_string());
                    assignments.push(Assignment::new(&name, &args.scope, definition)?);
                }
                Err(e) => file.problems.push(format!("{path}: {e}")),
            }
        }
        files.push(file);
    }
    let text = if args.inventory == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading the inventory from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.inventory)
            .with_context(|| format!("reading inventory '{}'", args.inventory))?
    };
    let (computes, problems) = read_computes(&text, &args.inventory)?;
    let checked: Vec<Checked> = computes
        .into_iter()
        .map(|(name, compute)| Checked {
            id: compute.get("id").and_then(Value::as_str).map(str::to_owned),
            assessment: assess(&assignments, &compute, today),
            name,
        })
        .collect();
    let mut summary = Summary {
        computes: checked.len(),
        policies: assignments.len(),
        errors: files.iter().map(|f| f.problems.len()).sum::<usize>() + problems.len(),
        ..Summary::default()
    };
    for c in &checked {
        let a = &c.assessment;
        summary.exempt += usize::from(a.exemption.is_exempt());
        summary.matches += a.outcomes.iter().filter(|o| o.evaluation.matched).count();
        summary.supplied += a.supplied.len();
        summary.findings += a.findings.len();
    }
    match args.format {
        OutputFormat::Json => {
            let doc = CheckReport {
                today,
                scope: &args.scope,
                policies: &files,
                computes: &checked,
                problems: &problems,
                summary,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        OutputFormat::Text => print!("{}", render_text(&files, &checked, &problems, &summary)),
    }
    Ok(if summary.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn render_text(
    files: &[PolicyFile],
    checked: &[Checked],
    problems: &[String],
    summary: &Summary,
) -> String {
    let mut out = String::new();
    for f in files {
        for p in &f.problems {
            let _ = writeln!(out, "error: {p}");
        }
    }
    for p in problems {
        let _ = writeln!(out, "error: {p}");
    }
    for c in checked {
        let a = &c.assessment;
        match &c.id {
            Some(id) => {
                let _ = writeln!(out, "{} ({id})", c.name);
            }
            None => {
                let _ = writeln!(out, "{}", c.name);
            }
        }
        if !matches!(a.exemption, curfew_engine::policy::Exemption::None) {
            let _ = writeln!(out, "  {}", a.exemption);
        }
        if a.exemption.is_exempt() {
            let _ = writeln!(out, "  no policy applies");
            continue;
        }
        if a.outcomes.is_empty() {
            let _ = writeln!(out, "  no policy in scope");
        }
        for o in &a.outcomes {
            if *o.assignment == *o.evaluation.policy {
                let _ = writeln!(out, "  {}", o.evaluation.explanation());
            } else {
                let _ = writeln!(out, "  [{}] {}", o.assignment, o.evaluation.explanation());
            }
            for append in &o.evaluation.appends {
                let state = match &o.superseded_by {
                    Some(winner) => format!(" (superseded by {winner})"),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "      appends {} = {}{state}",
                    append.json_path,
                    compact(&append.value)
                );
            }
        }
        for f in &a.findings {
            let _ = writeln!(out, "  audit [{}] {}: {}", f.assignment, f.policy, f.reason);
        }
    }
    let _ = writeln!(
        out,
        "{} compute(s), {} policy(ies): {} match(es), {} value(s) supplied, {} audit finding(s), {} exempt, {} error(s)",
        summary.computes,
        summary.policies,
        summary.matches,
        summary.supplied,
        summary.findings,
        summary.exempt,
        summary.errors
    );
    out
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(157).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A compute's name and its ARM JSON.
type Named = (String, Value);

/// The compute resources of an inventory file as ARM JSON, with names: every compute of an
/// array or list response (all compute types: a policy decides for itself what it targets), or
/// the one compute; CLI YAML through the engine's inventory reader. Computes without `type` get
/// the ARM compute type. Elements that are not objects are problems, not failures.
pub(crate) fn read_computes(text: &str, source: &str) -> anyhow::Result<(Vec<Named>, Vec<String>)> {
    let base = stem(source);
    let trimmed = text.trim_start();
    let mut problems = Vec::new();
    let items: Vec<Value> = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: Value =
            serde_json::from_str(text).with_context(|| format!("{source}: not valid JSON"))?;
        match value {
            Value::Array(items) => items,
            Value::Object(mut o) if o.get("value").is_some_and(Value::is_array) => {
                match o.remove("value") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            other => vec![other],
        }
    } else {
        let inventory = curfew_engine::inventory::parse(text, source)?;
        problems.extend(inventory.problems.iter().map(|p| format!("{source}: {p}")));
        inventory.instances.iter().map(synthesize).collect()
    };
    let many = items.len() > 1;
    let mut computes = Vec::new();
    for (i, mut item) in items.into_iter().enumerate() {
        let Some(obj) = item.as_object_mut() else {
            problems.push(format!("{source}: [{i}]: not a JSON object"));
            continue;
        };
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                obj.get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| id.rsplit('/').next())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| {
                if many {
                    format!("{base}[{i}]")
                } else {
                    base.clone()
                }
            });
        obj.entry("type")
            .or_insert_with(|| Value::String(COMPUTE_TYPE.to_owned()));
        obj.entry("name")
            .or_insert_with(|| Value::String(name.clone()));
        computes.push((name, item));
    }
    Ok((computes, problems))
}

/// The default policies of `paths`, assigned at `/` (every compute), for the effective plan
/// (`curfew plan --policy`): any problem in a file refuses them all, each one named.
pub(crate) fn load_policies(paths: &[String]) -> anyhow::Result<Vec<Assignment>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let found = validate_policy_file(Path::new(path));
        if !found.is_empty() {
            problems.extend(found);
            continue;
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading policy '{path}'"))?;
        let name = stem(path);
        match PolicyDefinition::from_json_str(&text, &Map::new()) {
            Ok(d) => out.push(Assignment::new(&name, "/", d.with_fallback_name(&name))?),
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("bad policy file(s):\n  {}", problems.join("\n  "));
    }
    Ok(out)
}

/// ARM JSON for an instance read from CLI YAML.
fn synthesize(i: &curfew_engine::Instance) -> Value {
    let mut props = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            props.insert(k.to_owned(), Value::String(v.clone()));
        }
    };
    put("vmSize", &i.vm_size);
    put("state", &i.state);
    put("idleTimeBeforeShutdown", &i.idle_time_before_shutdown);
    if !i.schedules.is_empty() {
        props.insert(
            "schedules".to_owned(),
            serde_json::json!({ "computeStartStop": i.schedules }),
        );
    }
    let mut compute = serde_json::json!({
        "name": i.name,
        "type": COMPUTE_TYPE,
        "tags": i.tags,
        "properties": { "computeType": "ComputeInstance", "properties": props },
    });
    if let Some(id) = &i.id {
        compute["id"] = Value::String(id.clone());
    }
    compute
}
