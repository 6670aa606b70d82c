//! The data plane: gradients and step statistics summed over every worker with
//! burn-collective's all-reduce (a tree between the threads of one process, a ring between
//! processes).
//!
//! Gradients are visited in the module's structural order (identical on every worker, unlike
//! parameter ids, which are random per process), flattened into buckets of
//! [`BUCKET_ELEMS`] values and reduced one bucket per collective call, so a 117M-parameter
//! model costs a handful of calls per step instead of one per tensor.

use std::str::FromStr;
use std::sync::Arc;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;
use burn_collective::{CollectiveConfig, PeerId, ReduceOperation};

use super::Cluster;
use super::control::Control;
use crate::error::{Result, TrainError};

/// Values per all-reduce call (64 MiB of fp32).
pub const BUCKET_ELEMS: usize = 16 << 20;

/// One worker's handle on the collective: its peer id, device and the process's control
/// plane (when there are several processes).
pub struct Sync<B: AutodiffBackend> {
    peer: PeerId,
    worker: usize,
    workers: usize,
    device: B::Device,
    control: Option<Arc<Control>>,
}

impl<B: AutodiffBackend> Sync<B> {
    /// Registers worker `local` (of `local_count` in this process) with the collective and
    /// waits until every worker of every process has registered.
    pub fn register(
        cluster: &Cluster,
        local: usize,
        local_count: usize,
        device: B::Device,
        control: Option<Arc<Control>>,
    ) -> Result<Self> {
        let worker = cluster.rank * local_count + local;
        let workers = cluster.world_size * local_count;
        let mut config = CollectiveConfig::default().with_num_devices(local_count);
        if cluster.world_size > 1 {
            let host = cluster.coordinator_host()?;
            let own = node_host(&host, cluster.coordinator_port()?);
            let data_port = cluster.data_port()?;
            let addr = |s: String| {
                burn_communication::Address::from_str(&s)
                    .map_err(|e| TrainError::Distributed(format!("address {s}: {e}")))
            };
            config = config
                .with_num_nodes(cluster.world_size as u32)
                .with_global_address(addr(format!(
                    "ws://{}:{}",
                    bracket(&host),
                    cluster.orchestrator_port()?
                ))?)
                .with_node_address(addr(format!("ws://{}:{data_port}", bracket(&own)))?)
                .with_data_service_port(data_port);
        }
        let sync = Self {
            peer: PeerId::from(worker),
            worker,
            workers,
            device,
            control,
        };
        let (peer, dev) = (sync.peer, sync.device.clone());
        sync.watched(
            || "joining the collective".into(),
            || burn_collective::register::<B::InnerBackend>(peer, dev, config),
        )
        .map_err(|e| {
            TrainError::Distributed(format!(
                "worker {worker}: registering with the collective: {e:?}"
            ))
        })?;
        Ok(sync)
    }

