//! Data-parallel training: one worker per device, in threads of one process and across
//! processes on several machines, on burn's collective engine (`burn-collective`).
//!
//! Every worker holds a full replica of the model. Each optimizer step, every worker draws
//! the same global batch (a pure function of seed and step), keeps its own disjoint rows of
//! it, weights its loss by its share of the global masked tokens, and the gradients are
//! summed over the workers ([`sync::Sync::all_reduce`]) before one identical optimizer step
//! on every replica. A run with W workers and `batch_size` B therefore sees the same
//! windows per step as one worker with B, and (dropout off) the same losses and weights up
//! to float summation order.
//!
//! Processes (`world_size` > 1) talk through two planes:
//!
//! - **data**: burn-collective. Rank 0 runs its global orchestrator (websocket) on the
//!   coordinator's port + 1; every process serves its tensors on a data port (default
//!   coordinator port + 2 + rank) and gradients are all-reduced in a ring.
//! - **control** ([`control`]): rank 0 listens on the coordinator port for the others'
//!   hello (world size, rank and run settings must agree), barriers, heartbeats and abort
//!   messages. burn-collective has no failure detection (an all-reduce with a dead peer
//!   blocks forever), so a lost connection, a missing heartbeat or an all-reduce that does
//!   not complete within [`Cluster::timeout`] stops every process with an error naming the
//!   rank, and a worker that fails tells the others why before it exits.
//!
//! Only rank 0's first worker (the *leader*) writes metrics, curves and checkpoints; every
//! worker restores from the same checkpoint on `--resume` (a shared filesystem across
//! machines), with the same or a different world size.

pub mod control;
pub use sync::launch;
#[cfg(feature = "distributed")]
pub mod sync;
/// Stand-in when the crate is built without its `distributed` feature: one worker trains
/// as before, more than one is an error naming the feature.
#[cfg(not(feature = "distributed"))]
#[path = "sync_disabled.rs"]
pub mod sync;

use std::time::Duration;

use crate::error::{Result, TrainError};

/// Exit status of a process stopped by a distributed fault (a lost peer or a timed-out
/// all-reduce): the blocked collective cannot be cancelled, so the process exits.
pub const FAULT_EXIT_CODE: i32 = 3;

/// Default for [`Cluster::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where this process stands in a multi-process run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Number of processes (usually one per machine, each with its own local devices).
    pub world_size: usize,
    /// This process's rank in `0..world_size`; rank 0 coordinates and writes the outputs.
    pub rank: usize,
    /// `HOST:PORT` of rank 0 (required when `world_size` > 1).
    pub coordinator: Option<String>,
    /// Port this process serves tensors on (default: coordinator port + 2 + rank).
    pub data_port: Option<u16>,
    /// How long a peer may stay silent, a rendezvous may wait, or one all-reduce may take
    /// before the run is stopped.
    pub timeout: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::single()
    }
}

