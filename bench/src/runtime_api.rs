//! A minimal fake of the Lambda Runtime API (HTTP/1.1 on 127.0.0.1), enough
//! for lambda_runtime: `GET /2018-06-01/runtime/invocation/next` long-polls
//! for the next queued event, `POST …/{id}/response` and `…/{id}/error`
//! take the answer, `POST …/runtime/init/error` a failed start.
//!
//! Blocking threads, one per connection, so each request is stamped with
//! `Instant::now()` the moment its head is read: the driver compares those
//! stamps with the instant it spawned the function's process.

use std::{
    collections::VecDeque,
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc, Condvar, Mutex,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// What the function did, in order, with when the request arrived.
#[derive(Debug)]
pub enum Mark {
    /// `GET …/invocation/next`.
    Poll(Instant),
    /// `POST …/invocation/{id}/response`.
    Response { at: Instant, request_id: String, body: Vec<u8> },
    /// `POST …/invocation/{id}/error`.
    Error { at: Instant, request_id: String, body: Vec<u8> },
    /// `POST …/runtime/init/error`.
    InitError { at: Instant, body: Vec<u8> },
}

struct Shared {
    queue: Mutex<VecDeque<String>>,
    ready: Condvar,
    stop: AtomicBool,
    next_id: AtomicU64,
    marks: Mutex<mpsc::Sender<Mark>>,
}

pub struct FakeRuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    marks: mpsc::Receiver<Mark>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeRuntimeApi {
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, marks) = mpsc::channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            marks: Mutex::new(tx),
        });
        let acceptor = {
            let shared = shared.clone();
            thread::Builder::new().name("fake-runtime-api".into()).spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    let _ = thread::Builder::new().name("fake-runtime-conn".into()).spawn(move || {
                        // A connection ends when the function exits; nothing to report.
                        let _ = serve(stream, &shared);
                    });
                }
            })?
        };
        Ok(Self { addr, shared, marks, acceptor: Some(acceptor) })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event (its JSON text) for the next poll.
    pub fn push(&self, event: String) {
        self.shared.queue.lock().expect("queue lock").push_back(event);
        self.shared.ready.notify_all();
    }

    /// The next thing the function did, or `None` after `timeout`.
    pub fn next_mark(&self, timeout: Duration) -> Option<Mark> {
        self.marks.recv_timeout(timeout).ok()
    }
}

impl Drop for FakeRuntimeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.ready.notify_all();
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let Some((method, path, at, body)) = read_request(&mut reader)? else { return Ok(()) };
        let mark = |m: Mark| {
            let _ = shared.marks.lock().expect("marks lock").send(m);
        };
        const PREFIX: &str = "/2018-06-01/runtime/";
        let route = path.strip_prefix(PREFIX).unwrap_or("");
        match (method.as_str(), route) {
            ("GET", "invocation/next") => {
                mark(Mark::Poll(at));
                let Some(event) = wait_for_event(shared) else { return Ok(()) };
                let id = format!("bench-{:08}", shared.next_id.fetch_add(1, Ordering::SeqCst));
                let deadline =
                    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(900);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {id}\r\n\
                     lambda-runtime-deadline-ms: {}\r\n\
                     lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                     lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                     content-length: {}\r\n\r\n",
                    deadline.as_millis(),
                    event.len()
                );
                writer.write_all(head.as_bytes())?;
                writer.write_all(event.as_bytes())?;
            }
            ("POST", "init/error") => {
                mark(Mark::InitError { at, body });
                accepted(&mut writer)?;
            }
            ("POST", route) if route.starts_with("invocation/") => {
                let mut parts = route.trim_start_matches("invocation/").splitn(2, '/');
                let request_id = parts.next().unwrap_or_default().to_string();
                match parts.next() {
                    Some("response") => mark(Mark::Response { at, request_id, body }),
                    _ => mark(Mark::Error { at, request_id, body }),
                }
                accepted(&mut writer)?;
            }
            _ => writer.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")?,
        }
        writer.flush()?;
    }
}

fn accepted(writer: &mut TcpStream) -> io::Result<()> {
    const BODY: &str = r#"{"status":"OK"}"#;
    let head =
        format!("HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", BODY.len());
    writer.write_all(head.as_bytes())?;
    writer.write_all(BODY.as_bytes())
}

fn wait_for_event(shared: &Shared) -> Option<String> {
    let mut queue = shared.queue.lock().expect("queue lock");
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(event) = queue.pop_front() {
            return Some(event);
        }
        // Woken by push or by drop; the timeout only bounds a missed wake-up.
        queue = shared.ready.wait_timeout(queue, Duration::from_millis(100)).expect("queue lock").0;
    }
}

type Request = (String, String, Instant, Vec<u8>);

/// One request: method, path, when its head was read, body (Content-Length
/// or chunked). `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default().to_string(), words.next().unwrap_or_default().to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().map_err(|_| io::Error::other("bad content-length"))?;
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let at = Instant::now();
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some((method, path, at, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(stream: &mut TcpStream, request: &str) -> String {
        stream.write_all(request.as_bytes()).expect("write");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        head + &String::from_utf8(body).expect("utf-8")
    }

    #[test]
    fn serves_an_invocation_and_takes_its_answer() {
        let api = FakeRuntimeApi::start().expect("starts");
        api.push("{\"hello\":1}".into());
        let mut conn = TcpStream::connect(api.host_port()).expect("connect");
        let next = exchange(&mut conn, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n");
        assert!(next.contains("lambda-runtime-aws-request-id: bench-00000001"), "{next}");
        assert!(next.ends_with("{\"hello\":1}"), "{next}");
        assert!(matches!(api.next_mark(Duration::from_secs(5)), Some(Mark::Poll(_))));
        let answer = exchange(
            &mut conn,
            "POST /2018-06-01/runtime/invocation/bench-00000001/response HTTP/1.1\r\nhost: x\r\n\
             transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        match api.next_mark(Duration::from_secs(5)) {
            Some(Mark::Response { request_id, body, .. }) => {
                assert_eq!((request_id.as_str(), body.as_slice()), ("bench-00000001", b"abcde".as_slice()))
            }
            other => panic!("{other:?}"),
        }
    }
}