    /// This worker's index among all workers (rank * local workers + local index).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The number of workers in the run.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Sums `values` over every worker, in place (as f32).
    pub fn sum_values(&self, values: &mut [f64]) -> Result<()> {
        let t = Tensor::<B::InnerBackend, 1>::from_data(
            TensorData::new(values.iter().map(|&v| v as f32).collect(), [values.len()]),
            &self.device,
        );
        let out = self.reduce(t, "summing the step's statistics")?;
        let host = out
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| TrainError::Distributed(format!("{e:?}")))?;
        for (v, s) in values.iter_mut().zip(host) {
            *v = f64::from(s);
        }
        Ok(())
    }

    /// Sums the gradients of `module`'s trainable parameters and `values` over every worker.
    /// A parameter without a gradient on every worker stays without one.
    pub fn all_reduce<M: AutodiffModule<B>>(
        &self,
        module: &M,
        grads: GradientsParams,
        values: &mut [f64],
    ) -> Result<GradientsParams> {
        let mut flat = Flatten::<B> {
            grads,
            device: self.device.clone(),
            flat: Vec::new(),
            present: Vec::new(),
        };
        module.visit(&mut flat);
        let n = values.len();
        let mut stats: Vec<f64> = values.to_vec();
        stats.extend(flat.present.iter().map(|&p| f64::from(u8::from(p))));
        self.sum_values(&mut stats)?;
        values.copy_from_slice(&stats[..n]);
        let present: Vec<bool> = stats[n..].iter().map(|&c| c > 0.5).collect();

        // Buckets of consecutive parameters, each one collective call.
        let mut reduced: Vec<Tensor<B::InnerBackend, 1>> = Vec::with_capacity(flat.flat.len());
        let mut pending: Vec<Tensor<B::InnerBackend, 1>> = Vec::new();
        let mut pending_len = 0;
        let mut tensors = flat.flat.into_iter().peekable();
        while let Some(t) = tensors.next() {
            pending_len += t.dims()[0];
            pending.push(t);
            let full = tensors
                .peek()
                .is_none_or(|next| pending_len + next.dims()[0] > BUCKET_ELEMS);
            if full {
                let lens: Vec<usize> = pending.iter().map(|t| t.dims()[0]).collect();
                let bucket = Tensor::cat(std::mem::take(&mut pending), 0);
                let bucket = self.reduce(bucket, "all-reducing the gradients")?;
                let mut at = 0;
                for len in lens {
                    reduced.push(bucket.clone().slice(at..at + len));
                    at += len;
                }
                pending_len = 0;
            }
        }
        let mut unflatten = Unflatten::<B> {
            grads: GradientsParams::new(),
            reduced: reduced.into_iter(),
            present: present.into_iter(),
        };
        module.visit(&mut unflatten);
        Ok(unflatten.grads)
    }

    /// Unregisters from the collective at the end of a run.
    pub fn finish(self) {
        if let Err(e) = burn_collective::finish_collective::<B::InnerBackend>(self.peer) {
            log::warn!("worker {}: leaving the collective: {e:?}", self.worker);
        }
    }

    fn reduce(
        &self,
        t: Tensor<B::InnerBackend, 1>,
        what: &str,
    ) -> Result<Tensor<B::InnerBackend, 1>> {
        let peer = self.peer;
        let out = self.watched(
            || format!("worker {}: {what}", self.worker),
            || {
                burn_collective::all_reduce::<B::InnerBackend>(
                    peer,
                    t.into_primitive().tensor(),
                    ReduceOperation::Sum,
                )
            },
        );
        out.map(|p| Tensor::from_primitive(TensorPrimitive::Float(p)))
            .map_err(|e| TrainError::Distributed(format!("worker {}: {what}: {e:?}", self.worker)))
    }

    fn watched<T>(&self, what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
        match &self.control {
            Some(c) => c.watch(self.worker, what, f),
            None => f(),
        }
    }
}

/// Rank 0: starts burn-collective's global orchestrator (websocket) on `port` in a
/// background thread that lives as long as the process.
pub fn start_orchestrator(port: u16) -> Result<()> {
    // burn only logs a failed bind; check the port first for a clear error.
    std::net::TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
        TrainError::Distributed(format!(
            "rank 0 cannot serve the orchestrator on port {port}: {e}"
        ))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| TrainError::Distributed(format!("orchestrator runtime: {e}")))?;
    std::thread::Builder::new()
        .name("dnabert2-orchestrator".into())
        .spawn(move || runtime.block_on(burn_collective::start_global_orchestrator(port)))
        .map_err(|e| TrainError::Distributed(format!("orchestrator thread: {e}")))?;
    Ok(())
}

/// Stops the in-process collective so that workers blocked in an all-reduce return an error
/// (used when one worker thread of a process fails).
pub fn cancel<B: AutodiffBackend>() {
    burn_collective::reset_collective::<B::InnerBackend>();
}

