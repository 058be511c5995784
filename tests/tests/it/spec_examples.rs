//! Every real payload shape: the example Clerk's webhook spec gives for each
//! event type (`tests/fixtures/clerk-webhook-examples/`, kept verbatim),
//! delivered as Svix delivers a message, under one svix-id to every webhook
//! function; and, for each handled type, its example with each field removed,
//! each field nulled, and an unknown field added at every object level.
//!
//! Expectations come from `FAMILIES` at run time, never from a list of our
//! own: a type a family handles is applied by that family (`processed`, or
//! `stale`) and ignored by every other function; any other type is ignored by
//! all of them, the catch-all included. A family added to the table is
//! covered by the next run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use clerk_sync::{
    clerk::{FamilySpec, FAMILIES},
    Family, WebhookState,
};
use clerk_sync_tests::{answer, function_url_event, now, signed_headers, webhook_state, Answer, TestDb, TEST_SECRET};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/clerk-webhook-examples");
/// Event types in Clerk's webhook spec (version 2025-04-15), one example each.
const SPEC_TYPES: usize = 45;
/// Connections per function: deliveries are batched, several at once.
const POOL_SIZE: &str = "3";
const IN_FLIGHT: usize = 12;
/// What no Clerk payload carries.
const UNKNOWN_KEY: &str = "x_clerk_sync_unknown";

/// One fixture: Clerk's example for one event type.
struct Example {
    event_type: String,
    /// The file's text, delivered as is.
    body: String,
    payload: Value,
}

impl Example {
    fn family(&self) -> Option<&'static FamilySpec> {
        handling(&self.event_type)
    }

    fn object_id(&self) -> Option<&str> {
        self.payload["data"]["id"].as_str()
    }
}

fn examples() -> Vec<Example> {
    let mut examples = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).unwrap_or_else(|e| panic!("{FIXTURES}: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{FIXTURES}: {e}")).path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let payload: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let event_type = payload["type"].as_str().unwrap_or_else(|| panic!("{}: no type", path.display())).to_owned();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert_eq!(stem, event_type, "{} holds another type's example", path.display());
        examples.push(Example { event_type, body, payload });
    }
    examples.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    assert_eq!(examples.len(), SPEC_TYPES, "one example per event type of the spec");
    examples
}

/// The row of `FAMILIES` whose types include `event_type`.
fn handling(event_type: &str) -> Option<&'static FamilySpec> {
    FAMILIES.iter().find(|spec| spec.types.contains(&event_type))
}

fn action(event_type: &str) -> &str {
    event_type.split_once('.').map_or("", |(_, action)| action)
}

/// Creates first, deletes last: each wave's objects are checked in the
/// mirror before the next wave changes them.
fn wave(event_type: &str) -> usize {
    match action(event_type) {
        "created" => 0,
        "deleted" => 2,
        _ => 1,
    }
}

/// Every webhook function over one database: one per row of `FAMILIES`,
/// then the local stack's catch-all.
struct Functions {
    db: TestDb,
    states: Vec<(Family, WebhookState)>,
}

impl Functions {
    async fn spawn() -> Self {
        let db = TestDb::spawn().await;
        let states = FAMILIES
            .iter()
            .map(|spec| spec.family)
            .chain([Family::All])
            .map(|family| (family, webhook_state(family, &db.url, vec![("DB_MAX_CONNECTIONS", POOL_SIZE.into())])))
            .collect();
        Self { db, states }
    }

    fn state(&self, family: Family) -> &WebhookState {
        self.states.iter().find(|(f, _)| *f == family).map(|(_, s)| s).unwrap_or_else(|| panic!("{family:?}"))
    }

    /// `clerk_webhook_events` by svix-id: (family, status, last_error) each.
    async fn recorded(&self) -> HashMap<String, Vec<(String, String, Option<String>)>> {
        let mut by_id: HashMap<_, Vec<_>> = HashMap::new();
        for row in self.db.rows("SELECT svix_id, family, status, last_error FROM clerk_webhook_events").await {
            let text = |key: &str| row[key].as_str().map(str::to_owned);
            by_id.entry(text("svix_id").unwrap_or_default()).or_default().push((
                text("family").unwrap_or_default(),
                text("status").unwrap_or_default(),
                text("last_error"),
            ));
        }
        by_id
    }

