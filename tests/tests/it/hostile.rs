//! Hostile input, bounded for CI (the open-ended runs are the cargo-fuzz
//! targets in `fuzz/`): arbitrary methods, header sets, bodies, signatures
//! and JSON shapes through the real handler against a real database, plus
//! edited vault envelopes and session tokens.
//!
//! What must hold: only the documented statuses, each with its documented
//! body; a request not signed with the configured secret never gets past
//! 401 and never writes a row; an authentic delivery is answered 200 (and
//! recorded) or 400 (and not), never 503 on a working database; no answer
//! carries the secret or anything about the database.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::{
    engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as B64URL},
    Engine,
};
use clerk_sync::{
    session::SessionVerifier,
    vault::{Ciphertext, ExposeSecret, Vault},
    Family, WebhookState,
};
use clerk_sync_tests::{clerk::sample, function_url_event, now, session, webhook_state, TestDb, Vars, TEST_SECRET};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use proptest::{
    prelude::*,
    test_runner::{TestCaseError, TestRunner},
};
use serde_json::{json, Value};

/// Small enough that generated long strings reach 413 now and then.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Signatures made with another valid secret must never verify.
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Every type a family handles, from the table that declares them.
fn handled() -> Vec<&'static str> {
    clerk_sync::clerk::FAMILIES.iter().flat_map(|spec| spec.types.iter().copied()).collect()
}
const OTHER_TYPES: [&str; 8] = [
    "session.created",
    "user.created\u{0}",
    "email.created",
    "waitlistEntry.created",
    "user.",
    "User.created",
    "user.created.extra",
    "",
];
/// Field names the lenient readers look at.
const KEYS: [&str; 18] = [
    "id",
    "type",
    "data",
    "timestamp",
    "updated_at",
    "first_name",
    "last_name",
    "image_url",
    "email_addresses",
    "email_address",
    "primary_email_address_id",
    "name",
    "slug",
    "organization",
    "public_user_data",
    "user_id",
    "identifier",
    "role",
];
const STRINGS: [&str; 16] = [
    "user_h1",
    "org_h1",
    "orgmem_h1",
    "idn_h1",
    "user_",
    "user_a b",
    "user_é",
    "ada@example.com",
    "org:admin",
    "",
    " ",
    "\u{0}",
    "\u{feff}",
    "1700000000000",
    "null",
    "\u{1F600}",
];
/// Numbers i64, serde_json and PostgreSQL disagree about.
const NUMBERS: [&str; 16] = [
    "0",
    "-1",
    "1700000000000",
    "253402300799999",
    "253402300800000",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1e400",
    "-1e400",
    "1E-400",
    "123456789012345678901234567890",
    "1.5",
    "1700000000000.0",
    "1e200000",
];
/// Escapes in a string literal, valid or not.
const ESCAPES: [&str; 10] =
    ["\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\\"", "\\\\", "\\u00e9", "\\x41", "\u{1}", "plain"];
/// Where edits of the real samples land: the fields the sync reads.
const PATHS: [&str; 16] = [
    "/type",
    "/timestamp",
    "/data",
    "/data/id",
    "/data/updated_at",
    "/data/first_name",
    "/data/email_addresses",
    "/data/email_addresses/1/email_address",
    "/data/primary_email_address_id",
    "/data/name",
    "/data/slug",
    "/data/organization",
    "/data/organization/id",
    "/data/public_user_data/user_id",
    "/data/public_user_data/identifier",
    "/data/role",
];
/// A sample of every handled type, and two the functions ignore.
fn samples() -> Vec<String> {
    handled()
        .into_iter()
        .map(|event_type| format!("{event_type}.json"))
        .chain(["session.created.json".to_string(), "email.created.json".to_string()])
        .collect()
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `len` visible ASCII characters that compression cannot shrink (a
/// TOASTed index entry stays as long), reproducible: a tiny LCG.
fn incompressible(len: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            char::from(b'#' + ((state >> 33) % 57) as u8)
        })
        .collect()
}

/// A JSON string literal, valid or not.
fn string_literal() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(&STRINGS[..]).prop_map(quote),
        2 => "\\PC{0,24}".prop_map(|s| quote(&s)),
        2 => prop::collection::vec(prop::sample::select(&ESCAPES[..]), 1..4).prop_map(|e| format!("\"{}\"", e.concat())),
        // Long ones, compressible or not: an incompressible one past a btree
        // entry (about 2.7 KB) in an indexed column is past a PostgreSQL limit.
        1 => (prop_oneof![Just("x"), Just("é")], 1usize..12_000).prop_map(|(c, len)| quote(&c.repeat(len))),
        1 => (1usize..6_000).prop_map(|len| quote(&incompressible(len))),
    ]
    .boxed()
}

