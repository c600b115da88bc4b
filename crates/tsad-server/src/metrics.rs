//! Counters and gauges for `/metrics`, hand-formatted as Prometheus text
//! (`tsad_<name>_<unit>[_total]`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Histogram buckets for run durations, in seconds.
const RUN_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; RUN_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's metrics. Cheap to update: one short lock per request or run.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    runs: Mutex<BTreeMap<String, Histogram>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters stay meaningful after a panic elsewhere; never poison the endpoint.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one HTTP request by method, matched route and status.
    pub fn record_request(&self, method: &str, path: &str, status: u16) {
        *lock(&self.requests)
            .entry((method.to_owned(), path.to_owned(), status))
            .or_default() += 1;
    }

    /// Records a finished run's wall time (queue wait excluded) under its final status.
    pub fn record_run(&self, status: &str, seconds: f64) {
        let mut runs = lock(&self.runs);
        let h = runs.entry(status.to_owned()).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, le) in RUN_BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition, with the job gauges given by the caller.
    pub fn render(&self, jobs_running: usize, jobs_queued: usize) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(
            out,
            "# HELP tsad_http_requests_total HTTP requests by method, route and status.\n\
             # TYPE tsad_http_requests_total counter"
        );
        for ((method, path, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "tsad_http_requests_total{{method=\"{}\",path=\"{}\",status=\"{status}\"}} {n}",
                label(method),
                label(path)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tsad_run_duration_seconds Wall time of finished runs, by final status.\n\
             # TYPE tsad_run_duration_seconds histogram"
        );
        for (status, h) in lock(&self.runs).iter() {
            let status = label(status);
            for (le, n) in RUN_BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "tsad_run_duration_seconds_bucket{{status=\"{status}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "tsad_run_duration_seconds_bucket{{status=\"{status}\",le=\"+Inf\"}} {}\n\
                 tsad_run_duration_seconds_sum{{status=\"{status}\"}} {}\n\
                 tsad_run_duration_seconds_count{{status=\"{status}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP tsad_jobs_running Runs executing now.\n# TYPE tsad_jobs_running gauge\n\
             tsad_jobs_running {jobs_running}\n\
             # HELP tsad_jobs_queued Runs waiting for a job slot.\n# TYPE tsad_jobs_queued gauge\n\
             tsad_jobs_queued {jobs_queued}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.record_request("GET", "/healthz", 200);
        m.record_request("GET", "/healthz", 200);
        m.record_run("succeeded", 0.7);
        let text = m.render(1, 3);
        for want in [
            "tsad_http_requests_total{method=\"GET\",path=\"/healthz\",status=\"200\"} 2",
            "tsad_run_duration_seconds_bucket{status=\"succeeded\",le=\"0.5\"} 0",
            "tsad_run_duration_seconds_bucket{status=\"succeeded\",le=\"1\"} 1",
            "tsad_run_duration_seconds_count{status=\"succeeded\"} 1",
            "tsad_jobs_running 1",
            "tsad_jobs_queued 3",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
        assert_eq!(label("a\"b\\"), "a\\\"b\\\\");
    }
}
