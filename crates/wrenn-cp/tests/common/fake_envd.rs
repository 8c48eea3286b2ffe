//! [`FakeEnvd`]: envd's `process.Process` Connect service on a local port,
//! for API tests of the routes that start commands (collected exec). It
//! runs every command as an echo of its `bash -c` text (exit 0), unless a
//! test scripted the next command's output; other calls are unimplemented.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::sync::{Arc, Mutex};

use connectrpc::{
    ConnectError, ErrorCode, InboundStream, RequestContext, Response, ServiceRequest,
    ServiceResult, ServiceStream,
};
use futures_util::stream;
use wrenn_cp::envd::ProcessOutput;
use wrenn_proto::process::{
    __buffa::oneof::process_event::{data_event::Output, Event},
    process_event::{DataEvent, EndEvent, StartEvent},
    CloseStdinRequest, CloseStdinResponse, ConnectRequest, ConnectResponse, ListRequest,
    ListResponse, Process, ProcessEvent, ProcessExt, SendInputRequest, SendInputResponse,
    SendSignalRequest, SendSignalResponse, StartRequest, StartResponse, StreamInputRequest,
    StreamInputResponse, UpdateRequest, UpdateResponse,
};

#[derive(Debug, Default)]
pub struct FakeEnvd {
    next: Mutex<Option<Vec<ProcessOutput>>>,
    /// Every started command's `StartRequest.stdin`.
    stdin: Mutex<Vec<Option<bool>>>,
}

impl FakeEnvd {
    /// Serves a new fake on 127.0.0.1; answers it and its base URL.
    pub async fn serve() -> (Arc<Self>, String) {
        let envd = Arc::new(Self::default());
        let router = envd.clone().register(connectrpc::Router::new());
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .fallback_service(router.into_axum_service());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake envd");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (envd, url)
    }

    /// The next command streams these instead of the echo.
    pub fn script_next(&self, output: Vec<ProcessOutput>) {
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = Some(output);
    }

    /// Whether each command started so far asked for an open stdin.
    pub fn stdin_requests(&self) -> Vec<Option<bool>> {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// envd's `GET /metrics`, with fixed figures.
pub async fn metrics() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "ts": 1_796_119_200, "cpu_count": 2, "cpu_used_pct": 12.5,
        "mem_total": 1_073_741_824u64, "mem_used": 536_870_912u64, "mem_cache": 1024,
        "disk_total": 2_147_483_648u64, "disk_used": 1_048_576,
    }))
}

fn unimplemented() -> ConnectError {
    ConnectError::new(ErrorCode::Unimplemented, "not in the fake envd")
}

fn message(output: ProcessOutput) -> StartResponse {
    let event = match output {
        ProcessOutput::Started { pid } => Event::Start(Box::new(StartEvent {
            pid,
            ..Default::default()
        })),
        ProcessOutput::Stdout(b) => data(Output::Stdout(b)),
        ProcessOutput::Stderr(b) => data(Output::Stderr(b)),
        ProcessOutput::Pty(b) => data(Output::Pty(b)),
        ProcessOutput::Ended { exit_code, status } => Event::End(Box::new(EndEvent {
            exit_code,
            status,
            exited: true,
            ..Default::default()
        })),
    };
    StartResponse {
        event: ProcessEvent {
            event: Some(event),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    }
}

fn data(output: Output) -> Event {
    Event::Data(Box::new(DataEvent {
        output: Some(output),
        ..Default::default()
    }))
}

// The generated trait returns `impl Encodable`; the fake names its types.
#[expect(
    refining_impl_trait,
    reason = "plain `async fn` handlers for the generated trait's `impl Future + Send`"
)]
impl Process for FakeEnvd {
    async fn list(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, ListRequest>,
    ) -> ServiceResult<ListResponse> {
        Err(unimplemented())
    }

    async fn connect(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, ConnectRequest>,
    ) -> ServiceResult<ServiceStream<ConnectResponse>> {
        Err(unimplemented())
    }

    async fn start(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, StartRequest>,
    ) -> ServiceResult<ServiceStream<StartResponse>> {
        let request = request.to_owned_message();
        self.stdin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.stdin);
        let command = request
            .process
            .into_option()
            .and_then(|p| p.args.get(2).cloned())
            .unwrap_or_default();
        let scripted = self.next.lock().unwrap_or_else(|e| e.into_inner()).take();
        let output = scripted.unwrap_or_else(|| {
            vec![
                ProcessOutput::Started { pid: 42 },
                ProcessOutput::Stdout(command.into_bytes()),
                ProcessOutput::Ended {
                    exit_code: 0,
                    status: "exit status 0".into(),
                },
            ]
        });
        Response::stream_ok(stream::iter(
            output
                .into_iter()
                .map(|o| Ok::<_, ConnectError>(message(o))),
        ))
    }

    async fn update(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, UpdateRequest>,
    ) -> ServiceResult<UpdateResponse> {
        Err(unimplemented())
    }

    async fn stream_input(
        &self,
        _ctx: RequestContext,
        _requests: InboundStream<StreamInputRequest>,
    ) -> ServiceResult<StreamInputResponse> {
        Err(unimplemented())
    }

    async fn send_input(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, SendInputRequest>,
    ) -> ServiceResult<SendInputResponse> {
        Err(unimplemented())
    }

    async fn send_signal(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, SendSignalRequest>,
    ) -> ServiceResult<SendSignalResponse> {
        Err(unimplemented())
    }

    async fn close_stdin(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, CloseStdinRequest>,
    ) -> ServiceResult<CloseStdinResponse> {
        Err(unimplemented())
    }
}
