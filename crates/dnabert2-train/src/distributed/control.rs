//! The control plane of a multi-process run: rendezvous, barriers, liveness and abort,
//! as JSON lines over one TCP connection from every rank to rank 0.
//!
//! - **Rendezvous.** Rank 0 listens on the coordinator port; every other rank connects
//!   (retrying until the timeout, so ranks may start in any order) and says hello with the
//!   world size and the run's [fingerprint](super::fingerprint). Rank 0 refuses a
//!   duplicate rank or a differing setting, naming both values, and welcomes everyone once
//!   all have joined.
//! - **Barriers** ([`Control::gather`]): every rank contributes a number under a tag and
//!   gets every rank's number back (the corpus is ready, everyone resumes from the same
//!   step, everyone plans the same number of steps).
//! - **Liveness.** Both ends send a heartbeat every second; a connection that closes or
//!   stays silent for the timeout is a lost rank. Rank 0 tells every survivor which rank was
//!   lost; a rank that loses rank 0 stops by itself.
//! - **Faults** end the process with [`super::FAULT_EXIT_CODE`] after logging the reason:
//!   a peer may be blocked in an all-reduce that cannot be cancelled. A rank whose run fails
//!   normally (an error it returns) first sends [`Control::abort`], so the others stop at
//!   once with its message instead of waiting for the timeout.
//! - **Watchdog** ([`Control::watch`]): a blocking collective call that has not returned
//!   within the timeout is a fault too (a peer that hangs while its heartbeat still beats).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Cluster, FAULT_EXIT_CODE};
use crate::error::{Result, TrainError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
enum Msg {
    Hello {
        rank: usize,
        world_size: usize,
        fingerprint: String,
    },
    Welcome,
    Refused {
        reason: String,
    },
    Heartbeat,
    Gather {
        tag: String,
        value: u64,
    },
    Release {
        tag: String,
        values: Vec<u64>,
    },
    Abort {
        reason: String,
    },
    Done,
    Bye,
}

type Link = Arc<Mutex<TcpStream>>;

fn send(link: &Link, msg: &Msg) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut s = link.lock().unwrap_or_else(|e| e.into_inner());
    s.write_all(&line)
}

fn read_msg(r: &mut impl BufRead) -> std::io::Result<Option<Msg>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// State shared by this process's control threads.
struct Shared {
    rank: usize,
    world: usize,
    timeout: Duration,
    /// Rank 0: the gathered values per tag; other ranks: the released values per tag.
    gathers: Mutex<HashMap<String, Vec<Option<u64>>>>,
    released: Mutex<HashMap<String, Vec<u64>>>,
    /// Rank 0: ranks that said done; other ranks: `[bye received]`.
    done: Mutex<Vec<bool>>,
    changed: Condvar,
    /// Set once this process is shutting down on purpose (closed connections are expected).
    closing: AtomicBool,
    faulted: AtomicBool,
    /// Collective calls in flight: worker -> (since, what).
    watched: Mutex<HashMap<usize, (Instant, String)>>,
}

impl Shared {
    /// Stops this process: tells the peers (rank 0) why, logs, exits.
    fn fault(&self, links: &[Option<Link>], reason: &str) -> ! {
        if !self.faulted.swap(true, Ordering::SeqCst) {
            log::error!("{reason}");
            if self.rank == 0 {
                let msg = Msg::Abort {
                    reason: reason.to_string(),
                };
                for l in links.iter().flatten() {
                    let _ = send(l, &msg);
                }
            }
        }
        std::process::exit(FAULT_EXIT_CODE)
    }

    fn notify(&self) {
        self.changed.notify_all();
    }
}

/// One process's end of the control plane. Dropping it without [`Control::finish`] (an
/// error path) is safe: the peers see the connection close.
pub struct Control {
    shared: Arc<Shared>,
    /// Rank 0: one link per rank (`None` at 0); other ranks: `[Some(link to rank 0)]`.
    links: Arc<Vec<Option<Link>>>,
}

