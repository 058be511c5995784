//! The deployment files agree with the workspace and with each other.
//!
//! `template.yaml` (AWS SAM) and `.github/workflows/deploy.yml` name crates, binaries, parameters
//! and outputs defined elsewhere, and the deploy cannot run anywhere but in CI: a rename would
//! only show when a deploy fails. These checks read both files (no AWS, no network):
//!
//! - every `functions/*` crate is one SAM function built from it with cargo-lambda
//!   (provided.al2023, arm64, `bootstrap`), and the template builds nothing else;
//! - webhook functions have public Function URLs and an output each, telling which Clerk events
//!   to subscribe; API functions have exactly their routes on the stack's HTTP API; replay runs
//!   on a schedule; every function's concurrency is capped (database connections);
//! - every family's function is capped by `WebhookReservedConcurrency`, whose description names
//!   it, and the connection budget the template states counts one share per family;
//! - scheduled functions run one at a time, are not retried, and take their schedule from a
//!   parameter the workflow passes; reconcile's timeout leaves room past its stop margin;
//! - each function is given only the secret ARNs it needs, and may read exactly those secrets;
//!   only sync-status, seller-accounts and clerk-reconcile get the (optional) Clerk secret key;
//! - a function that needs an optional secret is deployed only under its condition, and nothing
//!   refers to a conditional resource or an optional secret's parameter outside that condition;
//! - every output the workflow reads and every parameter it sets exists, every required parameter
//!   is set, and the files, packages and binaries the workflow uses exist.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::{Path, PathBuf},
};

use clerk_sync::clerk::{FamilySpec, FAMILIES};
use serde_json::{json, Map, Value};
use yaml_rust2::{
    parser::{Event, MarkedEventReceiver, Parser, Tag},
    scanner::{Marker, TScalarStyle},
    Yaml,
};

const TEMPLATE: &str = "template.yaml";
const WORKFLOW: &str = ".github/workflows/deploy.yml";

const WEBHOOK_SECRET: &str = "CLERK_WEBHOOK_SECRET_ARN";
const DATABASE_URL: &str = "DATABASE_URL_SECRET_ARN";
const ENCRYPTION_KEY: &str = "ENCRYPTION_KEY_ARN";
/// Optional: given only when its parameter is set (`!If [cond, !Ref p, !Ref AWS::NoValue]`).
const CLERK_SECRET_KEY: &str = "CLERK_SECRET_KEY_ARN";

/// How requests reach a function.
#[derive(Clone)]
enum Trigger {
    /// A public Function URL (the Svix signature is the authentication) with a stack output
    /// whose description names the Clerk event types to subscribe on that endpoint.
    FunctionUrl { subscribe: &'static [&'static str] },
    /// Exactly these routes (`METHOD /path`) on the stack's HTTP API.
    HttpApi { routes: &'static [&'static str] },
    /// An EventBridge schedule whose expression is this template parameter.
    Schedule { parameter: &'static str },
}

/// Every function crate that is not an event family's (those come from
/// [`FAMILIES`]): how it is reached, and the only secrets it may read (the
/// `*_ARN` variables it is given). A new such crate under `functions/` must
/// be added here.
const OTHER_FUNCTIONS: &[(&str, Trigger, &[&str])] = &[
    ("sync-status", Trigger::HttpApi { routes: &["GET /sync-status"] }, &[DATABASE_URL, CLERK_SECRET_KEY]),
    (
        "seller-accounts",
        Trigger::HttpApi {
            routes: &[
                "GET /seller-accounts",
                "POST /seller-accounts",
                "GET /seller-accounts/{id}",
                "DELETE /seller-accounts/{id}",
            ],
        },
        &[DATABASE_URL, ENCRYPTION_KEY, CLERK_SECRET_KEY],
    ),
    ("clerk-replay", Trigger::Schedule { parameter: "ReplaySchedule" }, &[DATABASE_URL]),
    ("clerk-reconcile", Trigger::Schedule { parameter: "ReconcileSchedule" }, &[DATABASE_URL, CLERK_SECRET_KEY]),
];

/// The only functions given the Clerk secret key: the API functions (fetch-on-miss) and reconcile.
const CLERK_SECRET_KEY_FUNCTIONS: &[&str] = &["clerk-reconcile", "seller-accounts", "sync-status"];

/// Functions deployed only when a template condition holds (the function's `Condition`), with
/// that condition: reconcile is useless without the optional Clerk secret key. Every other
/// function is unconditional.
const CONDITIONAL_FUNCTIONS: &[(&str, &str)] = &[("clerk-reconcile", "HasClerkSecretKey")];

/// `clerk-reconcile` stops starting pages this long before its deadline by default
/// (`RECONCILE_STOP_MARGIN_SECONDS`, lib/src/reconcile/job.rs); its timeout must leave this
/// much work time past it.
const RECONCILE_STOP_MARGIN_DEFAULT: u64 = 60;
const RECONCILE_MIN_WORK_SECONDS: u64 = 300;