    /// Every row of every table the webhooks write (all but the event log,
    /// which keeps the raw payloads), by each text value it holds: the
    /// mirror, whatever tables its families have.
    async fn mirror(&self) -> HashMap<String, Vec<Value>> {
        let tables = self
            .db
            .rows(
                "SELECT table_name::text AS name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                   AND table_name <> 'clerk_webhook_events'",
            )
            .await;
        let mut by_value: HashMap<String, Vec<Value>> = HashMap::new();
        for table in tables {
            let name = table["name"].as_str().unwrap_or_default();
            for row in self.db.rows(&format!("SELECT * FROM \"{name}\"")).await {
                for value in row.as_object().into_iter().flat_map(|o| o.values()).filter_map(Value::as_str) {
                    let mut row = row.clone();
                    row["_table"] = name.into();
                    by_value.entry(value.to_owned()).or_default().push(row);
                }
            }
        }
        by_value
    }
}

/// Signs `body` under `svix_id` and delivers it to one function through the
/// real handler, as a Function URL request.
async fn deliver(state: &WebhookState, svix_id: &str, body: &str) -> Answer {
    let event = function_url_event("POST", body, &signed_headers(TEST_SECRET, svix_id, now(), body), false);
    let request = lambda_http::request::from_str(&event).expect("lambda_http accepts the event");
    answer(clerk_sync::handle(state, request).await)
}

fn status(answer: &Answer) -> &str {
    answer.body["status"].as_str().unwrap_or_default()
}

fn fresh_svix_id(label: &str) -> String {
    format!("msg_{label}_{}", uuid::Uuid::new_v4().simple())
}

/// Where the mirror should show `id` after an event about it: a row holding
/// it, and for a delete, a row marked deleted (when its table marks them).
fn mirror_problem(mirror: &HashMap<String, Vec<Value>>, event_type: &str, id: &str) -> Option<String> {
    let Some(rows) = mirror.get(id) else {
        return Some(format!("applied, but no row of the mirror holds {id}"));
    };
    if action(event_type) == "deleted" && !rows.iter().any(|r| r.get("deleted_at").is_none_or(|d| !d.is_null())) {
        return Some(format!("applied, but the row of {id} is not marked deleted: {rows:?}"));
    }
    None
}

fn assert_none(problems: &[String]) {
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spec_example_is_applied_once_by_its_family_and_ignored_by_every_other_function() {
    let functions = Functions::spawn().await;
    let examples = examples();
    let mut problems = Vec::new();
    let mut svix_ids = BTreeMap::new();
    for current in 0..3 {
        let batch: Vec<(&Example, String)> = examples
            .iter()
            .filter(|e| wave(&e.event_type) == current)
            .map(|e| (e, fresh_svix_id(&e.event_type.replace('.', "_"))))
            .collect();
        // Each message to every function at once, as Svix fans it out to
        // every endpoint subscribed to its type; one message after another
        // (messages about the same objects at once are concurrency.rs's).
        let mut answers: Vec<(&Example, Family, Answer)> = Vec::new();
        for (example, svix_id) in &batch {
            let deliveries = functions.states.iter().map(|(family, state)| async move {
                (*example, *family, deliver(state, svix_id, &example.body).await)
            });
            answers.extend(futures_util::future::join_all(deliveries).await);
        }

        let mut appliers: BTreeMap<&str, Vec<(Family, &Answer)>> = BTreeMap::new();
        for (example, family, answer) in &answers {
            let t = example.event_type.as_str();
            if !(200..300).contains(&answer.status) {
                problems.push(format!("{t} at {family:?}: answered {} {}", answer.status, answer.body));
                continue;
            }
            match example.family() {
                Some(spec) if *family == spec.family || *family == Family::All => {
                    appliers.entry(t).or_default().push((*family, answer));
                }
                _ if status(answer) == "ignored" => {}
                _ => problems.push(format!("{t} at {family:?}: {} where ignored was due", answer.body)),
            }
        }
        // The family's function and the catch-all apply under the same
        // family: one applies, the other finds it recorded.
        for (t, answers) in &appliers {
            let applied: Vec<_> = answers.iter().filter(|(_, a)| status(a) != "duplicate").collect();
            match applied.as_slice() {
                [(_, a)] if ["processed", "stale"].contains(&status(a)) => {}
                [(f, a)] if status(a) == "failed" => problems.push(format!(
                    "{t}: the example cannot be applied ({f:?} recorded it failed): {}",
                    a.body["reason"].as_str().unwrap_or("no reason given")
                )),
                _ => problems.push(format!("{t}: expected one processed or stale and one duplicate, got {answers:?}")),
            }
        }

        let mirror = functions.mirror().await;
        for (example, svix_id) in &batch {
            svix_ids.insert(svix_id.clone(), *example);
            let applied = appliers
                .get(example.event_type.as_str())
                .is_some_and(|a| a.iter().any(|(_, a)| ["processed", "stale"].contains(&status(a))));
            if let (true, Some(id)) = (applied, example.object_id()) {
                problems.extend(
                    mirror_problem(&mirror, &example.event_type, id).map(|p| format!("{}: {p}", example.event_type)),
                );
            }
        }
    }

    // Recorded exactly once per family that received it: the applying
    // family's row for a handled type (the catch-all shares it), each other
    // function's own `ignored` row.
    let recorded = functions.recorded().await;
    for (svix_id, example) in &svix_ids {
        let t = &example.event_type;
        let mut expected: BTreeMap<&str, &[&str]> = FAMILIES.iter().map(|spec| (spec.name, &["ignored"][..])).collect();
        match example.family() {
            Some(spec) => {
                expected.insert(spec.name, &["processed", "stale"]);
            }
            None => {
                expected.insert(Family::All.name(), &["ignored"]);
            }
        }
        let rows = recorded.get(svix_id).map(Vec::as_slice).unwrap_or_default();
        let families: Vec<&str> = rows.iter().map(|(family, _, _)| family.as_str()).collect();
        let unique: BTreeSet<&str> = families.iter().copied().collect();
        if families.len() != unique.len() || unique != expected.keys().copied().collect() {
            problems
                .push(format!("{t}: recorded under {families:?}, expected once under each of {:?}", expected.keys()));
        }
        for (family, status, error) in rows {
            if expected.get(family.as_str()).is_some_and(|allowed| !allowed.contains(&status.as_str())) {
                problems.push(format!("{t}: recorded {status} under {family} ({error:?})"));
            }
        }
    }

    let handled = examples.iter().filter(|e| e.family().is_some()).count();
    eprintln!(
        "spec examples: {} types, {handled} applied by their family, {} ignored everywhere, each at {} functions",
        examples.len(),
        examples.len() - handled,
        functions.states.len()
    );
    assert_none(&problems);
}

/// A step into a JSON value: an object's key or an array's index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

type Path = Vec<Step>;

fn show(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "the envelope".into()
    } else {
        out
    }
}