/// Runs `f` once per local device, each in its own thread with its registered [`Sync`] and
/// its item of `inputs`, and returns the results in device order. When one worker fails
/// (an error or a panic), the others are released from the collective and the first
/// failure is returned; in a multi-process run with several local workers the process tells
/// its peers and exits (its other workers may be blocked in a cross-process all-reduce).
pub fn launch<B, T, R>(
    cluster: &Cluster,
    devices: &[B::Device],
    control: Option<&Arc<Control>>,
    inputs: Vec<R>,
    f: impl Fn(usize, B::Device, Sync<B>, R) -> Result<T> + std::marker::Sync,
) -> Result<Vec<T>>
where
    B: AutodiffBackend,
    T: Send,
    R: Send,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    const NONE: usize = usize::MAX;
    cancel::<B>();
    let first_failure = AtomicUsize::new(NONE);
    let results: Vec<Result<T>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .cloned()
            .zip(inputs)
            .enumerate()
            .map(|(i, (device, input))| {
                let (f, first_failure) = (&f, &first_failure);
                scope.spawn(move || {
                    let run = std::panic::AssertUnwindSafe(|| {
                        let sync = Sync::register(
                            cluster,
                            i,
                            devices.len(),
                            device.clone(),
                            control.cloned(),
                        )?;
                        f(i, device, sync, input)
                    });
                    let out = std::panic::catch_unwind(run).unwrap_or_else(|p| {
                        let msg = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(TrainError::Distributed(format!(
                            "worker {i} panicked: {msg}"
                        )))
                    });
                    if let Err(e) = &out
                        && first_failure
                            .compare_exchange(NONE, i, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                    {
                        if let (Some(c), true) = (control, devices.len() > 1) {
                            c.abort(&e.to_string());
                            log::error!("{e}");
                            std::process::exit(super::FAULT_EXIT_CODE);
                        }
                        cancel::<B>();
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(TrainError::Distributed("a worker thread panicked".into()))
                })
            })
            .collect()
    });
    let failed = first_failure.load(Ordering::SeqCst);
    let mut out = Vec::with_capacity(results.len());
    let mut first_err = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(t) => out.push(t),
            Err(e) if i == failed || (first_err.is_none() && failed == NONE) => first_err = Some(e),
            Err(_) => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The host other nodes reach this one at: `DNABERT2_NODE_HOST` if set, loopback when the
/// coordinator is local, else the address of the interface that routes to the coordinator.
fn node_host(coordinator: &str, port: u16) -> String {
    if let Ok(h) = std::env::var("DNABERT2_NODE_HOST") {
        return h;
    }
    if matches!(coordinator, "127.0.0.1" | "localhost" | "::1") {
        return coordinator.replace("localhost", "127.0.0.1");
    }
    let routed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect((coordinator, port)).map(|()| s))
        .and_then(|s| s.local_addr());
    match routed {
        Ok(a) => a.ip().to_string(),
        Err(e) => {
            log::warn!("cannot tell this node's address ({e}); set DNABERT2_NODE_HOST");
            "127.0.0.1".into()
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Moves every trainable parameter's gradient (or zeros) into one flat tensor each.
struct Flatten<B: AutodiffBackend> {
    grads: GradientsParams,
    device: B::Device,
    flat: Vec<Tensor<B::InnerBackend, 1>>,
    present: Vec<bool>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let val = param.val();
        if !val.is_require_grad() {
            return;
        }
        let n = val.shape().num_elements();
        let g = self.grads.remove::<B::InnerBackend, D>(param.id);
        self.present.push(g.is_some());
        self.flat.push(match g {
            Some(g) => g.reshape([n]),
            None => Tensor::zeros([n], &self.device),
        });
    }
}

/// Registers the reduced gradients back under the parameters' ids, in the same order.
struct Unflatten<B: AutodiffBackend> {
    grads: GradientsParams,
    reduced: std::vec::IntoIter<Tensor<B::InnerBackend, 1>>,
    present: std::vec::IntoIter<bool>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Unflatten<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let val = param.val();
        if !val.is_require_grad() {
            return;
        }
        let (Some(g), Some(present)) = (self.reduced.next(), self.present.next()) else {
            return;
        };
        if present {
            self.grads
                .register::<B::InnerBackend, D>(param.id, g.reshape(val.shape()));
        }
    }
}