/// Every function crate: each family's webhook function (a Function URL
/// whose output names the family's types), then the others.
fn functions() -> Vec<(&'static str, Trigger, &'static [&'static str])> {
    let families = FAMILIES.iter().map(|spec| {
        (spec.function, Trigger::FunctionUrl { subscribe: spec.types }, &[WEBHOOK_SECRET, DATABASE_URL][..])
    });
    families.chain(OTHER_FUNCTIONS.iter().map(|(n, t, s)| (*n, t.clone(), *s))).collect()
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn every_function_crate_is_deployed_from_its_crate() {
    let template = Template::load();
    let functions = functions();
    let crates = function_crates();
    let mut problems = Vec::new();

    let mut deployed = BTreeMap::new();
    for (id, function) in template.functions() {
        match template.crate_dir(function) {
            Some(dir) => {
                if let Some(other) = deployed.insert(dir.clone(), id) {
                    problems.push(format!("{other} and {id} are both built from functions/{dir}"));
                }
                if !crates.contains(&dir) {
                    problems.push(format!("{id}: CodeUri functions/{dir} is not a crate under functions/"));
                }
            }
            None => problems.push(format!("{id}: CodeUri must be functions/<crate>")),
        }
    }
    for dir in &crates {
        if !deployed.contains_key(dir) {
            problems.push(format!("functions/{dir} has no AWS::Serverless::Function in {TEMPLATE}"));
        }
        if !functions.iter().any(|(name, ..)| name == dir) {
            problems.push(format!(
                "functions/{dir} is neither a family's (FAMILIES in lib/src/clerk/families.rs) nor in \
                 OTHER_FUNCTIONS (tests/tests/deploy_config.rs): say how it is reached and which secrets it may read"
            ));
        }
    }

    for (dir, id) in &deployed {
        let function = &template.resources()[*id];
        let metadata = &function["Metadata"];
        let logging = template.merged(function, "LoggingConfig");
        let settings = [
            ("Metadata.BuildMethod", metadata.get("BuildMethod"), json!("rust-cargolambda")),
            ("Metadata.BuildProperties.Binary", metadata.pointer("/BuildProperties/Binary"), json!(dir)),
            ("Runtime", template.property(function, "Runtime"), json!("provided.al2023")),
            ("Architectures", template.property(function, "Architectures"), json!(["arm64"])),
            ("Handler", template.property(function, "Handler"), json!("bootstrap")),
            ("LoggingConfig.LogFormat", logging.get("LogFormat"), json!("JSON")),
        ];
        for (setting, actual, expected) in settings {
            if actual != Some(&expected) {
                let actual = actual.map_or("nothing".to_string(), Value::to_string);
                problems.push(format!("{id}: {setting} is {actual}, expected {expected} (function or Globals)"));
            }
        }
        // Lambda's own /aws/lambda/<name> groups never expire: each function logs to a group of
        // the template's, kept for LogRetentionDays.
        let group = logging.get("LogGroup").and_then(|g| g.get("Ref")).and_then(Value::as_str);
        match group.and_then(|g| template.resources().get(g)) {
            Some(group) if group["Type"] == "AWS::Logs::LogGroup" => {
                if group.pointer("/Properties/RetentionInDays") != Some(&json!({"Ref": "LogRetentionDays"})) {
                    problems
                        .push(format!("{id}: its log group's RetentionInDays is not the LogRetentionDays parameter"));
                }
            }
            _ => problems
                .push(format!("{id}: LoggingConfig.LogGroup does not name an AWS::Logs::LogGroup of the template")),
        }
        if template.property(function, "ReservedConcurrentExecutions").is_none() {
            problems.push(format!("{id}: no ReservedConcurrentExecutions (it caps database connections)"));
        }
        if function["Properties"].get("Role").is_some() {
            problems.push(format!("{id}: sets Role; the checked Policies would not apply"));
        }
    }
    assert_no_problems(problems);
}

#[test]
fn functions_are_reached_as_designed() {
    let template = Template::load();
    let functions = functions();
    let apis: BTreeSet<&str> = template.resources_of_type("AWS::Serverless::HttpApi").into_keys().collect();
    let mut problems = Vec::new();
    let mut api_ids = BTreeSet::new();

    for (id, function) in template.functions() {
        let Some((_, trigger, _)) = template.crate_dir(function).and_then(|dir| functions.iter().find(|f| f.0 == dir))
        else {
            continue; // reported by every_function_crate_is_deployed_from_its_crate
        };
        let url_auth = template.property(function, "FunctionUrlConfig").map(|c| c.get("AuthType"));
        let events: Vec<(&String, &Value)> = match function["Properties"].get("Events") {
            Some(Value::Object(events)) => events.iter().collect(),
            _ => Vec::new(),
        };
        let of_type = |kind: &'static str| events.iter().filter(move |(_, e)| e["Type"] == kind);

        match trigger {
            Trigger::FunctionUrl { subscribe } => {
                if url_auth != Some(Some(&json!("NONE"))) {
                    problems.push(format!(
                        "{id}: needs FunctionUrlConfig AuthType NONE (Svix cannot sign AWS requests; the webhook \
                         signature is the authentication)"
                    ));
                }
                let url = json!({"Fn::GetAtt": [format!("{id}Url"), "FunctionUrl"]});
                match template.outputs().iter().find(|(_, o)| o["Value"] == url) {
                    None => {
                        problems.push(format!("{id}: no output with its Function URL (!GetAtt {id}Url.FunctionUrl)"))
                    }
                    Some((name, output)) => {
                        let description = output["Description"].as_str().unwrap_or_default();
                        for event_type in *subscribe {
                            if !description.contains(event_type) {
                                problems.push(format!("output {name}: the description must name {event_type}"));
                            }
                        }
                    }
                }
            }
            Trigger::HttpApi { routes } => {
                if url_auth.is_some() {
                    problems.push(format!("{id}: an API function must not have a Function URL"));
                }
                let mut found = BTreeSet::new();
                for (name, event) in of_type("HttpApi") {
                    let props = &event["Properties"];
                    match props.pointer("/ApiId/Ref").and_then(Value::as_str) {
                        Some(api) if apis.contains(api) => {
                            api_ids.insert(api.to_string());
                        }
                        _ => problems.push(format!("{id}.Events.{name}: ApiId must be !Ref to the template's HttpApi")),
                    }
                    let method = props["Method"].as_str().unwrap_or("?").to_uppercase();
                    found.insert(format!("{method} {}", props["Path"].as_str().unwrap_or("?")));
                }
                let expected: BTreeSet<String> = routes.iter().map(|r| r.to_string()).collect();
                if found != expected {
                    problems.push(format!("{id}: HttpApi routes {found:?}, expected {expected:?}"));
                }
            }
            Trigger::Schedule { parameter } => {
                if url_auth.is_some() {
                    problems.push(format!("{id}: a scheduled function must not have a Function URL"));
                }
                let schedules: Vec<_> = of_type("Schedule").chain(of_type("ScheduleV2")).collect();
                match schedules.as_slice() {
                    [(name, event)] => {
                        let expression = event.pointer("/Properties/Schedule");
                        if expression != Some(&json!({"Ref": parameter})) {
                            problems.push(format!(
                                "{id}.Events.{name}: Schedule must be !Ref {parameter}, is {}",
                                expression.map_or("nothing".to_string(), Value::to_string)
                            ));
                        }
                    }
                    _ => problems.push(format!("{id}: needs one Schedule event")),
                }
                match template.parameters().get(*parameter).and_then(|p| p.get("Default")).and_then(Value::as_str) {
                    Some(default) if schedule_expression(default) => {}
                    other => problems.push(format!(
                        "{TEMPLATE}: parameter {parameter} needs a default rate(…) or cron(…) expression, has {other:?}"
                    )),
                }
            }
        }
        if !matches!(trigger, Trigger::HttpApi { .. }) && of_type("HttpApi").chain(of_type("Api")).next().is_some() {
            problems.push(format!("{id}: has API events but is not an API function"));
        }
    }

    match api_ids.len() {
        1 => {
            let api = api_ids.first().expect("one element");
            let endpoint = json!({"Fn::GetAtt": [api, "ApiEndpoint"]});
            if !template.outputs().values().any(|o| o["Value"] == endpoint) {
                problems.push(format!("no output with the HTTP API's base URL (!GetAtt {api}.ApiEndpoint)"));
            }
        }
        n => problems.push(format!("the API functions must share one HttpApi, found {n}")),
    }
    assert_no_problems(problems);
}

#[test]
fn functions_read_exactly_their_secrets() {
    let functions = functions();
    let template = Template::load();
    let parameters = template.parameters();
    let mut problems = Vec::new();
    // Which parameter feeds each *_ARN variable, across all functions.
    let mut sources: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();

    if let Some(Value::Object(vars)) = template.global("Environment").and_then(|e| e.get("Variables")) {
        for name in vars.keys().filter(|k| k.ends_with("_ARN")) {
            problems.push(format!("Globals: {name} is given to every function; give secrets per function"));
        }
    }

    for (id, function) in template.functions() {
        let mut given = BTreeMap::new();
        for (name, value) in template.environment(function).into_iter().filter(|(k, _)| k.ends_with("_ARN")) {
            match optional(&value).get("Ref").and_then(Value::as_str) {
                Some(parameter) if parameters.contains_key(parameter) => {
                    sources.entry(name.clone()).or_default().insert(parameter.to_string());
                    given.insert(name, parameter.to_string());
                }
                _ => problems.push(format!("{id}: {name} must be !Ref to a template parameter")),
            }
        }

        let mut readable = BTreeSet::new();
        let policies = match function["Properties"].get("Policies") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one) => vec![one],
        };
        for policy in policies {
            match optional(policy).get("AWSSecretsManagerGetSecretValuePolicy") {
                Some(template_args) => match template_args.pointer("/SecretArn/Ref").and_then(Value::as_str) {
                    Some(parameter) => {
                        if !readable.insert(parameter.to_string()) {
                            problems.push(format!("{id}: two policies for the secret {parameter}"));
                        }
                    }
                    None => problems.push(format!("{id}: SecretArn must be !Ref to a template parameter")),
                },
                None if policy.to_string().to_lowercase().contains("secretsmanager") => problems.push(format!(
                    "{id}: grants Secrets Manager access other than AWSSecretsManagerGetSecretValuePolicy: {policy}"
                )),
                None => {}
            }
        }

        let env_secrets: BTreeSet<String> = given.values().cloned().collect();
        if readable != env_secrets {
            problems.push(format!(
                "{id}: may read the secrets {readable:?} but is given the ARNs of {env_secrets:?} (they must match)"
            ));
        }
        let names: BTreeSet<&str> = given.keys().map(String::as_str).collect();
        if let Some((dir, _, allowed)) =
            template.crate_dir(function).and_then(|dir| functions.iter().find(|f| f.0 == dir))
        {
            let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
            if names != allowed {
                problems.push(format!("{id} ({dir}): is given {names:?}, it may have exactly {allowed:?}"));
            }
        }
    }

    for (name, parameters) in sources {
        if parameters.len() > 1 {
            problems.push(format!("{name} comes from different parameters in different functions: {parameters:?}"));
        }
    }
    assert_no_problems(problems);
}

