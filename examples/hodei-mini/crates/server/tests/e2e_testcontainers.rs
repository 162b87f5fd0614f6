//! Testcontainers, as platform tests use it for a shared dependency: a container kept in a
//! `static` is never dropped, so testcontainers never removes it; hodei-e2e removes it after
//! the suite (`defaults.remove_testcontainers`). testcontainers-rs starts no Ryuk reaper, and it
//! pulls only when the image is missing, so a local image needs no registry.
//! `cargo test -p hodei-mini-server --test e2e_testcontainers -- --ignored`

mod common;

use common::{DockerProvider, env, run_label};
use testcontainers::core::ExecCommand;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};
use tokio::sync::OnceCell;

fn busybox() -> GenericImage {
    let reference =
        env("HODEI_MINI_BUSYBOX_IMAGE").unwrap_or_else(|| "hodei-e2e.local/busybox:latest".into());
    let (name, tag) = reference.rsplit_once(':').unwrap_or((&reference, "latest"));
    GenericImage::new(name, tag)
}

fn sleeper() -> ContainerRequest<GenericImage> {
    let request = busybox().with_cmd(["sleep", "600"]);
    match run_label() {
        Some((key, value)) => request.with_label(key, value),
        None => request,
    }
}

static SHARED: OnceCell<ContainerAsync<GenericImage>> = OnceCell::const_new();

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker: run through hodei-e2e"]
async fn a_static_container_outlives_the_test() {
    let container = SHARED
        .get_or_init(|| async { sleeper().start().await.expect("start busybox") })
        .await;
    let state = DockerProvider::from_env()
        .docker()
        .inspect_container(container.id(), None)
        .await
        .unwrap();
    assert_eq!(state.state.and_then(|s| s.running), Some(true));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Docker: run through hodei-e2e"]
async fn a_scoped_container_is_removed_when_dropped() {
    let container = sleeper().start().await.expect("start busybox");
    let mut result = container
        .exec(ExecCommand::new(["echo", "inside"]))
        .await
        .unwrap();
    let output = result.stdout_to_vec().await.unwrap();
    assert_eq!(String::from_utf8_lossy(&output).trim(), "inside");
    let id = container.id().to_string();
    container.rm().await.unwrap();
    let gone = DockerProvider::from_env()
        .docker()
        .inspect_container(&id, None)
        .await;
    assert!(gone.is_err(), "container {id} is still there");
}