/// JSON text of any shape, with wrong types, odd numbers and nesting up to
/// (and just past) serde_json's 128 levels.
fn json_text() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        prop::sample::select(&NUMBERS[..]).prop_map(str::to_string),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
        string_literal(),
        (120usize..=135, any::<bool>()).prop_map(|(depth, objects)| {
            let (open, close) = if objects { ("{\"a\":", "}") } else { ("[", "]") };
            format!("{}null{}", open.repeat(depth), close.repeat(depth))
        }),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((prop::sample::select(&KEYS[..]), inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", quote(k))).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
    .boxed()
}

/// A real sample with one field the sync reads replaced by arbitrary JSON
/// text (spliced in as text: it may be no valid JSON at all).
fn edited_sample() -> impl Strategy<Value = String> {
    (prop::sample::select(samples()), prop::sample::select(&PATHS[..]), json_text()).prop_map(
        |(name, path, replacement)| {
            let mut value = sample(&name);
            let marker = "\u{1}HOSTILE\u{1}";
            let Some(slot) = value.pointer_mut(path) else { return value.to_string() };
            *slot = Value::String(marker.into());
            value.to_string().replacen(&quote(marker), &replacement, 1)
        },
    )
}

/// An envelope built field by field: handled, ignored or non-string types;
/// odd timestamps; data of the right keys with values of any type.
fn envelope() -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        3 => prop::sample::select(handled()).prop_map(quote),
        1 => prop::sample::select(&OTHER_TYPES[..]).prop_map(quote),
        1 => json_text(),
    ];
    let data = prop_oneof![
        3 => prop::collection::vec((prop::sample::select(&KEYS[..]), json_text()), 0..6).prop_map(|fields| {
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", quote(k))).collect();
            format!("{{{}}}", fields.join(","))
        }),
        1 => json_text(),
    ];
    (ty, prop::option::of(json_text()), prop::option::of(data)).prop_map(|(ty, timestamp, data)| {
        let mut fields = vec![format!("\"type\":{ty}")];
        fields.extend(timestamp.map(|t| format!("\"timestamp\":{t}")));
        fields.extend(data.map(|d| format!("\"data\":{d}")));
        format!("{{{}}}", fields.join(","))
    })
}

/// An edited sample padded with spaces to within two bytes of the size
/// limit, on either side of it.
fn sized_body() -> impl Strategy<Value = Vec<u8>> {
    (edited_sample(), MAX_BODY_BYTES - 2..=MAX_BODY_BYTES + 2).prop_map(|(text, size)| {
        let mut bytes = text.into_bytes();
        if bytes.len() < size {
            bytes.resize(size, b' ');
        }
        bytes
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => sized_body(),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        3 => envelope().prop_map(String::into_bytes),
        3 => edited_sample().prop_map(String::into_bytes),
        1 => (edited_sample(), any::<prop::sample::Index>()).prop_map(|(text, cut)| {
            let mut bytes = text.into_bytes();
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        }),
    ]
}

#[derive(Debug, Clone)]
enum Signing {
    Unsigned,
    /// svix-/webhook- headers with a signature by `form`: 0 and 1 valid, 2
    /// valid among wrong ones (as during a rotation), 3 another version, 4
    /// cut short, 5 made with another secret.
    Signed {
        id: Id,
        skew: i64,
        standard_webhooks: bool,
        first: bool,
        form: u8,
    },
}

#[derive(Debug, Clone)]
enum Id {
    Fresh,
    Repeated(u8),
    Raw(String),
}

#[derive(Debug, Clone)]
struct Hostile {
    method: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    signing: Signing,
    /// `None`: a plain `http::Request`; `Some(flag)`: a Function URL event
    /// with `isBase64Encoded` = flag.
    transport: Option<bool>,
    function: usize,
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "svix-id",
                "svix-timestamp",
                "svix-signature",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "content-type",
                "Svix-Signature",
            ][..]
        )
        .prop_map(str::to_string),
        "[a-z][a-z0-9-]{0,12}",
        "\\PC{1,8}",
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(
            &[
                "msg_2pQm7Xc1",
                "v1,AAAA",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                "-1",
                "1e9",
                " 1700000000",
                ""
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        (-1_000_000i64..1_000_000).prop_map(|skew| (now() + skew).to_string().into_bytes()),
        // Visible ASCII and obs-text: http allows both, and the latter is not UTF-8.
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..40),
    ]
}