#[test]
fn only_the_functions_that_need_it_get_the_clerk_secret_key() {
    let template = Template::load();
    let given: BTreeSet<String> = template
        .functions()
        .into_values()
        .filter(|function| template.environment(function).contains_key(CLERK_SECRET_KEY))
        .map(|function| template.crate_dir(function).unwrap_or_else(|| "?".to_string()))
        .collect();
    let expected: BTreeSet<String> = CLERK_SECRET_KEY_FUNCTIONS.iter().map(|f| f.to_string()).collect();
    assert_eq!(given, expected, "the functions given {CLERK_SECRET_KEY}");
}

#[test]
fn scheduled_functions_run_one_at_a_time_and_are_not_retried() {
    let template = Template::load();
    let workflow_parameters = deploy_parameters(&read_yaml(WORKFLOW));
    let mut problems = Vec::new();
    for (name, trigger, _) in functions() {
        let Trigger::Schedule { parameter } = trigger else { continue };
        let Some((id, function)) =
            template.functions().into_iter().find(|(_, f)| template.crate_dir(f).as_deref() == Some(name))
        else {
            continue; // reported by every_function_crate_is_deployed_from_its_crate
        };
        // One run at a time (runs must not overlap; one database connection).
        if template.property(function, "ReservedConcurrentExecutions") != Some(&json!(1)) {
            problems.push(format!("{id}: a scheduled function needs ReservedConcurrentExecutions 1"));
        }
        // The next tick does the work again (or resumes it): an async retry would only overlap it.
        if template.property(function, "EventInvokeConfig").and_then(|c| c.get("MaximumRetryAttempts"))
            != Some(&json!(0))
        {
            problems.push(format!("{id}: a scheduled function needs EventInvokeConfig MaximumRetryAttempts 0"));
        }
        if !workflow_parameters.contains(parameter) {
            problems.push(format!("{WORKFLOW}: does not pass {parameter} (the schedule of {id}) to sam deploy"));
        }
        if name == "clerk-reconcile" {
            let timeout = template.property(function, "Timeout").and_then(Value::as_u64).unwrap_or(3);
            let margin = match template.environment(function).get("RECONCILE_STOP_MARGIN_SECONDS") {
                None => Some(RECONCILE_STOP_MARGIN_DEFAULT),
                Some(value) => value.as_str().and_then(|v| v.parse().ok()),
            };
            match margin {
                Some(margin) if timeout >= margin + RECONCILE_MIN_WORK_SECONDS => {}
                _ => problems.push(format!(
                    "{id}: Timeout {timeout} s leaves less than {RECONCILE_MIN_WORK_SECONDS} s of work before the \
                     stop margin ({margin:?} s)"
                )),
            }
        }
    }
    assert_no_problems(problems);
}

