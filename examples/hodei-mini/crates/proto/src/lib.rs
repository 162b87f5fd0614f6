//! The worker <-> server protocol (proto/worker_agent.proto), shared by both sides as the
//! platform shares its `hodei-jobs` proto crate.

pub mod v1 {
    tonic::include_proto!("hodei.mini.v1");
}

pub use v1::worker_agent_client::WorkerAgentClient;
pub use v1::worker_agent_server::{WorkerAgent, WorkerAgentServer};
pub use v1::{server_message, worker_message};
