//! The worker agent, as the platform's provider starts it in a container: connect back to the
//! server at `HODEI_SERVER_ADDR` (`host:port`), say who it is (`HODEI_WORKER_ID`), run the job
//! it is given with `sh -c`, stream every output line back, report the exit code, exit.

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hodei-mini-worker: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let addr = std::env::var("HODEI_SERVER_ADDR").map_err(|_| "HODEI_SERVER_ADDR is not set")?;
    let worker_id = std::env::var("HODEI_WORKER_ID").unwrap_or_else(|_| "unnamed".into());
    let stream = connect(&addr).await?;
    println!("worker {worker_id}: connected to {addr}");
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("HELLO {worker_id}\n").as_bytes())
        .await?;
    let mut replies = BufReader::new(read).lines();
    let reply = replies
        .next_line()
        .await?
        .ok_or("server closed the connection")?;
    let Some(job) = reply.strip_prefix("JOB ") else {
        println!("worker {worker_id}: no job");
        return Ok(());
    };
    let (job_id, command) = job.split_once(' ').ok_or("malformed JOB line")?;
    println!("worker {worker_id}: job {job_id}: {command}");

    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    while let Some(line) = output.next_line().await? {
        println!("{line}");
        write.write_all(format!("LOG {line}\n").as_bytes()).await?;
    }
    let code = child.wait().await?.code().unwrap_or(-1);
    write.write_all(format!("EXIT {code}\n").as_bytes()).await?;
    write.shutdown().await?;
    println!("worker {worker_id}: job {job_id} exited {code}");
    Ok(())
}

/// The server may still be coming up when the container starts: retry for ten seconds.
async fn connect(addr: &str) -> Result<TcpStream, Error> {
    let mut last = None;
    for _ in 0..50 {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "cannot reach the server at {addr}: {}",
        last.map_or_else(String::new, |e| e.to_string())
    )
    .into())
}
