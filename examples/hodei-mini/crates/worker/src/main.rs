//! The worker agent, as the platform's provider starts it in a container: connect back to the
//! server at `HODEI_SERVER_ADDR` (`host:port`) over gRPC, register as `HODEI_WORKER_ID` (with its
//! host's resources and a self-signed identity certificate), run the job it is given with
//! `sh -c` in a scratch directory, stream every output line back (secrets masked), report the
//! exit code, print a JSON summary, exit.
//!
//! The job's output goes to stdout as it is; the worker's own diagnostics go to stderr through
//! `tracing` (`RUST_LOG`, default `info`).

use std::io::IsTerminal;
use std::process::{ExitCode, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use hodei_mini_proto::WorkerAgentClient;
use hodei_mini_proto::v1::{JobResult, LogLine, RegisterWorker, WorkerMessage};
use hodei_mini_proto::{server_message, worker_message};
use regex::Regex;
use serde::Serialize;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::codec::{FramedRead, LinesCodec};
use tonic::transport::{Channel, Endpoint};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
enum WorkerError {
    #[error("HODEI_SERVER_ADDR is not set")]
    NoServer,
    #[error("cannot reach the server at {addr}: {source}")]
    Unreachable {
        addr: String,
        source: tonic::transport::Error,
    },
    #[error("the server closed the session before assigning a job")]
    NoReply,
    #[error("the server went away mid-job")]
    ServerGone,
}

/// What the worker prints as its last line: one JSON object, for whoever reads its logs.
#[derive(Serialize)]
struct Summary<'a> {
    worker_id: &'a str,
    session_id: &'a str,
    job_id: Option<i64>,
    exit_code: Option<i32>,
    lines: usize,
    duration_ms: u128,
}

/// `password=...`, `token: ...` and the like, masked before a line leaves the worker.
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(password|passwd|secret|token|api[_-]?key)(\s*[=:]\s*)\S+")
        .expect("a valid pattern")
});

fn mask(line: &str) -> String {
    SECRET.replace_all(line, "${1}${2}***").into_owned()
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hodei-mini-worker: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let addr = std::env::var("HODEI_SERVER_ADDR").map_err(|_| WorkerError::NoServer)?;
    let worker_id = std::env::var("HODEI_WORKER_ID").unwrap_or_else(|_| "unnamed".into());
    let session_id = uuid::Uuid::new_v4().to_string();
    let register = registration(&worker_id, &session_id)?;
    let channel = connect(&addr).await?;
    println!("worker {worker_id}: connected to {addr}");

    let (outbound, requests) = mpsc::channel(64);
    let send = |payload| WorkerMessage {
        payload: Some(payload),
    };
    outbound
        .send(send(worker_message::Payload::Register(register)))
        .await?;
    let mut replies = WorkerAgentClient::new(channel)
        .session(ReceiverStream::new(requests))
        .await
        .context("open the worker session")?
        .into_inner();
    let reply = replies.next().await.ok_or(WorkerError::NoReply)??;
    let Some(server_message::Payload::Job(job)) = reply.payload else {
        println!("worker {worker_id}: no job");
        return summary(&worker_id, &session_id, None, None, 0, started);
    };
    println!("worker {worker_id}: job {}: {}", job.job_id, job.command);

    let workdir = tempfile::Builder::new()
        .prefix(&format!("job-{}-", job.job_id))
        .tempdir()
        .context("a scratch directory for the job")?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{}", job.command))
        .current_dir(workdir.path())
        .env("HODEI_JOB_ID", job.job_id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("start the job")?;
    let stdout = child.stdout.take().context("the job's stdout")?;
    let mut output = FramedRead::new(stdout, LinesCodec::new());
    let mut lines = 0;
    while let Some(line) = output.next().await {
        let line = mask(&line.context("read the job's output")?);
        println!("{line}");
        lines += 1;
        let log = LogLine {
            job_id: job.job_id,
            line,
            at: Some(timestamp(chrono::Utc::now())),
        };
        outbound
            .send(send(worker_message::Payload::Log(log)))
            .await
            .map_err(|_| WorkerError::ServerGone)?;
    }
    let code = child.wait().await?.code().unwrap_or(-1);
    let result = JobResult {
        job_id: job.job_id,
        exit_code: code,
    };
    outbound
        .send(send(worker_message::Payload::Result(result)))
        .await
        .map_err(|_| WorkerError::ServerGone)?;
    drop(outbound);
    // The server ends the session once it has stored the result.
    while let Some(reply) = replies.next().await {
        reply?;
    }
    println!("worker {worker_id}: job {} exited {code}", job.job_id);
    summary(
        &worker_id,
        &session_id,
        Some(job.job_id),
        Some(code),
        lines,
        started,
    )
}

fn summary(
    worker_id: &str,
    session_id: &str,
    job_id: Option<i64>,
    exit_code: Option<i32>,
    lines: usize,
    started: Instant,
) -> anyhow::Result<()> {
    let summary = Summary {
        worker_id,
        session_id,
        job_id,
        exit_code,
        lines,
        duration_ms: started.elapsed().as_millis(),
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// Who this worker is and what it has: the host's name, CPUs and memory, and a fresh
/// self-signed certificate naming the worker, read back to check it before it is sent.
fn registration(worker_id: &str, session_id: &str) -> anyhow::Result<RegisterWorker> {
    let mut params = rcgen::CertificateParams::new(vec![worker_id.to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, worker_id);
    let key = rcgen::KeyPair::generate()?;
    let pem = params.self_signed(&key)?.pem();

    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .context("a certificate in the PEM")??;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow::anyhow!("parse the worker certificate: {e}"))?;
    let subject = cert.subject().to_string();
    anyhow::ensure!(
        subject == format!("CN={worker_id}"),
        "the certificate names {subject}, not CN={worker_id}"
    );
    info!(%subject, not_after = %cert.validity().not_after, "worker identity");

    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let hostname = hostname::get()?.to_string_lossy().into_owned();
    let cpus = u32::try_from(num_cpus::get()).unwrap_or(u32::MAX);
    info!(%hostname, cpus, memory = system.total_memory(), %session_id, "registering");
    Ok(RegisterWorker {
        worker_id: worker_id.to_string(),
        session_id: session_id.to_string(),
        hostname,
        cpus,
        memory_bytes: system.total_memory(),
        certificate_pem: pem,
    })
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The server may still be coming up when the container starts: retry for ten seconds.
async fn connect(addr: &str) -> anyhow::Result<Channel> {
    let endpoint =
        Endpoint::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(2));
    let mut attempt = 0;
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(source) if attempt >= 50 => {
                return Err(WorkerError::Unreachable {
                    addr: addr.into(),
                    source,
                }
                .into());
            }
            Err(error) => {
                if attempt == 0 {
                    warn!(%addr, %error, "server not reachable yet, retrying");
                }
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