impl Cluster {
    /// One process (its local devices may still be several workers).
    pub fn single() -> Self {
        Self {
            world_size: 1,
            rank: 0,
            coordinator: None,
            data_port: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Whether this process is rank 0.
    pub fn is_coordinator(&self) -> bool {
        self.rank == 0
    }

    /// The world from flags, falling back to the environment so that launchers can start
    /// every rank with the same command line:
    ///
    /// - world size: `--world-size`, `DNABERT2_WORLD_SIZE`, `WORLD_SIZE` (torchrun),
    ///   `SLURM_NTASKS`;
    /// - rank: `--rank`, `DNABERT2_RANK`, `RANK` (torchrun), `SLURM_PROCID`;
    /// - coordinator: `--coordinator`, `DNABERT2_COORDINATOR`,
    ///   `MASTER_ADDR`:`MASTER_PORT` (torchrun; Slurm scripts export them).
    ///
    /// `env` reads one variable (`|k| std::env::var(k).ok()` in a binary).
    ///
    /// ```
    /// use dnabert2_train::distributed::Cluster;
    /// let env = |k: &str| match k {
    ///     "SLURM_NTASKS" => Some("4".to_string()),
    ///     "SLURM_PROCID" => Some("2".to_string()),
    ///     "MASTER_ADDR" => Some("node001".to_string()),
    ///     "MASTER_PORT" => Some("29500".to_string()),
    ///     _ => None,
    /// };
    /// let c = Cluster::resolve(None, None, None, env).unwrap();
    /// assert_eq!((c.world_size, c.rank), (4, 2));
    /// assert_eq!(c.coordinator.as_deref(), Some("node001:29500"));
    /// // Flags win over the environment.
    /// let c = Cluster::resolve(Some(1), Some(0), None, env).unwrap();
    /// assert_eq!((c.world_size, c.coordinator), (1, None));
    /// // A rank outside the world is an error naming both.
    /// assert!(Cluster::resolve(Some(1), None, None, env).is_err());
    /// ```
    pub fn resolve(
        world_size: Option<usize>,
        rank: Option<usize>,
        coordinator: Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let num = |keys: &[&str]| -> Result<Option<usize>> {
            for k in keys {
                if let Some(v) = env(k) {
                    return v.trim().parse().map(Some).map_err(|_| {
                        TrainError::Config(format!("{k}={v:?} is not a non-negative integer"))
                    });
                }
            }
            Ok(None)
        };
        let world_size = match world_size {
            Some(w) => w,
            None => num(&["DNABERT2_WORLD_SIZE", "WORLD_SIZE", "SLURM_NTASKS"])?.unwrap_or(1),
        };
        let rank = match rank {
            Some(r) => r,
            None => num(&["DNABERT2_RANK", "RANK", "SLURM_PROCID"])?.unwrap_or(0),
        };
        let coordinator = coordinator
            .or_else(|| env("DNABERT2_COORDINATOR"))
            .or_else(|| {
                env("MASTER_ADDR")
                    .map(|a| format!("{a}:{}", env("MASTER_PORT").unwrap_or_default()))
            });
        let c = Self {
            world_size,
            rank,
            coordinator: if world_size > 1 { coordinator } else { None },
            ..Self::single()
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks the rank against the world size and that a multi-process run has a
    /// coordinator `HOST:PORT` with room for its data ports.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.world_size == 0 {
            return bad("--world-size must be at least 1".into());
        }
        if self.rank >= self.world_size {
            return bad(format!(
                "--rank {} is outside 0..{} (--world-size {})",
                self.rank, self.world_size, self.world_size
            ));
        }
        if self.timeout.is_zero() {
            return bad("the distributed timeout must be positive".into());
        }
        if self.world_size > 1 {
            let port = self.coordinator_port()?;
            if self.data_port.is_none() && port as usize + 2 + self.world_size > 65535 {
                return bad(format!(
                    "coordinator port {port} leaves no room for the data ports (port + 2 + rank); choose a lower port"
                ));
            }
        }
        Ok(())
    }

    /// The coordinator's host.
    pub fn coordinator_host(&self) -> Result<String> {
        Ok(self.split_coordinator()?.0)
    }

    /// The coordinator's (control) port.
    pub fn coordinator_port(&self) -> Result<u16> {
        Ok(self.split_coordinator()?.1)
    }

    /// The port of burn-collective's orchestrator (coordinator port + 1).
    pub fn orchestrator_port(&self) -> Result<u16> {
        let p = self.coordinator_port()?;
        p.checked_add(1)
            .ok_or_else(|| TrainError::Config(format!("coordinator port {p} is the last port")))
    }

    /// The port this process serves its tensors on.
    pub fn data_port(&self) -> Result<u16> {
        if let Some(p) = self.data_port {
            return Ok(p);
        }
        let p = self.coordinator_port()? as usize + 2 + self.rank;
        u16::try_from(p).map_err(|_| TrainError::Config(format!("data port {p} is out of range")))
    }

    fn split_coordinator(&self) -> Result<(String, u16)> {
        let Some(c) = &self.coordinator else {
            return Err(TrainError::Config(format!(
                "--world-size {} needs --coordinator HOST:PORT (rank 0's address; or \
                 DNABERT2_COORDINATOR, or MASTER_ADDR and MASTER_PORT)",
                self.world_size
            )));
        };
        let (host, port) = c
            .rsplit_once(':')
            .ok_or_else(|| TrainError::Config(format!("--coordinator {c:?} is not HOST:PORT")))?;
        let port: u16 = port.parse().map_err(|_| {
            TrainError::Config(format!(
                "--coordinator {c:?}: {port:?} is not a port number"
            ))
        })?;
        if host.is_empty() || port == 0 {
            return Err(TrainError::Config(format!(
                "--coordinator {c:?} is not HOST:PORT"
            )));
        }
        Ok((host.trim_matches(['[', ']']).to_string(), port))
    }
}

/// A coordinator port `p` for a run on this machine with `p .. p + 2 + ranks` free now
/// (control, orchestrator, one data port per rank), for tests and benchmarks on 127.0.0.1.
/// Another process may still take a port before the run binds it.
pub fn free_port_range(ranks: u16) -> Result<u16> {
    let span = 2 + ranks;
    for _ in 0..200 {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| TrainError::Distributed(format!("no free port: {e}")))?
            .port();
        if p < 65535 - span
            && (p..p + span).all(|q| std::net::TcpListener::bind(("0.0.0.0", q)).is_ok())
        {
            return Ok(p);
        }
    }
    Err(TrainError::Distributed(format!(
        "no {span} free consecutive ports"
    )))
}

/// The settings every rank must agree on, as one string compared at the rendezvous (a rank
/// started with another batch size or seed is refused before anything trains).
pub fn fingerprint(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_env_and_errors() {
        let c = Cluster::resolve(None, None, None, none).unwrap();
        assert_eq!(c, Cluster::single());
        let c = Cluster::resolve(Some(2), Some(1), Some("127.0.0.1:4000".into()), none).unwrap();
        assert_eq!(c.coordinator_port().unwrap(), 4000);
        assert_eq!(c.orchestrator_port().unwrap(), 4001);
        assert_eq!(c.data_port().unwrap(), 4003);
        let env = |k: &str| (k == "DNABERT2_WORLD_SIZE").then(|| "x".to_string());
        let e = Cluster::resolve(None, None, None, env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("DNABERT2_WORLD_SIZE"), "{e}");
        let e = Cluster::resolve(Some(2), Some(2), Some("h:1".into()), none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--rank 2 is outside 0..2"), "{e}");
        let e = Cluster::resolve(Some(2), Some(0), None, none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--coordinator HOST:PORT"), "{e}");
        let e = Cluster::resolve(Some(2), Some(0), Some("nohost".into()), none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not HOST:PORT"), "{e}");
        let c = Cluster::resolve(Some(2), Some(0), Some("[::1]:5000".into()), none).unwrap();
        assert_eq!(c.coordinator_host().unwrap(), "::1");
    }
}