/// Every field (an object's key, at any depth, arrays' objects included)
/// and every object, by path.
fn walk(value: &Value, path: &mut Path, fields: &mut Vec<Path>, objects: &mut Vec<Path>) {
    match value {
        Value::Object(map) => {
            objects.push(path.clone());
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                fields.push(path.clone());
                walk(child, path, fields, objects);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk(child, path, fields, objects);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |value, step| match step {
        Step::Key(key) => &mut value[key.as_str()],
        Step::Index(i) => &mut value[*i],
    })
}

fn at<'a>(value: &'a Value, path: &[Step]) -> &'a Value {
    path.iter().fold(value, |value, step| match step {
        Step::Key(key) => &value[key.as_str()],
        Step::Index(i) => &value[*i],
    })
}

fn key(step: &Step) -> Option<&str> {
    match step {
        Step::Key(key) => Some(key),
        Step::Index(_) => None,
    }
}

/// The same event about objects of its own: every id (a string under `id`
/// or `*_id`) gets `tag` appended wherever it occurs, so each variant is
/// applied to a mirror that has never seen its objects, and what it did is
/// visible there.
fn in_universe(payload: &Value, tag: &str) -> Value {
    fn ids(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match child {
                        Value::String(s) if key == "id" || key.ends_with("_id") => {
                            out.insert(s.clone());
                        }
                        _ => ids(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|child| ids(child, out)),
            _ => {}
        }
    }
    fn rewrite(value: &mut Value, ids: &BTreeSet<String>, tag: &str) {
        match value {
            Value::String(s) if ids.contains(s.as_str()) => *s = format!("{s}_{tag}"),
            Value::Object(map) => map.values_mut().for_each(|child| rewrite(child, ids, tag)),
            Value::Array(items) => items.iter_mut().for_each(|child| rewrite(child, ids, tag)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    ids(payload, &mut found);
    let mut payload = payload.clone();
    rewrite(&mut payload, &found, tag);
    payload
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edit {
    Removed,
    Nulled,
    UnknownAdded,
}

struct Variant<'a> {
    example: &'a Example,
    spec: &'static FamilySpec,
    edit: Edit,
    path: Path,
    payload: Value,
    svix_id: String,
}

impl Variant<'_> {
    fn label(&self) -> String {
        let edit = match self.edit {
            Edit::Removed => "without",
            Edit::Nulled => "with null",
            Edit::UnknownAdded => "with an unknown field in",
        };
        format!("{} {edit} {}", self.example.event_type, show(&self.path))
    }

    /// Whether the mirror may refuse it: only without what identity,
    /// ordering or access needs (Clerk never sends that). The envelope's
    /// `data`, or its `timestamp` for a delete (a delete's only clock); in
    /// `data`, an id (`id`, `*_id`), `updated_at`, what access is decided
    /// by (`role`, a role's or permission's `key`), or an object holding
    /// one of these.
    fn may_fail(&self) -> bool {
        let needed = |key: &str| key == "id" || key.ends_with("_id") || ["updated_at", "role", "key"].contains(&key);
        match self.path.iter().map(key).collect::<Vec<_>>().as_slice() {
            _ if self.edit == Edit::UnknownAdded => false,
            [Some("data")] => true,
            [Some("timestamp")] => action(&self.example.event_type) == "deleted",
            [Some("data"), .., Some(last)] => {
                needed(last)
                    || at(&self.example.payload, &self.path)
                        .as_object()
                        .is_some_and(|object| object.keys().any(|k| needed(k)))
            }
            _ => false,
        }
    }

    /// Whether it cannot be applied: no data, or no object id.
    fn must_fail(&self) -> bool {
        let path: Vec<_> = self.path.iter().map(key).collect();
        self.edit == Edit::Nulled && (path == [Some("data")] || path == [Some("data"), Some("id")])
    }
}

/// The fields a variant keeps: the envelope's `object`, `type`,
/// `timestamp` and `data`, `data.id` and `data.object`, and `data.updated_at` (the
/// clock) of anything but a delete.
fn kept(event_type: &str, path: &[Step]) -> bool {
    match path.iter().map(key).collect::<Vec<_>>().as_slice() {
        [Some("object" | "type" | "timestamp" | "data")] | [Some("data"), Some("id" | "object")] => true,
        [Some("data"), Some("updated_at")] => action(event_type) != "deleted",
        _ => false,
    }
}

fn variants<'a>(example: &'a Example, spec: &'static FamilySpec, next: &mut usize) -> Vec<Variant<'a>> {
    let (mut fields, mut objects) = (Vec::new(), Vec::new());
    walk(&example.payload, &mut Vec::new(), &mut fields, &mut objects);
    let removed = fields.iter().filter(|p| !kept(&example.event_type, p)).map(|p| (Edit::Removed, p));
    // A `type` that is not a string is not an envelope: a 400, as
    // documented (hostile.rs). Fields already null have nothing to null.
    let nulled =
        fields.iter().filter(|p| show(p) != "type" && !at(&example.payload, p).is_null()).map(|p| (Edit::Nulled, p));
    let unknown = objects.iter().map(|p| (Edit::UnknownAdded, p));
    removed
        .chain(nulled)
        .chain(unknown)
        .map(|(edit, path)| {
            *next += 1;
            let tag = format!("v{next}");
            let mut payload = in_universe(&example.payload, &tag);
            match edit {
                Edit::Removed => {
                    let (last, parent) = path.split_last().expect("a field has a key");
                    if let (Some(object), Some(key)) = (at_mut(&mut payload, parent).as_object_mut(), key(last)) {
                        object.remove(key);
                    }
                }
                Edit::Nulled => *at_mut(&mut payload, path) = Value::Null,
                Edit::UnknownAdded => {
                    if let Some(object) = at_mut(&mut payload, path).as_object_mut() {
                        object.insert(UNKNOWN_KEY.into(), json!({"nested": [1, "two", null, {"three": true}]}));
                    }
                }
            }
            Variant { example, spec, edit, path: path.clone(), payload, svix_id: fresh_svix_id(&tag) }
        })
        .collect()
}

/// A string of the payload that `reason` quotes, if any: reasons are
/// logged and stored, and values may be personal data. Type tags
/// (`object`) and short words are not values a reason could leak.
fn quoted_value<'a>(reason: &str, payload: &'a Value) -> Option<&'a str> {
    fn strings<'a>(value: &'a Value, key: &str, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) if key != "object" && s.len() >= 4 => out.push(s),
            Value::Object(map) => map.iter().for_each(|(k, v)| strings(v, k, out)),
            Value::Array(items) => items.iter().for_each(|v| strings(v, key, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    strings(payload, "", &mut found);
    found.into_iter().find(|s| reason.contains(s))
}

/// Each handled example in a universe of its own, to its family's function:
/// what the base example does, before and after the variants.
async fn deliver_bases(
    functions: &Functions,
    handled: &[(&Example, &'static FamilySpec)],
    round: &str,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let deliveries = handled.iter().enumerate().map(|(i, (example, spec))| async move {
        let payload = in_universe(&example.payload, &format!("{round}{i}"));
        let answer = deliver(functions.state(spec.family), &fresh_svix_id(round), &payload.to_string()).await;
        (example.event_type.clone(), payload, answer)
    });
    let answers: Vec<_> = stream::iter(deliveries).buffer_unordered(IN_FLIGHT).collect().await;
    let mirror = functions.mirror().await;
    let mut failing = Vec::new();
    for (event_type, payload, answer) in answers {
        if answer.status == 200 && status(&answer) == "processed" {
            let id = payload["data"]["id"].as_str().unwrap_or_default();
            problems.extend(mirror_problem(&mirror, &event_type, id).map(|p| format!("{event_type} ({round}): {p}")));
        } else {
            problems.push(format!("{event_type} ({round}): {} {} where processed was due", answer.status, answer.body));
            failing.push(event_type);
        }
    }
    failing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_examples_survive_any_field_removed_nulled_or_unknown() {
    let functions = Functions::spawn().await;
    let examples = examples();
    let handled: Vec<(&Example, &'static FamilySpec)> =
        examples.iter().filter_map(|e| e.family().map(|spec| (e, spec))).collect();
    let mut problems = Vec::new();

    // A base that fails is reported once; its variants would only repeat it.
    let failing = deliver_bases(&functions, &handled, "before", &mut problems).await;
    let mut next = 0;
    let variants: Vec<Variant<'_>> = handled
        .iter()
        .filter(|(example, _)| !failing.contains(&example.event_type))
        .flat_map(|(example, spec)| variants(example, spec, &mut next))
        .collect();

    // To the family's function, or every other one to the catch-all, which
    // applies under the same family.
    let deliveries = variants.iter().enumerate().map(|(i, variant)| {
        let family = if i.is_multiple_of(2) { variant.spec.family } else { Family::All };
        let state = functions.state(family);
        async move { (variant, deliver(state, &variant.svix_id, &variant.payload.to_string()).await) }
    });
    let answers: Vec<(&Variant<'_>, Answer)> = stream::iter(deliveries).buffer_unordered(IN_FLIGHT).collect().await;

    let recorded = functions.recorded().await;
    let mirror = functions.mirror().await;
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    for (variant, answer) in &answers {
        let label = variant.label();
        let got = status(answer);
        if answer.status != 200 || !["processed", "stale", "failed"].contains(&got) {
            problems.push(format!("{label}: answered {} {}", answer.status, answer.body));
            continue;
        }
        let reason = answer.body["reason"].as_str().unwrap_or_default();
        match got {
            "failed" if !variant.may_fail() => {
                problems.push(format!("{label}: failed, yet nothing needed is missing: {reason}"))
            }
            "failed" if reason.trim().is_empty() => problems.push(format!("{label}: failed without a reason")),
            "failed" => {
                if let Some(value) = quoted_value(reason, &variant.payload) {
                    problems.push(format!("{label}: the reason quotes a value ({value:?}): {reason}"));
                }
                refused.insert(label.clone(), reason.to_owned());
            }
            _ if variant.must_fail() => problems.push(format!("{label}: {got}, though nothing can be applied")),
            "processed" => {
                let id = variant.payload["data"]["id"].as_str().unwrap_or_default();
                problems
                    .extend(mirror_problem(&mirror, &variant.example.event_type, id).map(|p| format!("{label}: {p}")));
            }
            _ => {}
        }
        let rows = recorded.get(&variant.svix_id).map(Vec::as_slice).unwrap_or_default();
        match rows {
            [(family, status, error)] if family == variant.spec.name && status == got => {
                if got == "failed" && error.as_deref() != Some(reason) {
                    problems.push(format!("{label}: recorded reason {error:?}, answered {reason:?}"));
                }
            }
            _ => {
                problems.push(format!("{label}: answered {got}, recorded {rows:?} (once under {})", variant.spec.name))
            }
        }
    }

    // Nothing was killed: every base example still applies.
    deliver_bases(&functions, &handled, "after", &mut problems).await;

    let mut counts: BTreeMap<Edit, usize> = BTreeMap::new();
    for variant in &variants {
        *counts.entry(variant.edit).or_default() += 1;
    }
    eprintln!(
        "spec example variants: {} handled types, {} variants ({counts:?}), {} refused as failed:",
        handled.len(),
        variants.len(),
        refused.len()
    );
    for (label, reason) in &refused {
        eprintln!("  {label}: {reason}");
    }
    assert_none(&problems);
}
