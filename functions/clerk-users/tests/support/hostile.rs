//! Runs a function binary against the fake Lambda Runtime API and feeds it
//! events `lambda_http` 1.3 would panic on converting, each followed by a
//! normal one: every hostile event must be answered `400 malformed_request`
//! and the same process must answer the next event. Shared by the
//! `hostile_events` tests of clerk-users and sync-status (`#[path]`).

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use clerk_sync_bench::runtime_api::{FakeRuntimeApi, Mark};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// A Function URL (payload 2.0) event.
pub fn event(method: &str, path: &str, headers: Value) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "hostile", "domainName": "hostile.lambda-url.us-east-1.on.aws",
            "domainPrefix": "hostile",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "hostile", "routeKey": "$default", "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 1_795_000_000_000_i64
        },
        "body": "{}",
        "isBase64Encoded": false
    })
}

/// Each event `lambda_http` panics on, built from `normal`, with its name.
pub fn hostile(normal: &Value) -> Vec<(&'static str, Value)> {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut e = normal.clone();
        f(&mut e);
        e
    };
    vec![
        (
            "body marked base64 that is not",
            with(&|e| {
                e["isBase64Encoded"] = json!(true);
                e["body"] = json!("this is not base64!");
            }),
        ),
        ("space in the query", with(&|e| e["rawQueryString"] = json!("a=b c"))),
        ("quote in the query", with(&|e| e["rawQueryString"] = json!("a=\"b\""))),
        ("angle brackets in the query", with(&|e| e["rawQueryString"] = json!("a=<script>"))),
        ("control character in the query", with(&|e| e["rawQueryString"] = json!("a=\u{1}"))),
        ("unparsable host", with(&|e| e["headers"]["host"] = json!("bad host"))),
        ("host with a port out of range", with(&|e| e["headers"]["host"] = json!("example.com:99999"))),
        ("unparsable x-forwarded-proto", with(&|e| e["headers"]["x-forwarded-proto"] = json!("1nvalid"))),
        ("path that is not absolute", with(&|e| e["rawPath"] = json!(":99999"))),
    ]
}

/// The function, killed when dropped.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next answer (`Response` or `Error`), skipping polls.
fn answer(api: &FakeRuntimeApi, function: &mut Function, what: &str) -> Value {
    loop {
        match api.next_mark(WAIT) {
            Some(Mark::Poll(_)) => continue,
            Some(Mark::Response { body, .. }) => return serde_json::from_slice(&body).expect("a JSON answer"),
            Some(Mark::Error { body, .. }) => {
                panic!("{what}: posted to the error endpoint: {}", String::from_utf8_lossy(&body))
            }
            Some(Mark::InitError { body, .. }) => panic!("init failed: {}", String::from_utf8_lossy(&body)),
            None => panic!("{what}: no answer within {WAIT:?}; process exited: {:?}", function.0.try_wait()),
        }
    }
}

/// Runs `binary` with `env` and checks every hostile event against it; `normal`
/// must get an answer other than `malformed_request`.
///
/// `HOSTILE_EVENTS_BIN_DIR` runs the binary of that directory instead (e.g.
/// `target/release`, built with the release profile's `panic = "abort"`).
pub fn assert_survives(binary: &str, name: &str, env: &[(&str, String)], normal: Value) {
    let binary = match std::env::var_os("HOSTILE_EVENTS_BIN_DIR") {
        Some(dir) => std::path::Path::new(&dir).join(name).to_string_lossy().into_owned(),
        None => binary.to_string(),
    };
    let binary = binary.as_str();
    let api = FakeRuntimeApi::start().expect("fake Runtime API");
    let child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.host_port())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]hostile")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    let mut function = Function(child);
    let pid = function.0.id();

    let answered = |function: &mut Function, event: &Value, what: &str| {
        api.push(event.to_string());
        let answer = answer(&api, function, what);
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        assert!(function.0.try_wait().expect("wait").is_none(), "{what}: the process exited");
        assert_eq!(function.0.id(), pid, "{what}: the same process");
        (answer["statusCode"].as_u64(), body)
    };

    let (_, body) = answered(&mut function, &normal, "the first normal event");
    assert_ne!(body["error"], "malformed_request", "a normal event is handled: {body}");
    for (what, event) in hostile(&normal) {
        let (status, body) = answered(&mut function, &event, what);
        assert_eq!(status, Some(400), "{what}: {body}");
        assert_eq!(body["error"], "malformed_request", "{what}: {body}");
        assert!(body["message"].is_string(), "{what}: the one error shape: {body}");
        let (_, body) = answered(&mut function, &normal, &format!("the normal event after {what}"));
        assert_ne!(body["error"], "malformed_request", "after {what}: {body}");
    }
}
