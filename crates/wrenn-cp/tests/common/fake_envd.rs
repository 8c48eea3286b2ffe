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
    /// Every started command: (cmd, args, cwd, env).
    commands: Mutex<Vec<Started>>,
    /// Commands whose text contains the key exit with the code.
    exits: Mutex<Vec<(String, i32)>>,
    /// Commands whose text contains one of these never end.
    hangs: Mutex<Vec<String>>,
    /// Files uploaded with `POST /files`: (path, bytes).
    uploads: Arc<Mutex<Vec<Upload>>>,
}

/// A file uploaded with `POST /files`: (path, bytes).
pub type Upload = (String, Vec<u8>);

/// A command as envd was asked to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub cmd: String,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub env: std::collections::BTreeMap<String, String>,
}

impl FakeEnvd {
    /// Serves a new fake on 127.0.0.1; answers it and its base URL.
    pub async fn serve() -> (Arc<Self>, String) {
        let envd = Arc::new(Self::default());
        let router = envd.clone().register(connectrpc::Router::new());
        let uploads = envd.uploads.clone();
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .route(
                "/files",
                axum::routing::post(
                    move |query: axum::extract::Query<
                        std::collections::HashMap<String, String>,
                    >,
                          body: axum::body::Bytes| async move {
                        let path = query.get("path").cloned().unwrap_or_default();
                        uploads
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((path, body.to_vec()));
                        axum::Json(serde_json::json!([]))
                    },
                ),
            )
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

    /// Commands containing `needle` exit with `code` (and print nothing).
    pub fn exit_when(&self, needle: &str, code: i32) {
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((needle.to_owned(), code));
    }

    /// Commands containing `needle` start and never end.
    pub fn hang_when(&self, needle: &str) {
        self.hangs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(needle.to_owned());
    }

    /// Every command started so far.
    pub fn commands(&self) -> Vec<Started> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every file uploaded so far: (path, bytes).
    pub fn uploads(&self) -> Vec<Upload> {
        self.uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        let process = request.process.into_option().unwrap_or_default();
        let started = Started {
            cmd: process.cmd.clone(),
            args: process.args.clone(),
            cwd: process.cwd.clone(),
            env: process.envs.clone().into_iter().collect(),
        };
        let text = format!("{} {}", started.cmd, started.args.join(" "));
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(started);
        let command = process.args.get(2).cloned().unwrap_or_default();
        let hangs = self
            .hangs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|n| text.contains(n.as_str()));
        if hangs {
            let started = stream::iter([Ok::<_, ConnectError>(message(ProcessOutput::Started {
                pid: 43,
            }))]);
            return Response::stream_ok(stream::StreamExt::chain(started, stream::pending()));
        }
        let exit = self
            .exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(n, _)| text.contains(n.as_str()))
            .map(|(_, code)| *code);
        let scripted = self.next.lock().unwrap_or_else(|e| e.into_inner()).take();
        let scripted = scripted.or_else(|| {
            exit.map(|exit_code| {
                vec![
                    ProcessOutput::Started { pid: 42 },
                    ProcessOutput::Stderr(b"boom\n".to_vec()),
                    ProcessOutput::Ended {
                        exit_code,
                        status: format!("exit status {exit_code}"),
                    },
                ]
            })
        });
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
