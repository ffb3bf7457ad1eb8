//! The decode pool: worker threads that run whisper off the async executor.
//!
//! Finals are served before partials; a stream's queued partial is replaced by its newer one (only the
//! latest partial of an utterance is worth decoding); a job whose cancel flag is set is dropped, and a
//! running one is aborted between decoder steps. Each worker keeps one whisper state per model it has
//! used, so nothing is re-created per request. Threads per decode come from the process CPU budget.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::cpu::CpuBudget;
use super::{clean, ModelCache, SpeechConfig};
use crate::audio::{level, SAMPLE_RATE};
use crate::backend::whisper::{fitted_audio_ctx, DecodeError, DecodeParams, Segment, WhisperDecoder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The last decode of an utterance: never skipped.
    Final,
    /// An interim decode of an open utterance: skipped when compute falls behind.
    Partial,
    /// Part of a file transcription: after live streams' finals, before their partials.
    Batch,
}

pub struct DecodeJob {
    pub priority: Priority,
    /// Which stream asked; a newer partial of the same stream replaces a queued one.
    pub stream: u64,
    pub config: SpeechConfig,
    pub pcm: Vec<f32>,
    pub language: Option<String>,
    pub prompt: Option<String>,
    pub cancel: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
pub struct DecodeOutput {
    pub segments: Vec<Segment>,
    pub config: SpeechConfig,
    pub queued_ms: f64,
    pub decode_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("skipped: a newer partial replaced it or the server is behind")]
    Skipped,
    #[error("cancelled")]
    Cancelled,
    #[error("the decode queue is full")]
    Overloaded,
    #[error("{0}")]
    Failed(String),
}

type Reply = oneshot::Sender<Result<DecodeOutput, JobError>>;

struct Queued {
    job: DecodeJob,
    reply: Reply,
    enqueued: Instant,
}

#[derive(Default)]
struct Queue {
    finals: VecDeque<Queued>,
    batch: VecDeque<Queued>,
    partials: VecDeque<Queued>,
    /// Set when the pool is dropped: workers finish the queue and exit.
    closing: bool,
}

/// Counters for the stats endpoint and benchmarks.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct PoolStats {
    pub queued_finals: usize,
    pub queued_batch: usize,
    pub queued_partials: usize,
    pub decodes: u64,
    pub partials_skipped: u64,
    pub busy_workers: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    models: Arc<ModelCache>,
    cpu: &'static CpuBudget,
    max_queued_finals: usize,
    workers: usize,
    decodes: AtomicU64,
    skipped: AtomicU64,
    busy: AtomicU64,
}

pub struct DecodePool {
    shared: Arc<Shared>,
}

/// Shortest audio handed to whisper; shorter utterances are padded with silence (whisper.cpp refuses
/// input under 100 ms and is unreliable under a second).
const MIN_SAMPLES: usize = SAMPLE_RATE as usize;

impl DecodePool {
    pub fn new(models: Arc<ModelCache>, workers: usize, max_queued_finals: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            models,
            cpu: CpuBudget::global(),
            max_queued_finals,
            workers: workers.max(1),
            decodes: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            busy: AtomicU64::new(0),
        });
        for i in 0..workers.max(1) {
            let s = shared.clone();
            std::thread::Builder::new().name(format!("decode-{i}")).spawn(move || worker(s)).expect("spawning a decode worker");
        }
        DecodePool { shared }
    }

    /// Queues a job; the receiver yields its result.
    pub fn submit(&self, job: DecodeJob) -> oneshot::Receiver<Result<DecodeOutput, JobError>> {
        let (tx, rx) = oneshot::channel();
        let mut q = self.shared.queue.lock().unwrap();
        let item = Queued { job, reply: tx, enqueued: Instant::now() };
        match item.job.priority {
            Priority::Final => {
                if q.finals.len() >= self.shared.max_queued_finals {
                    let _ = item.reply.send(Err(JobError::Overloaded));
                    return rx;
                }
                q.finals.push_back(item);
            }
            Priority::Batch => q.batch.push_back(item),
            Priority::Partial => {
                if let Some(pos) = q.partials.iter().position(|p| p.job.stream == item.job.stream) {
                    let old = q.partials.remove(pos).expect("position is valid");
                    self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                    let _ = old.reply.send(Err(JobError::Skipped));
                }
                q.partials.push_back(item);
            }
        }
        drop(q);
        self.shared.ready.notify_one();
        rx
    }

    /// Whether there is spare compute for an interim decode: a worker idle and no final waiting.
    pub fn has_spare_capacity(&self) -> bool {
        let q = self.shared.queue.lock().unwrap();
        q.finals.is_empty() && q.batch.is_empty() && q.partials.is_empty() && (self.shared.busy.load(Ordering::Relaxed) as usize) < self.shared.workers
    }

    pub fn stats(&self) -> PoolStats {
        let q = self.shared.queue.lock().unwrap();
        PoolStats {
            queued_finals: q.finals.len(),
            queued_batch: q.batch.len(),
            queued_partials: q.partials.len(),
            decodes: self.shared.decodes.load(Ordering::Relaxed),
            partials_skipped: self.shared.skipped.load(Ordering::Relaxed),
            busy_workers: self.shared.busy.load(Ordering::Relaxed),
        }
    }
}