fn signing() -> impl Strategy<Value = Signing> {
    let id = prop_oneof![
        4 => Just(Id::Fresh),
        1 => (0u8..3).prop_map(Id::Repeated),
        1 => "\\PC{0,40}".prop_map(Id::Raw),
        1 => "[!-~]{257,300}".prop_map(Id::Raw),
    ];
    let skew = prop_oneof![4 => Just(0i64), 1 => -400i64..400, 1 => any::<i64>()];
    prop_oneof![
        1 => Just(Signing::Unsigned),
        4 => (id, skew, any::<bool>(), any::<bool>(), 0u8..6).prop_map(|(id, skew, standard_webhooks, first, form)| {
            Signing::Signed { id, skew, standard_webhooks, first, form }
        }),
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let method = prop_oneof![
        8 => Just("POST".to_string()),
        1 => prop::sample::select(&["GET", "PUT", "DELETE", "HEAD", "post", "OPTIONS"][..]).prop_map(str::to_string),
        1 => "[A-Z]{1,10}",
    ];
    let transport = prop_oneof![Just(None), Just(Some(false)), Just(Some(true))];
    (method, prop::collection::vec((header_name(), header_value()), 0..5), body(), signing(), transport, 0usize..4)
        .prop_map(|(method, headers, body, signing, transport, function)| Hostile {
            method,
            headers,
            body,
            signing,
            transport,
            function,
        })
}

static MESSAGES: AtomicU64 = AtomicU64::new(0);

/// The request `h` describes, and whether it carries a valid signature made
/// with the configured secret (only then may it pass 401).
fn build(h: &Hostile) -> Option<(Request<Vec<u8>>, bool)> {
    let mut body = h.body.clone();
    if h.transport == Some(false) {
        // A JSON event carries text: what arrives is the UTF-8 form.
        body = String::from_utf8_lossy(&body).into_owned().into_bytes();
    }
    let mut headers = h.headers.clone();
    let mut ours = false;
    if let Signing::Signed { id, skew, standard_webhooks, first, form } = &h.signing {
        let id = match id {
            Id::Fresh => format!("msg_hostile_{}", MESSAGES.fetch_add(1, Ordering::Relaxed)),
            Id::Repeated(n) => format!("msg_hostile_repeated_{n}"),
            Id::Raw(s) => s.clone(),
        };
        let timestamp = now().saturating_add(*skew);
        let secret = if *form == 5 { OTHER_SECRET } else { TEST_SECRET };
        let signature = svix::webhooks::Webhook::new(secret)
            .unwrap()
            .sign(&id, timestamp, &body)
            .unwrap_or_else(|_| "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
        let signature = match form {
            0 | 1 | 5 => signature,
            2 => format!("v1,bm90IGl0 {signature} v2,bm90IGl0"),
            3 => signature.replacen("v1,", "v2,", 1),
            _ => signature[..signature.len() / 2].to_string(),
        };
        ours = std::str::from_utf8(&body).is_ok() && matches!(form, 0..=2);
        let prefix = if *standard_webhooks { "webhook" } else { "svix" };
        let signed = [
            (format!("{prefix}-id"), id.into_bytes()),
            (format!("{prefix}-timestamp"), timestamp.to_string().into_bytes()),
            (format!("{prefix}-signature"), signature.into_bytes()),
        ];
        if *first {
            headers.splice(0..0, signed);
        } else {
            headers.extend(signed);
        }
    }

    let request = match h.transport {
        None => {
            let mut request = Request::new(body);
            *request.method_mut() = Method::from_bytes(h.method.as_bytes()).ok()?;
            for (name, value) in &headers {
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
                {
                    request.headers_mut().append(name, value);
                }
            }
            request
        }
        Some(base64) => {
            // Header values travel as JSON text; AWS joins repeated ones with
            // commas. Only names and values http accepts reach a function.
            let mut joined: Vec<(String, String)> = Vec::new();
            for (name, value) in &headers {
                let name = name.to_ascii_lowercase();
                let value = String::from_utf8_lossy(value).into_owned();
                if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(&value).is_err() {
                    continue;
                }
                match joined.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, existing)) => *existing = format!("{existing},{value}"),
                    None => joined.push((name, value)),
                }
            }
            let mut event: Value = serde_json::from_str(&function_url_event(&h.method, "", &joined, false)).unwrap();
            event["body"] =
                json!(if base64 { BASE64.encode(&body) } else { String::from_utf8_lossy(&body).into_owned() });
            event["isBase64Encoded"] = json!(base64);
            let request = lambda_http::request::from_str(&event.to_string()).ok()?;
            assert_eq!(request.body().as_ref(), &body[..], "lambda_http changed the body");
            let (parts, body) = request.into_parts();
            Request::from_parts(parts, body.to_vec())
        }
    };
    Some((request, ours))
}