impl Control {
    /// Joins the run: rank 0 waits for every rank's hello, the others connect to it.
    pub fn connect(cluster: &Cluster, fingerprint: &str) -> Result<Self> {
        cluster.validate()?;
        let shared = Arc::new(Shared {
            rank: cluster.rank,
            world: cluster.world_size,
            timeout: cluster.timeout,
            gathers: Mutex::new(HashMap::new()),
            released: Mutex::new(HashMap::new()),
            done: Mutex::new(vec![false; cluster.world_size]),
            changed: Condvar::new(),
            closing: AtomicBool::new(false),
            faulted: AtomicBool::new(false),
            watched: Mutex::new(HashMap::new()),
        });
        let (links, readers) = if cluster.rank == 0 {
            accept_all(cluster, fingerprint)?
        } else {
            let (link, reader) = join(cluster, fingerprint)?;
            (vec![Some(link)], vec![(0, reader)])
        };
        let control = Self {
            shared,
            links: Arc::new(links),
        };
        for (peer, reader) in readers {
            control.spawn_reader(peer, reader);
        }
        control.spawn_heartbeat();
        log::info!(
            "rank {} of {}: every rank joined",
            cluster.rank,
            cluster.world_size
        );
        Ok(control)
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.shared.rank
    }

    /// Every rank's `value` under `tag`, in rank order, once all have contributed.
    pub fn gather(&self, tag: &str, value: u64) -> Result<Vec<u64>> {
        let s = &self.shared;
        if s.rank == 0 {
            let mut g = lock(&s.gathers);
            g.entry(tag.to_string())
                .or_insert_with(|| vec![None; s.world])[0] = Some(value);
            let values = loop {
                if let Some(v) = g.get(tag)
                    && v.iter().all(Option::is_some)
                {
                    break v.iter().map(|x| x.unwrap_or_default()).collect::<Vec<_>>();
                }
                g = s.changed.wait(g).unwrap_or_else(|e| e.into_inner());
            };
            g.remove(tag);
            drop(g);
            let msg = Msg::Release {
                tag: tag.to_string(),
                values: values.clone(),
            };
            for l in self.links.iter().flatten() {
                send(l, &msg).map_err(|e| dist(format!("sending barrier {tag}: {e}")))?;
            }
            Ok(values)
        } else {
            let link = self.links[0]
                .as_ref()
                .ok_or_else(|| dist("no link".into()))?;
            send(
                link,
                &Msg::Gather {
                    tag: tag.to_string(),
                    value,
                },
            )
            .map_err(|e| dist(format!("sending barrier {tag} to rank 0: {e}")))?;
            let mut r = lock(&s.released);
            loop {
                if let Some(v) = r.remove(tag) {
                    return Ok(v);
                }
                r = s.changed.wait(r).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Tells the other ranks this one is stopping because of `reason` (its own error), so
    /// they stop now instead of at the timeout.
    pub fn abort(&self, reason: &str) {
        self.shared.closing.store(true, Ordering::SeqCst);
        let msg = Msg::Abort {
            reason: format!("rank {} stopped: {reason}", self.shared.rank),
        };
        for l in self.links.iter().flatten() {
            let _ = send(l, &msg);
        }
    }

    /// Runs `f` (a blocking collective call described by `what`) under the watchdog: if it
    /// has not returned within the timeout, the run is stopped with a fault.
    pub fn watch<T>(
        &self,
        worker: usize,
        what: impl FnOnce() -> String,
        f: impl FnOnce() -> T,
    ) -> T {
        lock(&self.shared.watched).insert(worker, (Instant::now(), what()));
        let out = f();
        lock(&self.shared.watched).remove(&worker);
        out
    }

    /// Leaves the run cleanly: the other ranks tell rank 0 they are done and wait for its
    /// goodbye; rank 0 waits (up to the timeout) until everyone is done, so its
    /// orchestrator outlives every peer's last collective call.
    pub fn finish(&self) {
        let s = &self.shared;
        s.closing.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + s.timeout;
        // Waits (up to the deadline) until `ready` holds for the done flags.
        let wait = |ready: &dyn Fn(&[bool]) -> bool| {
            let mut d = lock(&s.done);
            while !ready(&d) && Instant::now() < deadline {
                d = s
                    .changed
                    .wait_timeout(d, Duration::from_millis(200))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        if s.rank == 0 {
            lock(&s.done)[0] = true;
            wait(&|d| d.iter().all(|&x| x));
            for l in self.links.iter().flatten() {
                let _ = send(l, &Msg::Bye);
            }
        } else if let Some(l) = &self.links[0] {
            let _ = send(l, &Msg::Done);
            wait(&|d| d[0]);
        }
        for l in self.links.iter().flatten() {
            let _ = lock(l).shutdown(Shutdown::Both);
        }
    }

    fn spawn_reader(&self, peer: usize, mut reader: BufReader<TcpStream>) {
        let (s, links) = (self.shared.clone(), self.links.clone());
        std::thread::spawn(move || {
            let who = if peer == 0 {
                "rank 0 (the coordinator)".to_string()
            } else {
                format!("rank {peer}")
            };
            loop {
                let msg = read_msg(&mut reader);
                let finished = s.closing.load(Ordering::SeqCst) || lock(&s.done)[peer];
                match msg {
                    Ok(Some(Msg::Heartbeat)) => {}
                    Ok(Some(Msg::Gather { tag, value })) => {
                        lock(&s.gathers)
                            .entry(tag)
                            .or_insert_with(|| vec![None; s.world])[peer] = Some(value);
                        s.notify();
                    }
                    Ok(Some(Msg::Release { tag, values })) => {
                        lock(&s.released).insert(tag, values);
                        s.notify();
                    }
                    Ok(Some(Msg::Done)) | Ok(Some(Msg::Bye)) => {
                        lock(&s.done)[peer] = true;
                        s.notify();
                    }
                    Ok(Some(Msg::Abort { reason })) => s.fault(&links, &reason),
                    Ok(Some(other)) => {
                        log::warn!("control: unexpected message from {who}: {other:?}")
                    }
                    Ok(None) if finished => return,
                    Ok(None) => s.fault(
                        &links,
                        &format!(
                            "lost {who}: its connection closed (the process exited or was killed)"
                        ),
                    ),
                    Err(_) if finished => return,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        s.fault(
                            &links,
                            &format!("lost {who}: no heartbeat for {} s", s.timeout.as_secs_f64()),
                        )
                    }
                    Err(e) => s.fault(&links, &format!("lost {who}: {e}")),
                }
            }
        });
    }

    fn spawn_heartbeat(&self) {
        let (s, links) = (self.shared.clone(), self.links.clone());
        let every = (s.timeout / 4).min(Duration::from_secs(1));
        std::thread::spawn(move || {
            while !s.closing.load(Ordering::SeqCst) {
                for l in links.iter().flatten() {
                    let _ = send(l, &Msg::Heartbeat);
                }
                let stuck = lock(&s.watched)
                    .values()
                    .find(|(since, _)| since.elapsed() > s.timeout)
                    .map(|(_, what)| what.clone());
                if let Some(what) = stuck {
                    s.fault(
                        &links,
                        &format!(
                            "rank {}: {what} has not completed in {} s (a peer stopped or hung)",
                            s.rank,
                            s.timeout.as_secs_f64()
                        ),
                    );
                }
                std::thread::sleep(every);
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn dist(m: String) -> TrainError {
    TrainError::Distributed(m)
}

type Accepted = (Vec<Option<Link>>, Vec<(usize, BufReader<TcpStream>)>);

/// Rank 0: accepts every other rank's hello within the timeout.
fn accept_all(cluster: &Cluster, fingerprint: &str) -> Result<Accepted> {
    let port = cluster.coordinator_port()?;
    let listener = TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| dist(format!("rank 0 cannot listen on port {port}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| dist(e.to_string()))?;
    let deadline = Instant::now() + cluster.timeout;
    let mut links: Vec<Option<Link>> = vec![None; cluster.world_size];
    let mut readers = Vec::new();
    while readers.len() + 1 < cluster.world_size {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let missing: Vec<String> = (1..cluster.world_size)
                        .filter(|r| links[*r].is_none())
                        .map(|r| r.to_string())
                        .collect();
                    return Err(dist(format!(
                        "rank(s) {} did not join within {} s (listening on port {port})",
                        missing.join(", "),
                        cluster.timeout.as_secs_f64()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(dist(format!("accepting a rank: {e}"))),
        };
        stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_read_timeout(Some(cluster.timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| dist(e.to_string()))?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| dist(e.to_string()))?);
        let link: Link = Arc::new(Mutex::new(stream));
        let hello = read_msg(&mut reader);
        let (rank, world_size, theirs) = match hello {
            Ok(Some(Msg::Hello {
                rank,
                world_size,
                fingerprint,
            })) => (rank, world_size, fingerprint),
            other => {
                log::warn!("control: ignoring a connection that did not say hello ({other:?})");
                continue;
            }
        };
        let refuse = if world_size != cluster.world_size {
            Some(format!(
                "rank {rank} was started with world size {world_size}, rank 0 with {}",
                cluster.world_size
            ))
        } else if rank == 0 || rank >= cluster.world_size {
            Some(format!("rank {rank} is outside 1..{}", cluster.world_size))
        } else if links[rank].is_some() {
            Some(format!("two processes were started as rank {rank}"))
        } else if theirs != fingerprint {
            Some(format!(
                "rank {rank}'s settings differ from rank 0's: [{theirs}] vs [{fingerprint}]"
            ))
        } else {
            None
        };
        if let Some(reason) = refuse {
            let _ = send(
                &link,
                &Msg::Refused {
                    reason: reason.clone(),
                },
            );
            for l in links.iter().flatten() {
                let _ = send(
                    l,
                    &Msg::Refused {
                        reason: reason.clone(),
                    },
                );
            }
            return Err(dist(reason));
        }
        links[rank] = Some(link);
        readers.push((rank, reader));
    }
    for l in links.iter().flatten() {
        send(l, &Msg::Welcome).map_err(|e| dist(format!("welcoming the ranks: {e}")))?;
    }
    Ok((links, readers))
}

/// A rank other than 0: connects to rank 0 (retrying until the timeout) and waits for the
/// welcome.
fn join(cluster: &Cluster, fingerprint: &str) -> Result<(Link, BufReader<TcpStream>)> {
    let host = cluster.coordinator_host()?;
    let port = cluster.coordinator_port()?;
    let deadline = Instant::now() + cluster.timeout;
    let stream = loop {
        let attempt = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| dist(format!("coordinator {host}:{port}: {e}")))?
            .find_map(|a| TcpStream::connect_timeout(&a, Duration::from_secs(5)).ok());
        if let Some(s) = attempt {
            break s;
        }
        if Instant::now() > deadline {
            return Err(dist(format!(
                "rank {}: the coordinator {host}:{port} could not be reached within {} s",
                cluster.rank,
                cluster.timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    stream
        .set_read_timeout(Some(cluster.timeout))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| dist(e.to_string()))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| dist(e.to_string()))?);
    let link: Link = Arc::new(Mutex::new(stream));
    send(
        &link,
        &Msg::Hello {
            rank: cluster.rank,
            world_size: cluster.world_size,
            fingerprint: fingerprint.to_string(),
        },
    )
    .map_err(|e| dist(format!("saying hello to {host}:{port}: {e}")))?;
    // Rank 0 answers once every rank has joined: wait as long as the rendezvous may take.
    loop {
        match read_msg(&mut reader) {
            Ok(Some(Msg::Welcome)) => return Ok((link, reader)),
            Ok(Some(Msg::Refused { reason })) => return Err(dist(reason)),
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(dist(format!(
                    "rank 0 ({host}:{port}) closed the connection during the rendezvous"
                )));
            }
            Err(e) if Instant::now() < deadline + cluster.timeout => {
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) {
                    return Err(dist(format!("rendezvous with {host}:{port}: {e}")));
                }
            }
            Err(_) => {
                return Err(dist(format!(
                    "rank 0 ({host}:{port}) did not start the run within {} s",
                    2.0 * cluster.timeout.as_secs_f64()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(rank: usize, port: u16) -> Cluster {
        Cluster {
            world_size: 2,
            rank,
            coordinator: Some(format!("127.0.0.1:{port}")),
            data_port: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn an_unreachable_coordinator_and_a_missing_rank_are_errors_within_the_timeout() {
        let port = super::super::free_port_range(2).unwrap();
        let t0 = Instant::now();
        let e = Control::connect(&cluster(1, port), "x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("could not be reached within 1 s"), "{e}");
        let e = Control::connect(&cluster(0, port), "x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("rank(s) 1 did not join within 1 s"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }

    #[test]
    fn ranks_meet_gather_and_finish() {
        let port = super::super::free_port_range(2).unwrap();
        let r1 = std::thread::spawn(move || {
            let c = Control::connect(&cluster(1, port), "same").unwrap();
            let v = c.gather("t", 7).unwrap();
            c.finish();
            v
        });
        let c0 = Control::connect(&cluster(0, port), "same").unwrap();
        assert_eq!(c0.gather("t", 3).unwrap(), vec![3, 7]);
        c0.finish();
        assert_eq!(r1.join().unwrap(), vec![3, 7]);
    }
}
