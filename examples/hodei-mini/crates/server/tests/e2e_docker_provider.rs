//! The platform's main E2E flow: a server in the test process, a worker container provisioned
//! through Docker that calls back to it, a job that runs there and streams its logs back.
//! `cargo test -p hodei-mini-server --test e2e_docker_provider -- --ignored`

mod common;

use std::time::Duration;

use common::{DockerProvider, TestDatabase, follow_job, test_database};
use hodei_mini_server::{Event, Server, serve};
use tokio::sync::broadcast::Receiver;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A server on a database of the test's own, listening for workers, with one job queued.
async fn server_with_job(
    name: &str,
    command: &str,
) -> (TestDatabase, Server, Receiver<Event>, i64) {
    let db = test_database().await;
    let server = serve(db.store.clone(), "0.0.0.0:0")
        .await
        .expect("bind the server");
    let events = server.subscribe();
    let job = db
        .store
        .enqueue(name, command)
        .await
        .expect("queue the job");
    (db, server, events, job)
}

#[tokio::test]
#[ignore = "needs Docker and Postgres: run through hodei-e2e"]
async fn docker_worker_runs_a_job_and_streams_its_logs() {
    let command = "echo hello from $HODEI_WORKER_ID; echo second line";
    let (db, server, mut events, job) = server_with_job("hello", command).await;

    let provider = DockerProvider::from_env();
    let container = provider.provision("worker-hello", server.addr.port()).await;
    let (logs, exit_code) = follow_job(&mut events, job, JOB_TIMEOUT).await;
    let container_logs = provider.follow_logs(&container).await;
    provider.destroy(&container).await;

    assert_eq!(logs, ["hello from worker-hello", "second line"]);
    assert_eq!(exit_code, 0);
    assert_eq!(
        db.store.logs(job).await.unwrap(),
        logs,
        "the server stored what it streamed"
    );
    let stored = db.store.job(job).await.unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.worker_id.as_deref()),
        ("succeeded", Some("worker-hello"))
    );
    assert!(
        container_logs
            .iter()
            .any(|line| line == "hello from worker-hello"),
        "{container_logs:?}"
    );
}

#[tokio::test]
#[ignore = "needs Docker and Postgres: run through hodei-e2e"]
async fn a_failing_job_reports_its_exit_code() {
    let (db, server, mut events, job) =
        server_with_job("doomed", "echo about to fail; exit 3").await;

    // This worker is never destroyed, as when a test panics before its cleanup: the exited
    // container stays behind (labelled hodei.managed=true) and the run removes it.
    let provider = DockerProvider::from_env();
    provider
        .provision("worker-doomed", server.addr.port())
        .await;
    let (logs, exit_code) = follow_job(&mut events, job, JOB_TIMEOUT).await;

    assert_eq!(
        (logs.as_slice(), exit_code),
        (["about to fail".to_string()].as_slice(), 3)
    );
    assert_eq!(db.store.job(job).await.unwrap().status, "failed");
}
