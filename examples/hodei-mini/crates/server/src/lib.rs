//! hodei-mini: a job server shaped like the Hodei Jobs platform's, small enough to build on CI
//! in minutes. Jobs live in Postgres ([`Store`]); workers connect back over gRPC ([`serve`],
//! the `WorkerAgent` service of the shared `hodei-mini-proto` crate), claim one job, run it and
//! stream its output line by line, which the server stores and broadcasts ([`Event`]).
//!
//! A worker's session is one bidirectional stream: the worker sends `RegisterWorker`, the server
//! answers `JobAssignment` or `NoJob`, the worker sends a `LogLine` for every output line, then
//! `JobResult`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hodei_mini_proto::v1::{JobAssignment, NoJob, ServerMessage, WorkerMessage};
use hodei_mini_proto::{WorkerAgent, WorkerAgentServer, server_message, worker_message};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{Client, NoTls};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// The schema, in the order it is applied. hodei-e2e applies the same files (`migrations/`)
/// into its template database; [`Store::migrate`] is for a database that is not a copy of it.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_create_jobs.sql",
        include_str!("../migrations/0001_create_jobs.sql"),
    ),
    (
        "0002_create_job_logs.sql",
        include_str!("../migrations/0002_create_job_logs.sql"),
    ),
];

pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub worker_id: Option<String>,
    pub exit_code: Option<i32>,
}

/// What the server saw a worker do, for whoever follows a job live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Claimed { job_id: i64, worker_id: String },
    Log { job_id: i64, line: String },
    Finished { job_id: i64, exit_code: i32 },
}

/// The job store: one Postgres connection (tokio-postgres), no compile-time-checked queries,
/// so building needs no database.
pub struct Store {
    client: Client,
}

