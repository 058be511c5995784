//! A function binary started against a tiny fake Lambda Runtime API, to see
//! how its cold start ends: what it posts to `/runtime/init/error`, its exit
//! status and standard error.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

/// One request the function made.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How the start ended.
#[derive(Debug)]
pub struct Start {
    /// Every request, in order (a function that started would long-poll `invocation/next`).
    pub requests: Vec<Received>,
    /// `None` when the process was still running after the deadline (then killed).
    pub status: Option<ExitStatus>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Start {
    pub fn init_error(&self) -> Option<&Received> {
        self.requests.iter().find(|r| r.method == "POST" && r.path == "/2018-06-01/runtime/init/error")
    }
}

/// Runs `binary` with only `env` (plus `PATH` and `AWS_LAMBDA_RUNTIME_API`
/// pointing at the fake) and waits at most `deadline` for it to exit.
pub fn start(binary: &str, env: &[(&str, &str)], deadline: Duration) -> Start {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Runtime API");
    let addr = listener.local_addr().expect("bound");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let tx = tx.clone();
            thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone stream");
                let mut reader = BufReader::new(stream);
                while let Some(request) = read_request(&mut reader) {
                    // `invocation/next` long-polls: never answered, as with no event queued.
                    let poll = request.path.ends_with("/invocation/next");
                    let _ = tx.send(request);
                    if poll {
                        thread::sleep(Duration::from_secs(3600));
                        return;
                    }
                    let answer =
                        "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    // Requests are recorded before they are answered: all have arrived by now.
    let requests = rx.try_iter().collect();
    Start { requests, status, stderr, elapsed }
}

fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, path, headers, body })
}

/// Asserts that `binary`, started without the setting `missing` (and with
/// `env`), reports an init error naming it to the Runtime API, prints it
/// with `Display` and exits non-zero, all within a few seconds.
pub fn assert_reports_init_error(binary: &str, env: &[(&str, &str)], missing: &str) {
    let start = start(binary, env, Duration::from_secs(20));
    let status = start.status.unwrap_or_else(|| panic!("still running after 20 s: {start:?}"));
    assert!(!status.success(), "exits non-zero: {start:?}");
    assert!(start.elapsed < Duration::from_secs(10), "fails at once: {start:?}");
    let report = start.init_error().unwrap_or_else(|| panic!("no POST to /runtime/init/error: {start:?}"));
    assert_eq!(report.header("lambda-runtime-function-error-type"), Some("Runtime.InitError"), "{report:?}");
    let body = report.json();
    let message = body["errorMessage"].as_str().unwrap_or_else(|| panic!("no errorMessage: {body}"));
    assert!(message.contains(missing), "the message names {missing}: {message}");
    assert_eq!(body["errorType"], "Runtime.InitError", "{body}");
    // Display, not a debug struct such as `Missing { var: "…", hint: "…" }`.
    assert!(start.stderr.contains(message), "stderr carries the message: {}", start.stderr);
    assert!(!start.stderr.contains("{ var:") && !start.stderr.contains("Missing {"), "{}", start.stderr);
}