impl Drop for DecodePool {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap().closing = true;
        self.shared.ready.notify_all();
    }
}

fn next_job(s: &Shared) -> Option<Queued> {
    let mut q = s.queue.lock().unwrap();
    loop {
        if let Some(j) = q.finals.pop_front().or_else(|| q.batch.pop_front()).or_else(|| q.partials.pop_front()) {
            return Some(j);
        }
        if q.closing {
            return None;
        }
        q = s.ready.wait(q).unwrap();
    }
}

fn worker(s: Arc<Shared>) {
    let mut decoders: HashMap<String, WhisperDecoder> = HashMap::new();
    while let Some(Queued { job, reply, enqueued }) = next_job(&s) {
        if job.cancel.load(Ordering::Relaxed) || reply.is_closed() {
            let _ = reply.send(Err(JobError::Cancelled));
            continue;
        }
        s.busy.fetch_add(1, Ordering::Relaxed);
        let queued_ms = enqueued.elapsed().as_secs_f64() * 1000.0;
        let result = run(&s, &mut decoders, &job).map(|(segments, decode_ms)| DecodeOutput {
            segments,
            config: job.config.clone(),
            queued_ms,
            decode_ms,
        });
        s.busy.fetch_sub(1, Ordering::Relaxed);
        s.decodes.fetch_add(1, Ordering::Relaxed);
        let _ = reply.send(result);
    }
}

fn run(s: &Shared, decoders: &mut HashMap<String, WhisperDecoder>, job: &DecodeJob) -> Result<(Vec<Segment>, f64), JobError> {
    if level::is_silent(&job.pcm) {
        return Ok((vec![], 0.0));
    }
    let model_name = &job.config.model;
    if !decoders.contains_key(model_name) {
        let model = s.models.get(model_name).map_err(|e| JobError::Failed(format!("{e:#}")))?;
        let decoder = model.decoder().map_err(|e| JobError::Failed(format!("{e:#}")))?;
        decoders.insert(model_name.clone(), decoder);
    }
    let decoder = decoders.get_mut(model_name).expect("inserted above");
    let permit = s.cpu.acquire(job.config.threads);
    if job.cancel.load(Ordering::Relaxed) {
        return Err(JobError::Cancelled);
    }
    let started = Instant::now();
    let params = DecodeParams {
        beam: job.config.beam,
        threads: permit.threads(),
        language: job.language.clone().or(Some("en".into())),
        prompt: job.prompt.clone(),
        word_timestamps: true,
        audio_ctx: job.config.fit_audio_ctx.then(|| fitted_audio_ctx(job.pcm.len().max(MIN_SAMPLES))),
    };
    let padded;
    let pcm = if job.pcm.len() < MIN_SAMPLES {
        padded = [job.pcm.as_slice(), &vec![0.0; MIN_SAMPLES - job.pcm.len()]].concat();
        &padded
    } else {
        &job.pcm
    };
    let segments = decoder.decode(pcm, &params, Some(job.cancel.clone())).map_err(|e| match e {
        DecodeError::Cancelled => JobError::Cancelled,
        other => JobError::Failed(other.to_string()),
    })?;
    Ok((clean(segments), started.elapsed().as_secs_f64() * 1000.0))
}
