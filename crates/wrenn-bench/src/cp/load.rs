//! A closed-loop HTTP load generator: `connections` tasks on keep-alive
//! connections each send the next request as soon as the last answered.
use std::time::{Duration, Instant};

use crate::stats::percentile;

/// What a load run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub requests: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// GETs `url` with `key` as bearer for `duration`; every answer must be 200.
pub async fn get(
    url: &str,
    key: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Load> {
    let samples = samples(url, key, connections, duration).await?;
    Ok(Load {
        requests: samples.latencies_ms.len(),
        per_second: samples.per_second(),
        p50_ms: percentile(&samples.latencies_ms, 50.0),
        p99_ms: percentile(&samples.latencies_ms, 99.0),
    })
}

/// Every request's latency of one load run, and how long it ran.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub latencies_ms: Vec<f64>,
    pub elapsed_secs: f64,
}

impl Samples {
    pub fn per_second(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.elapsed_secs
    }
}

/// [`get`]'s load, answering every latency (to pool runs' percentiles).
pub async fn samples(
    url: &str,
    key: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Samples> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (http, url, key) = (http.clone(), url.to_owned(), key.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let answer = http.get(&url).bearer_auth(&key).send().await?;
                let status = answer.status();
                answer.bytes().await?;
                anyhow::ensure!(status.is_success(), "GET {url} answered {status}");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(latencies)
        });
    }
    let mut latencies_ms = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies_ms.extend(joined??);
    }
    Ok(Samples {
        latencies_ms,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}
