//! What every E2E test binary shares: a database per test, taken the platform's way, and a
//! Docker worker provider (bollard).
#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::container::{Config, LogsOptions, RemoveContainerOptions, StartContainerOptions};
use bollard::models::HostConfig;
use futures_util::StreamExt;
use hodei_mini_server::{Event, Store};
use tokio::sync::broadcast;

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `io.hodei.e2e.run-id=$HODEI_E2E_RUN_ID` for what a test creates: the run that started the
/// suite then removes it, even while other runs share the engine.
pub fn run_label() -> Option<(String, String)> {
    env("HODEI_E2E_RUN_ID").map(|run_id| ("io.hodei.e2e.run-id".to_string(), run_id))
}

/// Names from an atomic counter: tests of one binary run in parallel threads, and hodei-e2e
/// gives every suite its own database name to start from, so names never collide.
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

pub struct TestDatabase {
    pub name: String,
    pub url: String,
    pub store: Arc<Store>,
}

/// A fresh database for one test: `CREATE DATABASE ... TEMPLATE` of the migrated template that
/// hodei-e2e prepared (HODEI_E2E_TEMPLATE_DATABASE), through the admin URL; without a template
/// (a plain Postgres), an empty database that the test migrates itself.
pub async fn test_database() -> TestDatabase {
    let admin_url = env("HODEI_E2E_ADMIN_DATABASE_URL")
        .or_else(|| env("DATABASE_URL").map(|url| with_database(&url, "postgres")))
        .expect("DATABASE_URL or HODEI_E2E_ADMIN_DATABASE_URL must be set (hodei-e2e sets both)");
    let base = env("HODEI_E2E_DATABASE_NAME").unwrap_or_else(|| "hodei_mini".into());
    let n = NEXT_DATABASE.fetch_add(1, Ordering::SeqCst);
    let suffix = format!("_t{n}");
    let name = format!("{}{suffix}", &base[..base.len().min(63 - suffix.len())]);

    let admin = Store::connect(&admin_url)
        .await
        .expect("connect to the admin database");
    let template = env("HODEI_E2E_TEMPLATE_DATABASE");
    let sql = match &template {
        Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        None => format!("CREATE DATABASE \"{name}\""),
    };
    admin
        .execute(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));

    let url = with_database(&admin_url, &name);
    let store = Store::connect(&url)
        .await
        .expect("connect to the test database");
    if template.is_none() {
        store.migrate().await.expect("apply the migrations");
    }
    TestDatabase {
        name,
        url,
        store: Arc::new(store),
    }
}

fn with_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("a postgres:// URL");
    format!("{server}/{name}")
}

/// The platform's Docker provider, reduced to what an E2E test needs.
pub struct DockerProvider {
    docker: Docker,
    image: String,
}

impl DockerProvider {
    pub fn from_env() -> Self {
        Self {
            docker: Docker::connect_with_local_defaults().expect("a Docker engine (DOCKER_HOST)"),
            image: env("HODEI_WORKER_IMAGE").unwrap_or_else(|| "hodei-worker:e2e-test".into()),
        }
    }

    /// Start a worker container that calls back to the server listening on `port` of this
    /// host, which containers reach as HODEI_SERVER_HOST.
    pub async fn provision(&self, worker_id: &str, port: u16) -> String {
        let host = env("HODEI_SERVER_HOST").unwrap_or_else(|| "host.docker.internal".into());
        let mut labels = HashMap::from([
            ("hodei.managed".to_string(), "true".to_string()),
            ("hodei.worker.id".to_string(), worker_id.to_string()),
        ]);
        labels.extend(run_label());
        let config = Config {
            image: Some(self.image.clone()),
            env: Some(vec![
                format!("HODEI_SERVER_ADDR={host}:{port}"),
                format!("HODEI_WORKER_ID={worker_id}"),
            ]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                extra_hosts: Some(vec!["host.docker.internal:host-gateway".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container::<String, String>(None, config)
            .await
            .unwrap_or_else(|e| panic!("create a worker from {}: {e}", self.image));
        self.docker
            .start_container(&created.id, None::<StartContainerOptions<String>>)
            .await
            .expect("start the worker container");
        created.id
    }

    /// The container's output until it exits, streamed as the worker writes it.
    pub async fn follow_logs(&self, id: &str) -> Vec<String> {
        let options = LogsOptions::<String> {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut stream = self.docker.logs(id, Some(options));
        let mut lines = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("read the worker's logs");
            for line in chunk.to_string().lines() {
                println!("[worker {}] {line}", &id[..12]);
                lines.push(line.to_string());
            }
        }
        lines
    }

    pub async fn destroy(&self, id: &str) {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        self.docker
            .remove_container(id, Some(options))
            .await
            .expect("remove the worker");
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

/// Every event of one job until it finished, or a panic after `timeout`.
pub async fn follow_job(
    events: &mut broadcast::Receiver<Event>,
    job_id: i64,
    timeout: Duration,
) -> (Vec<String>, i32) {
    let mut logs = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("job {job_id} did not finish within {timeout:?}"))
            .expect("the server's event stream");
        match event {
            Event::Log { job_id: id, line } if id == job_id => logs.push(line),
            Event::Finished {
                job_id: id,
                exit_code,
            } if id == job_id => return (logs, exit_code),
            _ => {}
        }
    }
}
