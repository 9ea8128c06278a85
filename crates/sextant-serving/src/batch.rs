//! Micro-batching (`--batch-window-ms`): concurrent requests to one model version that arrive
//! within a short window are stacked along their rows into one engine call, and the outputs
//! are split back, row ranges in order, to the requests they belong to.
//!
//! One collector task per served version takes the first waiting request, gathers more until
//! the window closes, the batch holds `max_rows` rows, or every request on its way to this
//! version has joined (each is counted from its arrival, before its body is decoded, so a batch
//! never waits for requests that do not exist: batching adds no wait at low load), and runs the
//! batch on the blocking pool; at most one batch per CPU runs at a time, and requests that arrive while every engine
//! slot is busy join the next batch (so batches grow with the load). Per-request errors stay
//! per-request: a request is validated before it joins a batch (a bad one gets its own 400),
//! requests that cannot be stacked (another trailing shape) run alone, and if a stacked call
//! fails, each request of it is run again on its own and gets its own answer or error.
//! A batched answer equals the unbatched one (to floating-point rounding where a matrix
//! product's kernel depends on the row count): the served models are row-wise, and
//! tests/serving checks it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::{Result, ServingError};
use crate::metrics::Metrics;
use crate::model::ServedModel;
use crate::tensor::{Tensor, concat_rows};

/// How requests are batched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchOptions {
    /// How long the first request of a batch waits for others.
    pub window: Duration,
    /// The most rows one engine call stacks; a request with more runs alone.
    pub max_rows: usize,
}

/// Requests waiting for the collector, at most; a sender waits beyond that (back pressure).
const QUEUE: usize = 4096;

struct Job {
    model: Arc<ServedModel>,
    inputs: Vec<Tensor>,
    rows: usize,
    reply: oneshot::Sender<Result<Vec<Tensor>>>,
    ticket: Ticket,
}

/// A request on its way to a batcher, counted from its arrival until its batch is dispatched
/// (or it fails before joining one), so the collector knows when every concurrent request has
/// joined and waiting longer would only delay them.
pub struct Ticket {
    pending: Arc<AtomicUsize>,
    armed: bool,
}

impl Ticket {
    fn release(&mut self) {
        if std::mem::take(&mut self.armed) {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

/// The batcher of one served version. Dropping it (with the version) ends its collector.
pub(crate) struct Batcher {
    tx: mpsc::Sender<Job>,
    max_rows: usize,
    /// Requests that arrived and are not dispatched yet (see [`Ticket`]).
    pending: Arc<AtomicUsize>,
}

impl Batcher {
    /// Start the collector task (needs a tokio runtime).
    pub(crate) fn start(opts: BatchOptions, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let engines = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pending = Arc::new(AtomicUsize::new(0));
        tokio::spawn(collect(rx, opts, metrics, engines, Arc::clone(&pending)));
        Self {
            tx,
            max_rows: opts.max_rows.max(1),
            pending,
        }
    }

    /// Count a request that has just arrived (before its body is decoded).
    pub(crate) fn ticket(&self) -> Ticket {
        self.pending.fetch_add(1, Ordering::AcqRel);
        Ticket {
            pending: Arc::clone(&self.pending),
            armed: true,
        }
    }

    /// Run `inputs` on `model`'s engine, batched with whatever else arrives in the window.
    pub(crate) async fn run(
        &self,
        model: Arc<ServedModel>,
        inputs: Vec<Tensor>,
        mut ticket: Ticket,
    ) -> Result<Vec<Tensor>> {
        let Some(rows) = rows_of(&inputs).filter(|&r| r <= self.max_rows) else {
            // Not stackable (inputs of different lengths, a scalar) or too big to share a call.
            ticket.release();
            return crate::http::blocking(move || model.engine.run(inputs)).await;
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            model,
            inputs,
            rows,
            reply,
            ticket,
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| ServingError::Inference("the micro-batcher has stopped".into()))?;
        answer
            .await
            .map_err(|_| ServingError::Inference("a batched engine call was lost".into()))?
    }
}

/// The common first dimension of every input, when there is one.
fn rows_of(inputs: &[Tensor]) -> Option<usize> {
    let first = inputs.first()?.shape.first().copied()?;
    inputs
        .iter()
        .all(|t| t.shape.first() == Some(&first))
        .then_some(first)
}

async fn collect(
    mut rx: mpsc::Receiver<Job>,
    opts: BatchOptions,
    metrics: Arc<Metrics>,
    engines: usize,
    pending: Arc<AtomicUsize>,
) {
    let slots = Arc::new(Semaphore::new(engines));
    let max_rows = opts.max_rows.max(1);
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(j) => j,
            None => match rx.recv().await {
                Some(j) => j,
                None => return,
            },
        };
        let deadline = tokio::time::Instant::now() + opts.window;
        let mut rows = first.rows;
        let mut jobs = vec![first];
        // Until the window closes, unless every request that has arrived is in the batch.
        while rows < max_rows && pending.load(Ordering::Acquire) > jobs.len() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(j)) if rows + j.rows > max_rows => {
                    carry = Some(j);
                    break;
                }
                Ok(Some(j)) => {
                    rows += j.rows;
                    jobs.push(j);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // Requests that arrived while every engine slot was busy join this batch.
        while carry.is_none() && rows < max_rows {
            match rx.try_recv() {
                Ok(j) if rows + j.rows > max_rows => carry = Some(j),
                Ok(j) => {
                    rows += j.rows;
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        for j in &mut jobs {
            j.ticket.release();
        }
        let metrics = Arc::clone(&metrics);
        tokio::task::spawn_blocking(move || {
            run_batch(jobs, &metrics);
            drop(slot);
        });
    }
}

/// One engine call for every job (or one each, when they cannot share one).
fn run_batch(mut jobs: Vec<Job>, metrics: &Metrics) {
    let Some(model) = jobs.first().map(|j| Arc::clone(&j.model)) else {
        return;
    };
    let alone = |j: Job| {
        metrics.record_batch(&model.name, &model.version, 1, j.rows);
        let _ = j.reply.send(model.engine.run(j.inputs));
    };
    if jobs.len() == 1 {
        if let Some(j) = jobs.pop() {
            alone(j);
        }
        return;
    }
    let total: usize = jobs.iter().map(|j| j.rows).sum();
    let n_inputs = jobs[0].inputs.len();
    let stacked: Option<Vec<Tensor>> = (0..n_inputs)
        .map(|i| {
            let parts: Vec<&Tensor> = jobs.iter().filter_map(|j| j.inputs.get(i)).collect();
            (parts.len() == jobs.len())
                .then(|| concat_rows(&parts))
                .flatten()
        })
        .collect();
    if let Some(inputs) = stacked {
        match model.engine.run(inputs) {
            Ok(outs) if outs.iter().all(|t| t.shape.first() == Some(&total)) => {
                metrics.record_batch(&model.name, &model.version, jobs.len(), total);
                let mut start = 0;
                for j in jobs {
                    let end = start + j.rows;
                    let part = outs.iter().map(|t| t.slice_rows(start, end)).collect();
                    let _ = j.reply.send(Ok(part));
                    start = end;
                }
                return;
            }
            Ok(_) => tracing::debug!(
                model = %model.name,
                "an output is not per row; running the batch's requests one by one"
            ),
            Err(e) => tracing::debug!(
                model = %model.name,
                error = %e,
                "the stacked call failed; running the batch's requests one by one"
            ),
        }
    }
    for j in jobs {
        alone(j);
    }
}
