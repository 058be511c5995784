//! `clerk_sync::http::event::check` against `lambda_http` 1.3's own
//! conversion: every event it lets through converts without a panic, the
//! events Lambda sends (the samples under `events/`) pass, and the known
//! hostile ones, which do panic `lambda_http`, are refused. The functions'
//! binaries are run with such events in functions/{clerk-users,sync-status}/tests/hostile_events.rs.

use std::panic::{catch_unwind, AssertUnwindSafe};

use clerk_sync::http::event::{check, MalformedEvent};
use lambda_http::{request::LambdaRequest, Request};
use proptest::prelude::*;
use serde_json::{json, Value};

fn parse(event: &Value) -> LambdaRequest {
    serde_json::from_value(event.clone()).expect("an HTTP event")
}

/// Whether `lambda_http` panics turning `event` into a request.
fn panics(event: LambdaRequest) -> bool {
    catch_unwind(AssertUnwindSafe(|| drop(Request::from(event)))).is_err()
}

fn normal() -> Value {
    serde_json::from_str(&clerk_sync_tests::function_url_event("POST", "{}", &[], false)).expect("JSON")
}

fn with(f: impl Fn(&mut Value)) -> Value {
    let mut e = normal();
    f(&mut e);
    e
}

#[test]
fn known_hostile_events_panic_lambda_http_and_are_refused() {
    let cases = [
        (
            "base64",
            with(|e| {
                e["isBase64Encoded"] = json!(true);
                e["body"] = json!("this is not base64!");
            }),
            MalformedEvent::Base64Body,
        ),
        ("space", with(|e| e["rawQueryString"] = json!("a=b c")), MalformedEvent::Query),
        ("quote", with(|e| e["rawQueryString"] = json!("a=\"b\"")), MalformedEvent::Query),
        ("angle", with(|e| e["rawQueryString"] = json!("a=<b>")), MalformedEvent::Query),
        ("control", with(|e| e["rawQueryString"] = json!("a=\u{1}")), MalformedEvent::Query),
        ("host", with(|e| e["headers"]["host"] = json!("bad host")), MalformedEvent::Host),
        ("port", with(|e| e["headers"]["host"] = json!("example.com:99999")), MalformedEvent::Host),
        ("proto", with(|e| e["headers"]["x-forwarded-proto"] = json!("1nvalid")), MalformedEvent::Scheme),
        ("path", with(|e| e["rawPath"] = json!(":99999")), MalformedEvent::Path),
        ("long", with(|e| e["rawQueryString"] = json!("a".repeat(70_000))), MalformedEvent::TooLong),
    ];
    for (what, event, reason) in cases {
        assert!(panics(parse(&event)), "{what}: lambda_http panics on it");
        assert_eq!(check(&parse(&event)), Err(reason), "{what}");
    }
}

#[test]
fn the_events_lambda_sends_pass() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("events/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
            assert_eq!(check(&parse(&event)), Ok(()), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen > 0);
    let rest: Value = serde_json::from_str(&clerk_sync_tests::rest_api_event("{}", &[], true)).expect("JSON");
    assert_eq!(check(&parse(&rest)), Ok(()));
    let base64 = with(|e| {
        e["isBase64Encoded"] = json!(true);
        e["body"] = json!("e30=");
        e["rawQueryString"] = json!("a=1&b=%20x");
        e["headers"]["host"] = json!("abc.lambda-url.us-east-1.on.aws");
        e["headers"]["x-forwarded-proto"] = json!("https");
    });
    assert_eq!(check(&parse(&base64)), Ok(()));
}

fn field() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[a-zA-Z0-9.:/?#@%\\[\\]\\\\ \"<>{}|^`'é\u{1}\u{7f}+=&-]{0,16}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// What `check` lets through, `lambda_http` converts without a panic.
    #[test]
    fn what_passes_never_panics(
        rest in any::<bool>(),
        host in field(),
        proto in field(),
        path in field(),
        query in field(),
        domain in field(),
        stage in prop::option::of(prop_oneof![Just("$default".to_string()), "[a-z:/ %]{0,6}"]),
        base64 in any::<bool>(),
        body in prop::option::of("[A-Za-z0-9+/=!]{0,12}"),
    ) {
        let mut event = if rest {
            serde_json::from_str(&clerk_sync_tests::rest_api_event("{}", &[], false)).expect("JSON")
        } else {
            normal()
        };
        if let Some(host) = host { event["headers"]["host"] = json!(host); }
        if let Some(proto) = proto { event["headers"]["x-forwarded-proto"] = json!(proto); }
        if let Some(path) = path { event[if rest { "path" } else { "rawPath" }] = json!(path); }
        if let Some(query) = query {
            if rest {
                event["queryStringParameters"] = json!({ "q": query });
            } else {
                event["rawQueryString"] = json!(query);
            }
        }
        event["requestContext"]["domainName"] = json!(domain);
        event["requestContext"]["stage"] = json!(stage);
        event["isBase64Encoded"] = json!(base64);
        event["body"] = json!(body);
        // Header values a HeaderMap refuses fail deserialization: an error, not a panic.
        let Ok(request) = serde_json::from_value::<LambdaRequest>(event.clone()) else { return Ok(()) };
        if check(&request).is_ok() {
            prop_assert!(!panics(request), "passed the check but panics lambda_http: {}", event);
        }
    }
}