/// Rows in every table a webhook writes.
async fn written(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT (SELECT count(*) FROM clerk_webhook_events) + (SELECT count(*) FROM users)
                  + (SELECT count(*) FROM organization) + (SELECT count(*) FROM user_organizations)",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

const OUTCOMES: [&str; 5] = ["processed", "duplicate", "ignored", "stale", "failed"];

/// Checks one answer against the README's tables; returns its JSON body.
fn check_answer(response: &Response<String>, db: &TestDb) -> Result<Value, TestCaseError> {
    let status = response.status().as_u16();
    let text = response.body();
    prop_assert!(matches!(status, 200 | 400 | 401 | 405 | 413 | 503), "undocumented status {status}: {text}");
    prop_assert_eq!(response.headers().get(http::header::CONTENT_TYPE).unwrap(), "application/json");
    let body: Value = serde_json::from_str(text).map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
    let object = body.as_object().ok_or_else(|| TestCaseError::fail(format!("not an object: {text}")))?;

    // An accepted answer echoes the (authentic) id and type, which the
    // generator chose: only its reason is the function's own text.
    let own = if status == 200 { object.get("reason").and_then(Value::as_str).unwrap_or("") } else { text.as_str() };
    let secret_key = TEST_SECRET.trim_start_matches("whsec_");
    for leak in [secret_key, &db.url, &db.name, "postgres", "panicked", "/src/", "tokio", "relation"] {
        prop_assert!(!own.contains(leak), "the answer carries {leak:?}: {text}");
    }

    if status == 200 {
        for key in object.keys() {
            prop_assert!(matches!(key.as_str(), "status" | "svix_id" | "event_type" | "reason"), "{text}");
        }
        let outcome = object.get("status").and_then(Value::as_str).unwrap_or("");
        prop_assert!(OUTCOMES.contains(&outcome), "undocumented outcome: {text}");
        prop_assert!(object.get("svix_id").and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "{text}");
        prop_assert!(object.get("event_type").is_some_and(Value::is_string), "{text}");
        prop_assert_eq!(object.get("reason").is_some_and(Value::is_string), outcome == "failed", "{}", text);
    } else {
        prop_assert_eq!(object.len(), 2, "errors are {{error, message}}: {}", text);
        let code = object.get("error").and_then(Value::as_str).unwrap_or("");
        prop_assert!(object.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "{text}");
        let codes: &[&str] = match status {
            405 => &["method_not_allowed"],
            413 => &["payload_too_large"],
            401 => &["missing_signature_headers", "timestamp_out_of_tolerance", "invalid_signature"],
            400 => &["invalid_payload"],
            _ => &["database_unavailable"],
        };
        prop_assert!(codes.contains(&code), "{status} with {code}: {text}");
        if status == 405 {
            prop_assert_eq!(response.headers().get(http::header::ALLOW).unwrap(), "POST");
        }
    }
    Ok(body)
}

/// The functions a hostile request may go to, by `Hostile::function`.
const FAMILIES: [Family; 4] = [Family::Users, Family::Organizations, Family::Memberships, Family::All];

/// One database and one runtime for the whole run; the functions of each
/// family (and the catch-all) over it.
struct Bench {
    runtime: tokio::runtime::Runtime,
    db: TestDb,
    client: tokio_postgres::Client,
    functions: Vec<WebhookState>,
}

impl Bench {
    fn spawn() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (db, client) = runtime.block_on(async {
            let db = TestDb::spawn().await;
            let client = db.connect().await;
            (db, client)
        });
        let functions = FAMILIES
            .into_iter()
            .map(|family| webhook_state(family, &db.url, vec![("WEBHOOK_MAX_BODY_BYTES", MAX_BODY_BYTES.to_string())]))
            .collect();
        Self { runtime, db, client, functions }
    }

    /// Sends `h`, checks the answer and what it wrote.
    fn run(&self, h: &Hostile) -> Result<(), TestCaseError> {
        let Some((request, ours)) = build(h) else { return Ok(()) };
        let refused_early = if h.method != "POST" {
            Some(405)
        } else if request.body().len() > MAX_BODY_BYTES {
            Some(413)
        } else {
            None
        };
        self.runtime.block_on(async {
            let before = written(&self.client).await;
            let response = clerk_sync::handle(&self.functions[h.function], request).await;
            let after = written(&self.client).await;
            let status = response.status().as_u16();
            let body = check_answer(&response, &self.db)?;
            if let Some(early) = refused_early {
                prop_assert_eq!(status, early, "{}", response.body());
            }
            if !ours {
                prop_assert!(
                    matches!(status, 401 | 405 | 413),
                    "unsigned request passed: {status} {}",
                    response.body()
                );
            }
            // A working database: no delivery is ever told to retry, not even
            // one past a PostgreSQL limit (see the regression tests below).
            prop_assert!(status != 503, "answered 503 on a working database: {}", response.body());
            if status == 200 {
                let svix_id = body["svix_id"].as_str().unwrap_or_default();
                // Recorded once for the family that applies it (or, where the
                // function ignores it, the function's own).
                let family = match FAMILIES[h.function] {
                    Family::All => {
                        Family::handling(body["event_type"].as_str().unwrap_or_default()).unwrap_or(Family::All)
                    }
                    family => family,
                };
                let recorded = self
                    .client
                    .query_one(
                        "SELECT count(*) FROM clerk_webhook_events WHERE svix_id = $1 AND family = $2",
                        &[&svix_id, &family.name()],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0);
                prop_assert_eq!(recorded, 1, "accepted but not recorded: {}", response.body());
            } else {
                prop_assert_eq!(before, after, "a refused request wrote rows: {}", response.body());
            }
            Ok(())
        })
    }
}