#[test]
fn conditional_resources_and_optional_secrets_are_used_only_under_their_condition() {
    let template = Template::load();
    let mut problems = Vec::new();
    let conditions = template.section("Conditions");
    let condition_of = |resource: &Value| resource.get("Condition").and_then(Value::as_str).map(str::to_string);

    // Each function's Condition is the table's, and its log group shares it (a conditional
    // function's group would otherwise outlive it; an unconditional function cannot log to a
    // group that may not exist).
    for (id, function) in template.functions() {
        let Some(dir) = template.crate_dir(function) else { continue };
        let expected = CONDITIONAL_FUNCTIONS.iter().find(|(f, _)| *f == dir).map(|(_, c)| c.to_string());
        let actual = condition_of(function);
        if actual != expected {
            problems
                .push(format!("{id} ({dir}): Condition is {actual:?}, expected {expected:?} (CONDITIONAL_FUNCTIONS)"));
        }
        if let Some(condition) = &expected {
            if !conditions.contains_key(condition) {
                problems.push(format!("{id}: the condition {condition} is not defined"));
            }
        }
        let group = template.merged(function, "LoggingConfig").get("LogGroup").cloned();
        if let Some(group) = group.as_ref().and_then(|g| g.get("Ref")).and_then(Value::as_str) {
            let group_condition = template.resources().get(group).and_then(condition_of);
            if group_condition != actual {
                problems.push(format!(
                    "{id}: its log group {group} has Condition {group_condition:?}, the function {actual:?}"
                ));
            }
        }
    }

    // An optional secret: a *SecretArn parameter that may be empty. Its condition is the one
    // that holds exactly when it is set.
    let mut guards: BTreeMap<String, String> = BTreeMap::new();
    for (name, parameter) in template.parameters() {
        if !name.ends_with("SecretArn") || parameter.get("Default") != Some(&json!("")) {
            continue;
        }
        let set = json!({"Fn::Not": [{"Fn::Equals": [{"Ref": name}, ""]}]});
        match conditions.iter().find(|(_, c)| **c == set) {
            Some((condition, _)) => {
                guards.insert(name.clone(), condition.clone());
            }
            None => problems
                .push(format!("{TEMPLATE}: no condition !Not [!Equals [!Ref {name}, \"\"]] for the optional {name}")),
        }
    }
    for (name, condition) in template.resources().iter().filter_map(|(id, r)| Some((id, condition_of(r)?))) {
        guards.insert(name.clone(), condition);
    }

    // Every reference to a conditional resource or an optional secret's parameter sits in a
    // resource or output with that condition, or in the true branch of an !If on it.
    let sections = [("Resources", template.resources()), ("Outputs", template.outputs())];
    for (section, entries) in sections {
        for (id, entry) in entries {
            let mut held: Vec<String> = condition_of(entry).into_iter().collect();
            let mut found = Vec::new();
            references(entry, &mut held, &mut found);
            for (target, held) in found {
                if let Some(condition) = guards.get(&target) {
                    let problem = format!("{section}.{id}: refers to {target} outside the condition {condition}");
                    if target != *id && !held.contains(condition) && !problems.contains(&problem) {
                        problems.push(problem);
                    }
                }
            }
        }
    }
    assert_no_problems(problems);
}

/// The family table is the checklist for adding a family (see its doc in
/// `lib/src/clerk/families.rs`): every family has its function crate, its
/// template function logging to a log group of the stack, its URL output, and
/// a sample payload for every type it handles.
#[test]
fn every_family_has_its_crate_function_log_group_url_and_samples() {
    let template = Template::load();
    let crates = function_crates();
    let mut problems = Vec::new();
    for spec in FAMILIES {
        let name = spec.function;
        if !crates.contains(name) {
            problems.push(format!("family {}: no crate functions/{name}", spec.name));
        }
        let Some((id, function)) =
            template.functions().into_iter().find(|(_, f)| template.crate_dir(f).as_deref() == Some(name))
        else {
            problems.push(format!("family {}: no template function built from functions/{name}", spec.name));
            continue;
        };
        let log_group = template.merged(function, "LoggingConfig").get("LogGroup").cloned();
        let logs_to_stack_group = match &log_group {
            Some(Value::Object(r)) => r
                .get("Ref")
                .and_then(Value::as_str)
                .and_then(|group| template.resources().get(group))
                .is_some_and(|g| g["Type"] == "AWS::Logs::LogGroup"),
            _ => false,
        };
        if !logs_to_stack_group {
            problems
                .push(format!("family {}: {id} does not log to a log group of the stack ({log_group:?})", spec.name));
        }
        let url = json!({"Fn::GetAtt": [format!("{id}Url"), "FunctionUrl"]});
        if !template.outputs().values().any(|o| o.get("Value") == Some(&url)) {
            problems.push(format!("family {}: no output with {id}'s Function URL", spec.name));
        }
        for event_type in spec.types {
            let sample = FamilySpec::sample_path(event_type);
            if !root().join(&sample).is_file() {
                problems.push(format!("family {}: no sample payload {sample}", spec.name));
            }
        }
    }
    assert_no_problems(problems);
}

