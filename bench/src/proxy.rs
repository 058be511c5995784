//! A TCP proxy that delays each direction by a fixed time, to stand in for
//! the network hop to RDS (netem is not available on these machines).
//!
//! tokio's timer is 1 ms-granular, far too coarse for a 0.25 ms delay, so
//! every direction of every connection gets two OS threads: a reader that
//! stamps each chunk with its delivery deadline, and a writer that waits for
//! that deadline (sleep, then a short spin) before forwarding it. One FIFO
//! channel per direction keeps the byte order.
//!
//! It also counts request/response turns: a turn starts each time the client
//! sends after the server last spoke. A statement answered in one round trip
//! is one turn; a pipelined batch sent in one flight is one turn too.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering},
        mpsc, Arc,
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// How long before a deadline the writer stops sleeping and spins: Linux's
/// default timer slack is 50 µs, and waking a thread takes some more.
const SPIN: Duration = Duration::from_micros(150);

const CLIENT_SPOKE: u8 = 1;
const SERVER_SPOKE: u8 = 2;

pub struct DelayProxy {
    addr: SocketAddr,
    turns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `upstream`, each direction delayed by `delay`.
    pub fn start(upstream: SocketAddr, delay: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let turns = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (turns, stop) = (turns.clone(), stop.clone());
            thread::Builder::new().name("delay-proxy".into()).spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if let Err(e) = connect(client, upstream, delay, turns.clone()) {
                        eprintln!("delay proxy: cannot reach {upstream}: {e}");
                    }
                }
            })?
        };
        Ok(Self { addr, turns, stop, acceptor: Some(acceptor) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Client-to-server turns so far, over all connections.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag. Live
        // connections end on their own when either side closes.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn connect(client: TcpStream, upstream: SocketAddr, delay: Duration, turns: Arc<AtomicU64>) -> io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let last = Arc::new(AtomicU8::new(SERVER_SPOKE));
    let on_client = {
        let last = last.clone();
        move || {
            if last.swap(CLIENT_SPOKE, Ordering::SeqCst) != CLIENT_SPOKE {
                turns.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let on_server = move || last.store(SERVER_SPOKE, Ordering::SeqCst);
    pipe(client.try_clone()?, server.try_clone()?, delay, on_client)?;
    pipe(server, client, delay, on_server)?;
    Ok(())
}

/// Forwards `from` to `to`, each chunk `delay` after it was read.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Duration,
    on_read: impl Fn() + Send + 'static,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::Builder::new().name("delay-proxy-read".into()).spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    on_read();
                    if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping tx tells the writer to pass the end of stream on.
    })?;
    thread::Builder::new().name("delay-proxy-write".into()).spawn(move || {
        while let Ok((deadline, chunk)) = rx.recv() {
            wait_until(deadline);
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    })?;
    Ok(())
}

/// Sleeps to just before `deadline`, then spins to it.
pub fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server; every connection answers what it receives.
    fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut writer = stream.try_clone().expect("clone");
                    let _ = io::copy(&mut stream, &mut writer);
                });
            }
        });
        addr
    }

    #[test]
    fn delays_both_directions_keeps_order_and_counts_turns() {
        let delay = Duration::from_micros(250);
        let proxy = DelayProxy::start(echo(), delay).expect("proxy starts");
        let mut stream = TcpStream::connect(proxy.addr()).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut round_trips = Vec::new();
        for i in 0..20u8 {
            // Two writes in one flight: still one turn, bytes in order.
            let message = [i; 300];
            let start = Instant::now();
            stream.write_all(&message[..100]).expect("write");
            stream.write_all(&message[100..]).expect("write");
            let mut back = [0u8; 300];
            stream.read_exact(&mut back).expect("read");
            round_trips.push(start.elapsed());
            assert_eq!(back, message);
        }
        assert_eq!(proxy.turns(), 20);
        round_trips.sort();
        // At least both delays; a loaded 2-core machine may add some.
        assert!(round_trips[0] >= 2 * delay, "{round_trips:?}");
        assert!(round_trips[10] < Duration::from_millis(5), "{round_trips:?}");
    }
}