/// Delivers authentic edits of samples (JSON text spliced in at a JSON
/// pointer) and lists every one not answered as the properties above require.
fn expect_documented_answers(cases: &[(&str, &str, String)]) {
    let bench = Bench::spawn();
    let mut faults = Vec::new();
    for (name, path, text) in cases {
        let mut payload = sample(name);
        let marker = "\u{1}EDIT\u{1}";
        *payload.pointer_mut(path).unwrap() = Value::String(marker.into());
        let delivery = Hostile {
            method: "POST".into(),
            headers: vec![],
            body: payload.to_string().replacen(&quote(marker), text, 1).into_bytes(),
            signing: Signing::Signed { id: Id::Fresh, skew: 0, standard_webhooks: false, first: true, form: 0 },
            transport: None,
            function: 3,
        };
        if let Err(e) = bench.run(&delivery) {
            faults.push(format!("{name} {path}: {e}"));
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

/// Regression (these once answered 503; fuzz/README.md, Findings 1): values
/// past a PostgreSQL limit are recorded (as failed where the data cannot be
/// applied), never answered 503 for Svix to retry for days:
/// - a value longer than a btree index entry holds (about 2.7 KB once
///   compressed) in an indexed column: any event's `data.id` (stored as
///   `clerk_object_id`), a user's primary email, an organization's slug
///   (SQLSTATE 54000, program_limit_exceeded);
/// - `data` nested deeper than the jsonb parser's stack allows (SQLSTATE
///   54001, statement_too_complex): serde_json keeps `data` raw, so its
///   128-level limit does not apply there.
#[test]
fn values_past_postgres_limits_are_recorded_not_retried() {
    let long = quote(&incompressible(3000));
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    expect_documented_answers(&[
        ("session.created.json", "/data/id", long.clone()),
        ("user.created.json", "/data/id", long.clone()),
        ("user.created.json", "/data/email_addresses/1/email_address", long.clone()),
        ("organization.created.json", "/data/slug", long),
        ("session.created.json", "/data", deep.clone()),
        ("user.created.json", "/data/first_name", deep),
    ]);
}

/// Regression (these once answered 503; fuzz/README.md, Findings 1): a
/// `\u0000` in the event type or in `data.id` would reach the text columns
/// PostgreSQL refuses it in (SQLSTATE 22021): such a type is refused as
/// invalid (400) and such an id is left out of `clerk_object_id` (the
/// payload keeps it), never answered 503.
#[test]
fn nul_in_type_or_object_id_is_recorded_not_retried() {
    expect_documented_answers(&[
        ("user.created.json", "/type", quote("user.created\u{0}")),
        ("session.created.json", "/type", quote("session.\u{0}")),
        ("user.created.json", "/data/id", quote("user_\u{0}")),
        ("session.created.json", "/data/id", quote("sess_\u{0}")),
    ]);
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() })
}

#[test]
fn hostile_requests_get_only_documented_answers() {
    let bench = Bench::spawn();
    if let Err(e) = runner(600).run(&hostile(), |h| bench.run(&h)) {
        panic!("{e}");
    }
}

/// Authentic deliveries only, of every shape: each is recorded (200) or
/// refused as invalid (400), and never left for Svix to retry forever.
#[test]
fn authentic_payloads_of_any_shape_are_recorded_or_refused() {
    let bench = Bench::spawn();
    let authentic = (body(), 0usize..4, any::<bool>()).prop_map(|(body, function, base64)| Hostile {
        method: "POST".into(),
        headers: vec![],
        body,
        signing: Signing::Signed { id: Id::Fresh, skew: 0, standard_webhooks: false, first: true, form: 0 },
        transport: Some(base64),
        function,
    });
    if let Err(e) = runner(400).run(&authentic, |h| bench.run(&h)) {
        panic!("{e}");
    }
}

const VAULT_SECRET: &str = "hostile-k1-secret-0123456789abcdefghijklm";
const VAULT_CONTEXT: &str = "seller_accounts:8f2b0a6e-3c1d-4e5f-9a7b-0c1d2e3f4a5b:lwa_refresh_token";

/// Field-level edits of a real envelope (the byte-level ones are in
/// `vault.rs`): another well-formed value of the right length, the field of
/// another envelope, a non-canonical spelling. None may decrypt; none may
/// make the vault derive a key (iteration and salt edits must not parse, or
/// must name parameters already derived).
#[test]
fn edited_envelope_fields_never_decrypt() {
    let vault = Vault::from_source(&Vars(vec![("ENCRYPTION_KEYS", format!("k1:{VAULT_SECRET}"))])).unwrap();
    let a = vault.encrypt_str("Atzr|IwEBIA-hostile-a", VAULT_CONTEXT).unwrap().into_string();
    let b = vault.encrypt_str("Atzr|IwEBIA-hostile-b", VAULT_CONTEXT).unwrap().into_string();
    let fields = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
    let (fa, fb) = (fields(&a), fields(&b));
    let edit = prop_oneof![
        // Right length, wrong bytes.
        (3usize..6, prop::collection::vec(any::<u8>(), 16..48)).prop_map(|(i, bytes)| (i, B64URL.encode(bytes))),
        (3usize..6, prop::collection::vec(any::<u8>(), 12..=12)).prop_map(|(i, bytes)| (i, B64URL.encode(bytes))),
        // Spliced from the other envelope (same key and salt).
        (4usize..6).prop_map(move |i| (i, fb[i].clone())),
        // Padded, standard alphabet, whitespace, signs and zeros.
        (3usize..6, prop::sample::select(&["=", "==", " ", "\n", "+", "/"][..])).prop_map({
            let fa = fa.clone();
            move |(i, extra)| (i, format!("{}{extra}", fa[i]))
        }),
        (0usize..3, "[-+0-9a-zA-Z_ ]{0,12}").prop_map(|(i, s)| (i, s)),
        Just((2, "0600000".to_string())),
        Just((2, "+600000".to_string())),
        Just((2, "600000 ".to_string())),
    ];
    let (vault, b) = (&vault, &b);
    let result = runner(256).run(&prop::collection::vec(edit, 1..3), |edits| {
        let mut f = fields(&a);
        for (i, value) in &edits {
            f[*i] = value.clone();
        }
        let text = f.join(".");
        if let Ok(ct) = Ciphertext::parse(&text) {
            prop_assert_eq!(ct.as_str(), text.as_str());
            // Only parameters already derived reach AES: no forged
            // envelope buys a key derivation here.
            if ct.key_id() == "k1" && text.starts_with(&fa[..4].join(".")) {
                let opened = vault.decrypt(&ct, VAULT_CONTEXT).map(|p| p.expose_secret().to_vec());
                // Splicing both nonce and ciphertext of `b` in rebuilds `b`, which rightly opens.
                prop_assert!(opened.is_err() || text == a || text == *b, "an edited envelope decrypted: {text}");
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(vault.derived_key_count(), 1, "edits made the vault derive keys");
}

/// Edited real tokens and forgeries never verify; the untouched token does.
#[test]
fn edited_session_tokens_never_verify() {
    let verifier = SessionVerifier::from_source(&Vars(session::pem_settings())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let original = session::token("user_2pQm7Xc1KbN4dRt8Zf3LwYhVaEs", Some(("org_2qA8sLk3", "org:admin")));
    assert!(runtime.block_on(verifier.verify(&original)).is_ok());
    let segments: Vec<String> = original.split('.').map(str::to_string).collect();
    let claims: Value = serde_json::from_slice(&B64URL.decode(&segments[1]).unwrap()).unwrap();

    let edit = prop_oneof![
        // A character changed, removed or added anywhere.
        (any::<prop::sample::Index>(), any::<char>(), 0u8..3).prop_map(|(at, c, op)| Edit::Char(at, c, op)),
        // One claim set to another JSON value, the signature kept.
        (prop::sample::select(&["sub", "exp", "nbf", "iss", "azp", "org_id", "org_role", "sid", "o"][..]), json_text())
            .prop_map(|(k, v)| Edit::Claim(k, v)),
        // Another header: alg none, HS256, another kid, junk.
        json_text().prop_map(Edit::Header),
        prop::sample::select(&[r#"{"alg":"none"}"#, r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"alg":"RS512"}"#][..])
            .prop_map(|h| Edit::Header(h.to_string())),
        (0usize..3, "[A-Za-z0-9_=+/.-]{0,40}").prop_map(|(i, s)| Edit::Segment(i, s)),
    ];
    let result = runner(256).run(&prop::collection::vec(edit, 1..3), |edits| {
        let mut token = original.clone();
        for edit in &edits {
            token = edit.apply(&token, &claims);
        }
        let verified = runtime.block_on(verifier.verify(&token));
        prop_assert!(token == original || verified.is_err(), "an edited token verified: {token}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Char(prop::sample::Index, char, u8),
    Claim(&'static str, String),
    Header(String),
    Segment(usize, String),
}

impl Edit {
    fn apply(&self, token: &str, claims: &Value) -> String {
        let mut segments: Vec<String> = token.split('.').map(str::to_string).collect();
        match self {
            Edit::Char(at, c, op) => {
                let mut chars: Vec<char> = token.chars().collect();
                let i = at.index(chars.len());
                match op {
                    0 => chars[i] = *c,
                    1 => {
                        chars.remove(i);
                    }
                    _ => chars.insert(i, *c),
                }
                return chars.into_iter().collect();
            }
            Edit::Claim(key, value) => {
                let mut edited = claims.clone();
                edited[*key] = Value::String("\u{1}MARK\u{1}".into());
                let text = edited.to_string().replacen(&quote("\u{1}MARK\u{1}"), value, 1);
                if segments.len() > 1 {
                    segments[1] = B64URL.encode(text);
                }
            }
            Edit::Header(header) => segments[0] = B64URL.encode(header),
            Edit::Segment(i, s) => {
                let i = i % segments.len();
                segments[i] = s.clone();
            }
        }
        segments.join(".")
    }
}