/// Each webhook function may hold `WebhookReservedConcurrency` database connections: the
/// parameter caps every family's function, names each of them, and the budget written above it
/// (`N x WebhookReservedConcurrency + …`) counts one share per family of [`FAMILIES`].
#[test]
fn every_family_counts_in_the_connection_budget() {
    const PARAMETER: &str = "WebhookReservedConcurrency";
    let template = Template::load();
    let mut problems = Vec::new();
    let description = template
        .parameters()
        .get(PARAMETER)
        .and_then(|p| p.get("Description"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    for spec in FAMILIES {
        let name = spec.function;
        let Some((id, function)) =
            template.functions().into_iter().find(|(_, f)| template.crate_dir(f).as_deref() == Some(name))
        else {
            continue; // reported by every_family_has_its_crate_function_log_group_url_and_samples
        };
        if template.property(function, "ReservedConcurrentExecutions") != Some(&json!({"Ref": PARAMETER})) {
            problems.push(format!("{id}: ReservedConcurrentExecutions must be !Ref {PARAMETER}"));
        }
        if !description.contains(name) {
            problems.push(format!("{TEMPLATE}: the description of {PARAMETER} does not name {name}"));
        }
    }
    let budget = format!("{} x {PARAMETER}", FAMILIES.len());
    if !read(TEMPLATE).contains(&budget) {
        problems.push(format!(
            "{TEMPLATE}: the connection budget comment must count one share per family: \"{budget} + …\""
        ));
    }
    assert_no_problems(problems);
}

#[test]
fn the_workflow_matches_the_template_and_the_workspace() {
    let template = Template::load();
    let workflow = read_yaml(WORKFLOW);
    let runs = run_scripts(&workflow);
    let mut problems = Vec::new();

    // Outputs read with describe-stacks --query "...[?OutputKey=='Name']...".
    let outputs: Vec<String> = runs.iter().flat_map(|run| quoted_after(run, "OutputKey==")).collect();
    if outputs.is_empty() {
        problems.push(format!("{WORKFLOW}: reads no stack output (OutputKey=='…'); was the smoke test removed?"));
    }
    for name in &outputs {
        if !template.outputs().contains_key(name) {
            problems.push(format!("{WORKFLOW} reads the output {name}, which {TEMPLATE} does not define"));
        }
    }

    // Parameters: `jq --arg <Parameter> …` in the step that runs sam deploy.
    let deploy: Vec<&str> = runs.iter().copied().filter(|run| run.contains("sam deploy")).collect();
    if deploy.len() != 1 || !deploy[0].contains("--parameter-overrides") {
        problems.push(format!("{WORKFLOW}: expected one step running sam deploy --parameter-overrides"));
    }
    let mut overridden = BTreeSet::new();
    // The shell variable each parameter is set from: `--arg Parameter "$VARIABLE"`.
    let mut parameter_of = BTreeMap::new();
    for words in deploy.iter().map(|run| run.split_whitespace().collect::<Vec<_>>()) {
        for arg in words.windows(3).filter(|w| w[0] == "--arg") {
            if !overridden.insert(arg[1]) {
                problems.push(format!("{WORKFLOW}: sets the parameter {} twice", arg[1]));
            }
            parameter_of.insert(unquote(arg[2]).trim_start_matches('$'), arg[1]);
        }
    }
    // The secrets the deploy itself reads (to migrate, to sign the smoke test) are the stack's,
    // except the optional owner URL for migrations, which only ever stands in front of the stack's
    // database secret (`${MIGRATION_DATABASE_URL_SECRET_ARN:-$DATABASE_URL_SECRET_ARN}`).
    const DEPLOY_ONLY: &str = "MIGRATION_DATABASE_URL_SECRET_ARN";
    for words in runs.iter().map(|run| run.split_whitespace().collect::<Vec<_>>()) {
        for read in words.windows(2).filter(|w| w[0] == "--secret-id") {
            let mut variable = unquote(read[1]).trim_start_matches('$');
            if let Some(fallback) =
                variable.strip_prefix(&format!("{{{DEPLOY_ONLY}:-$")).and_then(|v| v.strip_suffix('}'))
            {
                if fallback != "DATABASE_URL_SECRET_ARN" {
                    problems.push(format!("{WORKFLOW}: ${DEPLOY_ONLY} must fall back to $DATABASE_URL_SECRET_ARN"));
                }
                variable = fallback;
            }
            if !parameter_of.get(variable).is_some_and(|p| p.ends_with("SecretArn")) {
                problems.push(format!(
                    "{WORKFLOW}: reads the secret ${variable}, which is not the ARN given to a *SecretArn parameter"
                ));
            }
        }
    }
    for name in &overridden {
        if !template.parameters().contains_key(*name) {
            problems.push(format!("{WORKFLOW} sets the parameter {name}, which {TEMPLATE} does not define"));
        }
    }
    for (name, parameter) in template.parameters() {
        if parameter.get("Default").is_none() && !overridden.contains(name.as_str()) {
            problems.push(format!("{TEMPLATE}: the required parameter {name} is not set by {WORKFLOW}"));
        }
    }

    // The deploy migrates, so the functions must not.
    if runs.iter().any(|run| run.contains("clerk-sync migrate")) {
        for (id, function) in template.functions() {
            if template.environment(function).get("SKIP_DB_MIGRATIONS") != Some(&json!("true")) {
                problems.push(format!("{id}: the deploy migrates; set SKIP_DB_MIGRATIONS: \"true\" (a string)"));
            }
        }
    } else {
        problems.push(format!("{WORKFLOW}: runs no clerk-sync migrate"));
    }

    // Files, packages and binaries the scripts use.
    let (packages, binaries) = workspace_targets();
    for words in runs.iter().map(|run| run.split_whitespace().map(unquote).collect::<Vec<_>>()) {
        for (i, word) in words.iter().enumerate() {
            let next = words.get(i + 1).copied().unwrap_or_default();
            if (*word == "-p" || *word == "--package") && !packages.contains(next) {
                problems.push(format!("{WORKFLOW}: cargo -p {next}: no such workspace package"));
            }
            if let Some(bin) = word.split_once("target/release/").map(|(_, bin)| bin) {
                if !binaries.contains(bin) {
                    problems.push(format!("{WORKFLOW}: runs target/release/{bin}: no workspace binary of that name"));
                }
            }
            let is_repo_file = (word.ends_with(".json") || *word == ".ci/run") && !word.contains(['$', ':']);
            if is_repo_file && !root().join(word).is_file() {
                problems.push(format!("{WORKFLOW}: uses {word}, which does not exist"));
            }
        }
    }

    // The arm64 build selects exactly the function crates: sam build then finds them up to date
    // (another member in the selection changes the unified dependency features).
    let lambda_builds: Vec<Vec<&str>> = runs
        .iter()
        .filter(|run| run.contains("cargo lambda build"))
        .map(|run| run.split_whitespace().collect::<Vec<_>>())
        .collect();
    if lambda_builds.is_empty() {
        problems.push(format!("{WORKFLOW}: runs no cargo lambda build"));
    }
    for words in &lambda_builds {
        let selected: BTreeSet<String> =
            words.windows(2).filter(|w| w[0] == "-p" || w[0] == "--package").map(|w| w[1].to_string()).collect();
        if selected != function_crates() {
            problems.push(format!(
                "{WORKFLOW}: cargo lambda build must select the function crates with -p, exactly {:?}; it selects \
                 {selected:?}",
                function_crates()
            ));
        }
    }

    // The deploy waits for the tests and assumes its role through OIDC.
    let deploy_job = &workflow["jobs"]["deploy"];
    let needs = match &deploy_job["needs"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !needs.contains(&"test") {
        problems.push(format!("{WORKFLOW}: the deploy job must need the test job"));
    }
    if deploy_job.pointer("/permissions/id-token") != Some(&json!("write")) {
        problems.push(format!("{WORKFLOW}: the deploy job needs permissions id-token: write (OIDC)"));
    }
    assert_no_problems(problems);
}

#[test]
fn short_tags_read_as_their_long_forms() {
    let text = r#"
ref: !Ref Param
long: {Ref: Param}
att: !GetAtt Fn.Arn.Deep
sub: !Sub 'https://${Api}'
if: !If [InVpc, {Ids: !Ref Subnets}, !Ref AWS::NoValue]
quoted: "true"
bool: true
number: 128
on: push
list: &anchor [arm64]
again: *anchor
"#;
    let expected = json!({
        "ref": {"Ref": "Param"},
        "long": {"Ref": "Param"},
        "att": {"Fn::GetAtt": ["Fn", "Arn.Deep"]},
        "sub": {"Fn::Sub": "https://${Api}"},
        "if": {"Fn::If": ["InVpc", {"Ids": {"Ref": "Subnets"}}, {"Ref": "AWS::NoValue"}]},
        "quoted": "true",
        "bool": true,
        "number": 128,
        "on": "push",
        "list": ["arm64"],
        "again": ["arm64"],
    });
    assert_eq!(parse_yaml(text), Ok(vec![expected]));
    assert!(parse_yaml("a: 1\na: 2\n").is_err(), "a duplicate key is an error, as in CloudFormation");
}

// ---------------------------------------------------------------------------------------------
// The template

struct Template(Value);

impl Template {
    fn load() -> Self {
        Self(read_yaml(TEMPLATE))
    }

    fn section(&self, name: &str) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.0.get(name).and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    fn resources(&self) -> &Map<String, Value> {
        self.section("Resources")
    }

    fn parameters(&self) -> &Map<String, Value> {
        self.section("Parameters")
    }

    fn outputs(&self) -> &Map<String, Value> {
        self.section("Outputs")
    }

    fn resources_of_type(&self, kind: &str) -> BTreeMap<&str, &Value> {
        self.resources().iter().filter(|(_, r)| r["Type"] == kind).map(|(id, r)| (id.as_str(), r)).collect()
    }

    /// The SAM functions by logical id.
    fn functions(&self) -> BTreeMap<&str, &Value> {
        self.resources_of_type("AWS::Serverless::Function")
    }

    /// A setting from `Globals.Function`.
    fn global(&self, key: &str) -> Option<&Value> {
        self.0.pointer("/Globals/Function").and_then(|g| g.get(key))
    }

    /// A function's setting as SAM applies it: its own, else the global one.
    fn property<'a>(&'a self, function: &'a Value, key: &str) -> Option<&'a Value> {
        function["Properties"].get(key).or_else(|| self.global(key))
    }

    /// A map setting as SAM applies it: the global map overlaid with the function's (SAM merges
    /// maps from Globals rather than replacing them).
    fn merged(&self, function: &Value, key: &str) -> Map<String, Value> {
        let map = |value: Option<&Value>| value.and_then(Value::as_object).cloned().unwrap_or_default();
        let mut merged = map(self.global(key));
        merged.extend(map(function["Properties"].get(key)));
        merged
    }

    /// The environment variables a function gets: the global ones overlaid with its own.
    fn environment(&self, function: &Value) -> BTreeMap<String, Value> {
        let variables = |env: Option<&Value>| {
            env.and_then(|e| e.get("Variables")).and_then(Value::as_object).cloned().unwrap_or_default()
        };
        let mut merged: BTreeMap<String, Value> = variables(self.global("Environment")).into_iter().collect();
        merged.extend(variables(function["Properties"].get("Environment")));
        merged
    }

    /// `<crate>` of a function whose CodeUri is `functions/<crate>`.
    fn crate_dir(&self, function: &Value) -> Option<String> {
        let uri = function["Properties"]["CodeUri"].as_str()?;
        let dir = uri.trim_start_matches("./").trim_end_matches('/').strip_prefix("functions/")?;
        (!dir.is_empty() && !dir.contains('/')).then(|| dir.to_string())
    }
}

/// `!If [condition, value, !Ref AWS::NoValue]` (a setting given only when
/// its condition holds) read as `value`; anything else as it is.
fn optional(value: &Value) -> &Value {
    match value.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::String(_), given, none]) if none == &json!({"Ref": "AWS::NoValue"}) => given,
        _ => value,
    }
}