impl Store {
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("hodei-mini: postgres connection: {error}");
            }
        });
        Ok(Self { client })
    }

    /// Run SQL as is (`CREATE DATABASE ...` through an admin connection, for instance).
    pub async fn execute(&self, sql: &str) -> Result<(), Error> {
        Ok(self.client.batch_execute(sql).await?)
    }

    pub async fn migrate(&self) -> Result<(), Error> {
        for (_, sql) in MIGRATIONS {
            self.client.batch_execute(sql).await?;
        }
        Ok(())
    }

    pub async fn enqueue(&self, name: &str, command: &str) -> Result<i64, Error> {
        let row = self
            .client
            .query_one(
                "INSERT INTO jobs (name, command) VALUES ($1, $2) RETURNING id",
                &[&name, &command],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn job(&self, id: i64) -> Result<Job, Error> {
        let row = self
            .client
            .query_one(
                "SELECT id, name, status, worker_id, exit_code FROM jobs WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(Job {
            id: row.get(0),
            name: row.get(1),
            status: row.get(2),
            worker_id: row.get(3),
            exit_code: row.get(4),
        })
    }

    pub async fn count_jobs(&self) -> Result<i64, Error> {
        Ok(self
            .client
            .query_one("SELECT count(*) FROM jobs", &[])
            .await?
            .get(0))
    }

    pub async fn logs(&self, job_id: i64) -> Result<Vec<String>, Error> {
        let rows = self
            .client
            .query(
                "SELECT line FROM job_logs WHERE job_id = $1 ORDER BY seq",
                &[&job_id],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The oldest queued job, now running on `worker_id` (SKIP LOCKED: two workers never
    /// claim the same job).
    async fn claim(&self, worker_id: &str) -> Result<Option<(i64, String)>, Error> {
        let row = self
            .client
            .query_opt(
                "UPDATE jobs SET status = 'running', worker_id = $1 WHERE id = (
                     SELECT id FROM jobs WHERE status = 'queued'
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, command",
                &[&worker_id],
            )
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    async fn append_log(&self, job_id: i64, seq: i32, line: &str) -> Result<(), Error> {
        self.client
            .execute(
                "INSERT INTO job_logs (job_id, seq, line) VALUES ($1, $2, $3)",
                &[&job_id, &seq, &line],
            )
            .await?;
        Ok(())
    }

    async fn finish(&self, job_id: i64, exit_code: i32) -> Result<(), Error> {
        let status = if exit_code == 0 {
            "succeeded"
        } else {
            "failed"
        };
        self.client
            .execute(
                "UPDATE jobs SET status = $2, exit_code = $3, finished_at = now() WHERE id = $1",
                &[&job_id, &status, &exit_code],
            )
            .await?;
        Ok(())
    }
}

/// A running server: where workers reach it, and its event stream.
pub struct Server {
    pub addr: SocketAddr,
    events: broadcast::Sender<Event>,
}

impl Server {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// Listen for workers on `bind` (`0.0.0.0:0` so that containers reach it through the bridge).
pub async fn serve(store: Arc<Store>, bind: &str) -> std::io::Result<Server> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (events, _) = broadcast::channel(1024);
    let agent = Agent {
        store,
        events: events.clone(),
    };
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(WorkerAgentServer::new(agent))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
        if let Err(error) = served {
            eprintln!("hodei-mini: gRPC server: {error}");
        }
    });
    Ok(Server { addr, events })
}

/// The `WorkerAgent` service: one task per worker session.
struct Agent {
    store: Arc<Store>,
    events: broadcast::Sender<Event>,
}

type Replies = Pin<Box<dyn Stream<Item = Result<ServerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl WorkerAgent for Agent {
    type SessionStream = Replies;

    async fn session(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Replies>, Status> {
        let mut inbound = request.into_inner();
        let (replies, outbound) = mpsc::channel(4);
        let (store, events) = (self.store.clone(), self.events.clone());
        tokio::spawn(async move {
            if let Err(error) = run_session(&mut inbound, &replies, &store, &events).await {
                eprintln!("hodei-mini: worker session: {error}");
            }
            drop(replies); // ends the response stream once the worker is done
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(outbound))))
    }
}

async fn run_session(
    inbound: &mut Streaming<WorkerMessage>,
    replies: &mpsc::Sender<Result<ServerMessage, Status>>,
    store: &Store,
    events: &broadcast::Sender<Event>,
) -> Result<(), Error> {
    let first = inbound
        .next()
        .await
        .ok_or("worker closed before registering")??;
    let Some(worker_message::Payload::Register(worker)) = first.payload else {
        return Err("the first message must be RegisterWorker".into());
    };
    let reply = |payload| ServerMessage {
        payload: Some(payload),
    };
    let Some((job_id, command)) = store.claim(&worker.worker_id).await? else {
        replies
            .send(Ok(reply(server_message::Payload::NoJob(NoJob {}))))
            .await?;
        return Ok(());
    };
    let _ = events.send(Event::Claimed {
        job_id,
        worker_id: worker.worker_id,
    });
    replies
        .send(Ok(reply(server_message::Payload::Job(JobAssignment {
            job_id,
            command,
        }))))
        .await?;
    let mut seq = 0;
    while let Some(message) = inbound.next().await {
        match message?.payload {
            Some(worker_message::Payload::Log(log)) => {
                seq += 1;
                store.append_log(job_id, seq, &log.line).await?;
                let _ = events.send(Event::Log {
                    job_id,
                    line: log.line,
                });
            }
            Some(worker_message::Payload::Result(result)) => {
                store.finish(job_id, result.exit_code).await?;
                let _ = events.send(Event::Finished {
                    job_id,
                    exit_code: result.exit_code,
                });
                return Ok(());
            }
            _ => return Err("unexpected message during a job".into()),
        }
    }
    store.finish(job_id, -1).await?; // the worker went away mid-job
    let _ = events.send(Event::Finished {
        job_id,
        exit_code: -1,
    });
    Ok(())
}
