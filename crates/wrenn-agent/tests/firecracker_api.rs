//! The Firecracker backend's request sequences against an in-process model of
//! Firecracker's API: a Unix-socket HTTP server that records every request
//! and answers 204, or 400 with a `fault_message` on a chosen path.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use wrenn_agent::vmm::{
    firecracker::{sequence, ApiClient, ApiError},
    GuestNet, TapAttachment, VmSpec,
};

type Recorded = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Serves the model on `socket` until the test ends.
fn serve_model(socket: &Path, fail_on: Option<&'static str>) -> Recorded {
    let listener = tokio::net::UnixListener::bind(socket).expect("bind");
    let recorded = Recorded::default();
    let log = recorded.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = log.clone();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let log = log.clone();
                async move {
                    let method = req.method().to_string();
                    let path = req.uri().path().to_owned();
                    let body = req.into_body().collect().await?.to_bytes();
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    log.lock().expect("lock").push((method, path.clone(), json));
                    let response = if fail_on == Some(path.as_str()) {
                        Response::builder()
                            .status(StatusCode::BAD_REQUEST)
                            .body(Full::new(Bytes::from(
                                r#"{"fault_message":"Invalid kernel path"}"#,
                            )))
                    } else {
                        Response::builder()
                            .status(StatusCode::NO_CONTENT)
                            .body(Full::new(Bytes::new()))
                    };
                    Ok::<_, hyper::Error>(response.expect("response"))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    recorded
}

fn tap_spec() -> VmSpec {
    VmSpec {
        run_dir: "/tmp/unused".into(),
        kernel: "/k/vmlinux".into(),
        root_disk: "/d/sb-1.ext4".into(),
        discard_writes: false,
        vcpus: 2,
        memory_mib: 512,
        net: GuestNet::Tap(TapAttachment {
            netns: "wrn-1".into(),
            tap: "tap1".into(),
            guest_mac: "02:fc:00:00:00:01".into(),
            guest_ip: "169.254.0.21".parse().expect("ip"),
            gateway_ip: "169.254.0.22".parse().expect("ip"),
            prefix_len: 30,
            dns: vec!["1.1.1.1".parse().expect("ip")],
        }),
        init: vec!["/usr/bin/envd".into()],
    }
}

fn requests(recorded: &Recorded) -> Vec<(String, String, Value)> {
    recorded.lock().expect("lock").clone()
}

async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test timed out")
}

#[tokio::test]
async fn boot_when_tap_then_configures_in_order_and_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("fc.sock");
    let recorded = serve_model(&socket, None);
    let plan = sequence::BootPlan::from_spec(&tap_spec()).expect("plan");

    bounded(sequence::configure_and_start(
        &ApiClient::new(&socket),
        &plan,
    ))
    .await
    .expect("boot sequence");

    let boot_args = "console=ttyS0 reboot=k panic=-1 pci=off quiet root=/dev/vda rw \
        ip=169.254.0.21::169.254.0.22:255.255.255.252:sandbox:eth0:off:1.1.1.1 \
        init=/usr/bin/envd";
    assert_eq!(
        requests(&recorded),
        vec![
            (
                "PUT".into(),
                "/machine-config".into(),
                json!({"vcpu_count": 2, "mem_size_mib": 512})
            ),
            (
                "PUT".into(),
                "/boot-source".into(),
                json!({"kernel_image_path": "/k/vmlinux", "boot_args": boot_args})
            ),
            (
                "PUT".into(),
                "/drives/rootfs".into(),
                json!({"drive_id": "rootfs", "path_on_host": "/d/sb-1.ext4",
                       "is_root_device": true, "is_read_only": false})
            ),
            (
                "PUT".into(),
                "/network-interfaces/eth0".into(),
                json!({"iface_id": "eth0", "host_dev_name": "tap1", "guest_mac": "02:fc:00:00:00:01"})
            ),
            (
                "PUT".into(),
                "/actions".into(),
                json!({"action_type": "InstanceStart"})
            ),
        ]
    );
}

#[tokio::test]
async fn boot_when_api_faults_then_error_carries_message_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("fc.sock");
    let recorded = serve_model(&socket, Some("/boot-source"));
    let plan = sequence::BootPlan::from_spec(&tap_spec()).expect("plan");

    let err = bounded(sequence::configure_and_start(
        &ApiClient::new(&socket),
        &plan,
    ))
    .await
    .expect_err("fault");

    assert!(
        matches!(err, ApiError::Fault { ref path, .. } if path == "/boot-source"),
        "{err}"
    );
    assert_eq!(err.fault_message(), Some("Invalid kernel path"));
    assert!(err.to_string().contains("400"), "{err}");
    assert_eq!(requests(&recorded).len(), 2, "no request after the fault");
}

#[tokio::test]
async fn pause_when_called_then_pauses_and_writes_full_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("fc.sock");
    let recorded = serve_model(&socket, None);

    bounded(sequence::pause_and_snapshot(
        &ApiClient::new(&socket),
        Path::new("/snap/sb-1"),
    ))
    .await
    .expect("pause sequence");

    assert_eq!(
        requests(&recorded),
        vec![
            ("PATCH".into(), "/vm".into(), json!({"state": "Paused"})),
            (
                "PUT".into(),
                "/snapshot/create".into(),
                json!({"snapshot_type": "Full", "snapshot_path": "/snap/sb-1/state",
                       "mem_file_path": "/snap/sb-1/memory"})
            ),
        ]
    );
}

#[tokio::test]
async fn restore_when_tap_then_loads_file_backend_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("fc.sock");
    let recorded = serve_model(&socket, None);
    let load = sequence::snapshot_load(Path::new("/snap/sb-1"), &tap_spec().net).expect("load");

    bounded(sequence::load_and_resume(&ApiClient::new(&socket), &load))
        .await
        .expect("restore sequence");

    assert_eq!(
        requests(&recorded),
        vec![(
            "PUT".into(),
            "/snapshot/load".into(),
            json!({
                "snapshot_path": "/snap/sb-1/state",
                "mem_backend": {"backend_type": "File", "backend_path": "/snap/sb-1/memory"},
                "resume_vm": true,
                "network_overrides": [{"iface_id": "eth0", "host_dev_name": "tap1"}]
            })
        )]
    );
}

#[tokio::test]
async fn snapshot_when_api_faults_then_pause_error_is_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("fc.sock");
    let _recorded = serve_model(&socket, Some("/snapshot/create"));

    let err = bounded(sequence::pause_and_snapshot(
        &ApiClient::new(&socket),
        Path::new("/s"),
    ))
    .await
    .expect_err("fault");

    assert_eq!(err.fault_message(), Some("Invalid kernel path"));
}