/// The names `value` refers to (`Ref`, `Fn::GetAtt`, `${Name}` in `Fn::Sub`, `DependsOn`), each
/// with the conditions that hold where it appears: `held` (the entry's own, then each enclosing
/// `!If`'s when in its true branch).
fn references(value: &Value, held: &mut Vec<String>, found: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| references(item, held, found)),
        Value::Object(map) => {
            if let Some(Value::Array(args)) = map.get("Fn::If") {
                if let [Value::String(condition), when_true, when_false] = args.as_slice() {
                    held.push(condition.clone());
                    references(when_true, held, found);
                    held.pop();
                    references(when_false, held, found);
                    return;
                }
            }
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("Ref", Value::String(name)) => found.push((name.clone(), held.clone())),
                    ("Fn::GetAtt", Value::Array(path)) => {
                        if let Some(name) = path.first().and_then(Value::as_str) {
                            found.push((name.to_string(), held.clone()));
                        }
                    }
                    ("Fn::GetAtt", Value::String(path)) => {
                        let name = path.split_once('.').map_or(path.as_str(), |(name, _)| name);
                        found.push((name.to_string(), held.clone()));
                    }
                    ("DependsOn", Value::String(name)) => found.push((name.clone(), held.clone())),
                    ("DependsOn", Value::Array(names)) => {
                        found.extend(names.iter().filter_map(Value::as_str).map(|n| (n.to_string(), held.clone())))
                    }
                    ("Fn::Sub", sub) => {
                        let text = match sub {
                            Value::String(text) => Some(text.as_str()),
                            Value::Array(args) => args.first().and_then(Value::as_str),
                            _ => None,
                        };
                        for name in text.map(sub_names).unwrap_or_default() {
                            found.push((name, held.clone()));
                        }
                        references(sub, held, found);
                    }
                    _ => references(item, held, found),
                }
            }
        }
        _ => {}
    }
}

