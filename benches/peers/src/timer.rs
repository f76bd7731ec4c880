//! The suite's own timer: every case is calibrated once, then sampled round-robin, one sample of
//! each case per round, so that a change in the machine's load during the run (other builds,
//! frequency changes) touches every case alike. A case's figure is the median of its samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// What one call of a case carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Workload {
    /// Nothing (or as little as the API allows) in, nothing out.
    Noop,
    /// A small struct in, a small struct out (hello's `add`: 16 bytes each way).
    Struct,
    /// 4096 bytes in, 4096 bytes out.
    Payload4k,
}

impl Workload {
    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Noop => "no-op",
            Workload::Struct => "struct",
            Workload::Payload4k => "4 KiB",
        }
    }
}

/// Runs a routine `n` times and returns the time taken.
type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// One row of the table: a routine, what it does, and its samples.
pub struct Case<'a> {
    /// What one call carries.
    pub workload: Workload,
    /// The system (and API) the call goes through.
    pub system: &'static str,
    /// What one call does, in words.
    pub what: String,
    run: Run<'a>,
    iters: u64,
    samples: Vec<f64>,
}

impl<'a> Case<'a> {
    /// A case of `routine`, whose result is passed to `black_box` so it is not optimised away.
    /// The routine is called directly inside the timing loop; only the loop itself is behind a
    /// pointer, once per sample.
    pub fn new<R>(
        workload: Workload,
        system: &'static str,
        what: impl Into<String>,
        mut routine: impl FnMut() -> R + 'a,
    ) -> Case<'a> {
        Case {
            workload,
            system,
            what: what.into(),
            run: Box::new(move |n: u64| {
                let start = Instant::now();
                for _ in 0..n {
                    black_box(routine());
                }
                start.elapsed()
            }),
            iters: 0,
            samples: Vec::new(),
        }
    }

    /// Finds how many calls make one sample of about `sample_time` (after a warm-up).
    pub fn calibrate(&mut self, sample_time: Duration) {
        let mut iters: u64 = 1;
        loop {
            let elapsed = (self.run)(iters);
            if elapsed >= sample_time / 8 {
                let scale = sample_time.as_secs_f64() / elapsed.as_secs_f64();
                self.iters = ((iters as f64 * scale) as u64).max(1);
                return;
            }
            iters *= 2;
        }
    }

    /// Takes one sample: nanoseconds per call. A tenth as many untimed calls go first, so the
    /// sample measures the steady state, not the wake-up of a peer (a runner, a child process)
    /// left idle while the other cases ran.
    pub fn sample(&mut self) {
        (self.run)(self.iters / 10 + 1);
        let elapsed = (self.run)(self.iters);
        self.samples
            .push(elapsed.as_secs_f64() * 1e9 / self.iters as f64);
    }

    /// The median of the samples taken, in nanoseconds.
    pub fn median_ns(&self) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// Calibrates every case, then takes `rounds` samples of each, round-robin.
pub fn run_all(cases: &mut [Case<'_>], rounds: usize, sample_time: Duration) {
    for case in cases.iter_mut() {
        case.calibrate(sample_time);
    }
    for _ in 0..rounds {
        for case in cases.iter_mut() {
            case.sample();
        }
    }
}