/// The names `${Name}` and `${Name.Attribute}` in an `Fn::Sub` string refer to (not `${!Literal}`).
fn sub_names(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.starts_with('!'))
        .map(|name| name.split_once('.').map_or(name, |(name, _)| name).to_string())
        .collect()
}

/// `rate(…)` or `cron(…)`, as an EventBridge rule's schedule expression.
fn schedule_expression(text: &str) -> bool {
    (text.starts_with("rate(") || text.starts_with("cron(")) && text.ends_with(')')
}

fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "{} problem(s):\n  {}", problems.len(), problems.join("\n  "));
}

// ---------------------------------------------------------------------------------------------
// The workspace

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace root").to_path_buf()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_yaml(relative: &str) -> Value {
    let docs = parse_yaml(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"));
    match <[Value; 1]>::try_from(docs) {
        Ok([doc]) => doc,
        Err(docs) => panic!("{relative}: expected one YAML document, found {}", docs.len()),
    }
}

/// The crates under `functions/`, by directory name. Each must build one binary named after
/// its directory: the template's `Binary` and sam build's copy step rely on it.
fn function_crates() -> BTreeSet<String> {
    let dir = root().join("functions");
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut crates = BTreeSet::new();
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if !path.join("Cargo.toml").is_file() {
            continue;
        }
        let (package, bins) = manifest_names(&read(&format!("functions/{name}/Cargo.toml")));
        assert_eq!(package.as_deref(), Some(name.as_str()), "functions/{name}: the package must be named {name}");
        assert!(bins.iter().all(|b| *b == name), "functions/{name}: its only binary must be named {name}");
        crates.insert(name);
    }
    crates
}

/// The workspace's package names and binary names.
fn workspace_targets() -> (BTreeSet<String>, BTreeSet<String>) {
    let manifest = read("Cargo.toml");
    let members = manifest
        .split_once("members")
        .and_then(|(_, rest)| rest.split_once('['))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("the root Cargo.toml lists its members");
    let (mut packages, mut binaries) = (BTreeSet::new(), BTreeSet::new());
    for member in members.split(',').map(|m| unquote(m.trim())).filter(|m| !m.is_empty()) {
        let (package, bins) = manifest_names(&read(&format!("{member}/Cargo.toml")));
        let package = package.unwrap_or_else(|| panic!("{member}/Cargo.toml has no package name"));
        if root().join(member).join("src/main.rs").is_file() && bins.is_empty() {
            binaries.insert(package.clone());
        }
        binaries.extend(bins);
        packages.insert(package);
    }
    (packages, binaries)
}

/// The `name` of a manifest's `[package]` and of its `[[bin]]` tables. A line reader, enough for
/// this workspace's manifests (one key per line); no TOML parser needed.
fn manifest_names(manifest: &str) -> (Option<String>, Vec<String>) {
    let (mut section, mut package, mut bins) = ("", None, Vec::new());
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if let Some(value) = line.strip_prefix("name").and_then(|rest| rest.trim_start().strip_prefix('=')) {
            let value = unquote(value.trim()).to_string();
            match section {
                "[package]" => package = Some(value),
                "[[bin]]" => bins.push(value),
                _ => {}
            }
        }
    }
    (package, bins)
}

// ---------------------------------------------------------------------------------------------
// The workflow

/// The template parameters the step running sam deploy sets: `jq --arg <Parameter> …`.
fn deploy_parameters(workflow: &Value) -> BTreeSet<String> {
    let mut parameters = BTreeSet::new();
    for run in run_scripts(workflow).into_iter().filter(|run| run.contains("sam deploy")) {
        let words: Vec<&str> = run.split_whitespace().collect();
        parameters.extend(words.windows(3).filter(|w| w[0] == "--arg").map(|w| w[1].to_string()));
    }
    parameters
}

/// Every step's `run` script, in every job.
fn run_scripts(workflow: &Value) -> Vec<&str> {
    let jobs = workflow["jobs"].as_object().into_iter().flat_map(|jobs| jobs.values());
    let steps = jobs.flat_map(|job| job["steps"].as_array().into_iter().flatten());
    steps.filter_map(|step| step["run"].as_str()).collect()
}

/// The quoted words right after each `marker` in `text`: `OutputKey=='Name'` gives `Name`.
fn quoted_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let quote = rest.chars().next().filter(|c| matches!(c, '\'' | '"' | '`'))?;
            rest[1..].split_once(quote).map(|(word, _)| word.to_string())
        })
        .collect()
}

fn unquote(word: &str) -> &str {
    word.trim_matches(|c| matches!(c, '"' | '\''))
}

// ---------------------------------------------------------------------------------------------
// YAML, read as CloudFormation reads it

/// Parses YAML into JSON values the way CloudFormation reads a template: a short-form tag is the
/// long form it abbreviates (`!Ref X` is `{"Ref": "X"}`, `!GetAtt A.B` is
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` is `{"Fn::Sub": s}`, `!If [...]` is `{"Fn::If": [...]}`),
/// quoted scalars stay strings, and a duplicate key is an error.
fn parse_yaml(text: &str) -> Result<Vec<Value>, String> {
    let mut loader = Loader::default();
    Parser::new_from_str(text).load(&mut loader, true).map_err(|e| e.to_string())?;
    loader.error.map_or(Ok(loader.docs), Err)
}

#[derive(Default)]
struct Loader {
    /// Sequences and mappings being read, innermost last, with their anchor and tag.
    open: Vec<(Value, Option<String>, usize, Option<Tag>)>,
    anchors: HashMap<usize, Value>,
    docs: Vec<Value>,
    error: Option<String>,
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::SequenceStart(anchor, tag) => self.open.push((Value::Array(Vec::new()), None, anchor, tag)),
            Event::MappingStart(anchor, tag) => self.open.push((Value::Object(Map::new()), None, anchor, tag)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, _, anchor, tag) = self.open.pop().expect("the parser balances starts and ends");
                self.add(long_form(value, tag.as_ref()), anchor, mark);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(text, style, tag.as_ref());
                self.add(long_form(value, tag.as_ref()), anchor, mark);
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => self.add(value, 0, mark),
                None => self.fail(mark, "an alias to an unknown anchor"),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

impl Loader {
    fn add(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let Some((parent, key, ..)) = self.open.last_mut() else {
            self.docs.push(value);
            return;
        };
        let duplicate = match (parent, key.take()) {
            (Value::Array(items), _) => {
                items.push(value);
                None
            }
            (Value::Object(_), None) => {
                *key = Some(value.as_str().map_or_else(|| value.to_string(), str::to_string));
                None
            }
            (Value::Object(map), Some(name)) => map.insert(name.clone(), value).map(|_| name),
            _ => unreachable!("only sequences and mappings are open"),
        };
        if let Some(name) = duplicate {
            self.fail(mark, &format!("the key {name} appears twice in one mapping"));
        }
    }

    fn fail(&mut self, mark: Marker, message: &str) {
        self.error.get_or_insert_with(|| format!("{message} (line {}, column {})", mark.line(), mark.col() + 1));
    }
}

/// A scalar's value: quoted, or tagged like `!Ref`, it is a string; plain, YAML 1.2's core schema
/// decides (`true`, `128`, `null`; but `on` and `yes` are strings).
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.handle == "!" || t.suffix == "str") {
        return Value::String(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => r.parse().ok().and_then(serde_json::Number::from_f64).map_or(Value::String(r), Value::Number),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text),
    }
}

/// A value under a CloudFormation short-form tag as the long form: `{"Ref": …}`,
/// `{"Condition": …}`, `{"Fn::<Name>": …}`; `!GetAtt A.B` splits at the first dot.
fn long_form(value: Value, tag: Option<&Tag>) -> Value {
    let Some(name) = tag.filter(|t| t.handle == "!").map(|t| t.suffix.as_str()) else { return value };
    let (key, value) = match (name, value) {
        ("Ref" | "Condition", value) => (name.to_string(), value),
        ("GetAtt", Value::String(path)) => {
            let parts = path.split_once('.').map_or_else(|| vec![path.clone()], |(r, a)| vec![r.into(), a.into()]);
            ("Fn::GetAtt".to_string(), json!(parts))
        }
        (_, value) => (format!("Fn::{name}"), value),
    };
    Value::Object(Map::from_iter([(key, value)]))
}
