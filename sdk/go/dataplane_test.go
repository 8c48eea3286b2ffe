package wrenn

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/filesystem"
	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/filesystem/filesystemconnect"
	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/process"
	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/process/processconnect"
)

// fakeEnvd answers like envd behind the sandbox proxy, and records the
// headers it saw.
type fakeEnvd struct {
	processconnect.UnimplementedProcessHandler
	filesystemconnect.UnimplementedFilesystemHandler

	mu      sync.Mutex
	headers []http.Header
	started *process.StartRequest
	killed  uint32
	files   map[string][]byte
}

func (f *fakeEnvd) record(h http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.headers = append(f.headers, h.Clone())
}

func (f *fakeEnvd) Start(ctx context.Context, req *connect.Request[process.StartRequest], stream *connect.ServerStream[process.StartResponse]) error {
	f.record(req.Header())
	f.mu.Lock()
	f.started = req.Msg
	f.mu.Unlock()
	script := req.Msg.GetProcess().GetArgs()[len(req.Msg.GetProcess().GetArgs())-1]
	send := func(ev *process.ProcessEvent) error { return stream.Send(&process.StartResponse{Event: ev}) }
	if err := send(&process.ProcessEvent{Event: &process.ProcessEvent_Start{Start: &process.ProcessEvent_StartEvent{Pid: 42}}}); err != nil {
		return err
	}
	out := func(b string) *process.ProcessEvent {
		return &process.ProcessEvent{Event: &process.ProcessEvent_Data{Data: &process.ProcessEvent_DataEvent{Output: &process.ProcessEvent_DataEvent_Stdout{Stdout: []byte(b)}}}}
	}
	errOut := &process.ProcessEvent{Event: &process.ProcessEvent_Data{Data: &process.ProcessEvent_DataEvent{Output: &process.ProcessEvent_DataEvent_Stderr{Stderr: []byte("warn\n")}}}}
	code := int32(0)
	if script == "exit 3" {
		code = 3
	}
	for _, ev := range []*process.ProcessEvent{out("hel"), out("lo\n"), errOut} {
		if err := send(ev); err != nil {
			return err
		}
	}
	return send(&process.ProcessEvent{Event: &process.ProcessEvent_End{End: &process.ProcessEvent_EndEvent{ExitCode: code, Exited: true, Status: "exit status"}}})
}

func (f *fakeEnvd) Connect(ctx context.Context, req *connect.Request[process.ConnectRequest], stream *connect.ServerStream[process.ConnectResponse]) error {
	f.record(req.Header())
	if req.Msg.GetProcess().GetPid() != 42 {
		return connect.NewError(connect.CodeNotFound, errors.New("no such process"))
	}
	_ = stream.Send(&process.ConnectResponse{Event: &process.ProcessEvent{Event: &process.ProcessEvent_Start{Start: &process.ProcessEvent_StartEvent{Pid: 42}}}})
	_ = stream.Send(&process.ConnectResponse{Event: &process.ProcessEvent{Event: &process.ProcessEvent_Data{Data: &process.ProcessEvent_DataEvent{Output: &process.ProcessEvent_DataEvent_Stdout{Stdout: []byte("later\n")}}}}})
	return stream.Send(&process.ConnectResponse{Event: &process.ProcessEvent{Event: &process.ProcessEvent_End{End: &process.ProcessEvent_EndEvent{Exited: true}}}})
}

func (f *fakeEnvd) SendSignal(ctx context.Context, req *connect.Request[process.SendSignalRequest]) (*connect.Response[process.SendSignalResponse], error) {
	if req.Msg.GetProcess().GetPid() != 42 {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such process"))
	}
	f.mu.Lock()
	f.killed = req.Msg.GetProcess().GetPid()
	f.mu.Unlock()
	return connect.NewResponse(&process.SendSignalResponse{}), nil
}

func (f *fakeEnvd) Stat(ctx context.Context, req *connect.Request[filesystem.StatRequest]) (*connect.Response[filesystem.StatResponse], error) {
	f.mu.Lock()
	b, ok := f.files[req.Msg.GetPath()]
	f.mu.Unlock()
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such file"))
	}
	return connect.NewResponse(&filesystem.StatResponse{Entry: &filesystem.EntryInfo{Name: "x", Path: req.Msg.GetPath(), Size: int64(len(b)), Type: filesystem.FileType_FILE_TYPE_FILE}}), nil
}

func (f *fakeEnvd) MakeDir(ctx context.Context, req *connect.Request[filesystem.MakeDirRequest]) (*connect.Response[filesystem.MakeDirResponse], error) {
	if req.Msg.GetPath() == "/exists" {
		return nil, connect.NewError(connect.CodeAlreadyExists, errors.New("exists"))
	}
	return connect.NewResponse(&filesystem.MakeDirResponse{Entry: &filesystem.EntryInfo{Path: req.Msg.GetPath()}}), nil
}

// serveFiles is envd's /files: octet-stream uploads and downloads.
func (f *fakeEnvd) serveFiles(w http.ResponseWriter, r *http.Request) {
	f.record(r.Header)
	if r.Header.Get("X-Access-Token") != "tok123" {
		writeJSON(w, 401, `{"message":"bad token","code":401}`)
		return
	}
	path := r.URL.Query().Get("path")
	switch r.Method {
	case http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.files[path] = b
		f.mu.Unlock()
		writeJSON(w, 200, `[{"path":"`+path+`","name":"x","type":"file"}]`)
	case http.MethodGet:
		f.mu.Lock()
		b, ok := f.files[path]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, 404, `{"message":"no such file","code":404}`)
			return
		}
		_, _ = w.Write(b)
	}
}

func newFakeSandbox(t *testing.T) (*Sandbox, *fakeEnvd) {
	t.Helper()
	fe := &fakeEnvd{files: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.Handle(processconnect.NewProcessHandler(fe))
	mux.Handle(filesystemconnect.NewFilesystemHandler(fe))
	mux.HandleFunc("/files", fe.serveFiles)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, _ := testClient(t, srv)
	sbx, err := c.newSandbox(mustInfo(t))
	if err != nil {
		t.Fatal(err)
	}
	return sbx, fe
}

func TestRun_collectsOutputAndStreamsCallbacks(t *testing.T) {
	sbx, fe := newFakeSandbox(t)
	var streamed strings.Builder

	res, err := sbx.Commands.Run(context.Background(), "echo hello", WithCwd("/tmp"), WithEnv(map[string]string{"A": "1"}),
		OnStdout(func(b []byte) { streamed.Write(b) }))

	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "hello\n" || res.Stderr != "warn\n" || res.ExitCode != 0 || streamed.String() != "hello\n" {
		t.Fatalf("%+v, streamed %q", res, streamed.String())
	}
	p := fe.started.GetProcess()
	if p.GetCmd() != "/bin/bash" || strings.Join(p.GetArgs(), " ") != "-l -c echo hello" || p.GetCwd() != "/tmp" || p.GetEnvs()["A"] != "1" {
		t.Fatalf("started %v", p)
	}
}

func TestRun_sendsProxyAndEnvdHeaders(t *testing.T) {
	sbx, fe := newFakeSandbox(t)

	_, err := sbx.Commands.Run(context.Background(), "true", WithUser("root"))

	if err != nil {
		t.Fatal(err)
	}
	h := fe.headers[0]
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("root:"))
	if h.Get("E2b-Sandbox-Id") != "sbx1" || h.Get("E2b-Sandbox-Port") != "49983" || h.Get("X-Access-Token") != "tok123" || h.Get("Authorization") != basic {
		t.Fatalf("headers %v", h)
	}
}

func TestRun_whenExitNonZero_thenCommandExitError(t *testing.T) {
	sbx, _ := newFakeSandbox(t)

	res, err := sbx.Commands.Run(context.Background(), "exit 3")

	var ce *CommandExitError
	if !errors.As(err, &ce) || ce.Result.ExitCode != 3 || ce.Result.Stdout != "hello\n" || res.ExitCode != 3 {
		t.Fatalf("%v", err)
	}
	if _, err := sbx.Commands.Run(context.Background(), "exit 3", AllowNonZeroExit()); err != nil {
		t.Fatalf("AllowNonZeroExit: %v", err)
	}
}

func TestBackground_connectByPid_andKill(t *testing.T) {
	sbx, fe := newFakeSandbox(t)
	ctx := context.Background()
	h, err := sbx.Commands.Start(ctx, "sleep 100")
	if err != nil || h.PID != 42 {
		t.Fatalf("start: %v pid %d", err, h.PID)
	}

	again, err := sbx.Commands.Connect(ctx, h.PID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := again.Wait(ctx)
	if err != nil || res.Stdout != "later\n" {
		t.Fatalf("%+v %v", res, err)
	}
	if ok, err := h.Kill(ctx); !ok || err != nil || fe.killed != 42 {
		t.Fatalf("kill: %v %v", ok, err)
	}
	if ok, err := sbx.Commands.Kill(ctx, 7); ok || err != nil {
		t.Fatalf("kill of a missing pid: %v %v", ok, err)
	}
}

func TestConnect_whenNoSuchPid_thenNotFound(t *testing.T) {
	sbx, _ := newFakeSandbox(t)
	_, err := sbx.Commands.Connect(context.Background(), 7)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
}

func TestFiles_writeReadExistsMakeDir(t *testing.T) {
	sbx, _ := newFakeSandbox(t)
	ctx := context.Background()

	if _, err := sbx.Files.Write(ctx, "/a.txt", io.LimitReader(strings.NewReader(strings.Repeat("x", 1<<20)), 1<<20)); err != nil {
		t.Fatal(err)
	}
	var sink countingWriter
	n, err := sbx.Files.ReadTo(ctx, "/a.txt", &sink)
	if err != nil || n != 1<<20 || sink.n != 1<<20 {
		t.Fatalf("read %d %v", n, err)
	}
	if ok, err := sbx.Files.Exists(ctx, "/a.txt"); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if ok, err := sbx.Files.Exists(ctx, "/nope"); ok || err != nil {
		t.Fatalf("exists missing: %v %v", ok, err)
	}
	if created, err := sbx.Files.MakeDir(ctx, "/exists"); created || err != nil {
		t.Fatalf("mkdir existing: %v %v", created, err)
	}
	_, err = sbx.Files.Read(ctx, "/nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("read missing: %v", err)
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestSignedURLs_matchEnvdSignature(t *testing.T) {
	sbx, _ := newFakeSandbox(t)

	u, err := sbx.Files.DownloadURL("/home/user/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := url.Parse(u)
	if parsed.Scheme != "https" || parsed.Host != "49983-sbx1.wrenn.test" || parsed.Path != "/files" {
		t.Fatalf("url %s", u)
	}
	// Expected values computed independently (python3 hashlib).
	if got := parsed.Query().Get("signature"); got != "v1_HB2bgZ+RgifWQVkD4WDT8wNBFTVrggZWSRD5EqI0H/0" {
		t.Fatalf("signature %s", got)
	}
	if got := fileSignature("/home/user/a.txt", "write", "root", "tok123", 1700000000); got != "v1_0KSBPc1lTrcMmrxRZRpQeytcE7kk6pykK3QDq0mtU5E" {
		t.Fatalf("signature with expiration %s", got)
	}
}

func TestGetHost_withAndWithoutDomain(t *testing.T) {
	sbx, _ := newFakeSandbox(t)
	if h, err := sbx.GetHost(8000); err != nil || h != "8000-sbx1.wrenn.test" {
		t.Fatalf("%s %v", h, err)
	}
	sbx.domain = ""
	if _, err := sbx.GetHost(8000); !errors.Is(err, ErrNoDomain) {
		t.Fatal(err)
	}
}

func TestListSandboxes_followsCursorAcrossPages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") != "running" || r.URL.Query().Get("metadata[app]") != "x" {
			writeJSON(w, 400, `{"error":{"code":"bad_request","message":"filters"}}`)
			return
		}
		switch r.URL.Query().Get("cursor") {
		case "":
			writeJSON(w, 200, `{"sandboxes":[{"id":"a"},{"id":"b"}],"next_cursor":"c2"}`)
		case "c2":
			writeJSON(w, 200, `{"sandboxes":[{"id":"c"}],"next_cursor":null}`)
		}
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	var ids []string
	for info, err := range c.ListSandboxes(context.Background(), ListOptions{State: StateRunning, Metadata: map[string]string{"app": "x"}, PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("%v", ids)
	}
}

func TestDataPlane_reusesOneConnection(t *testing.T) {
	sbx, _ := newFakeSandbox(t)
	var mu sync.Mutex
	fresh := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			if !i.Reused {
				fresh++
			}
		},
	})
	for i := 0; i < 3; i++ {
		if _, err := sbx.Commands.Run(ctx, "echo"); err != nil {
			t.Fatal(err)
		}
		if _, err := sbx.Commands.Run(ctx, "exit 3"); err == nil {
			t.Fatal("exit 3 succeeded")
		}
		if _, err := sbx.Files.Exists(ctx, "/missing"); err != nil {
			t.Fatal(err)
		}
		if _, err := sbx.Files.Read(ctx, "/missing"); err == nil {
			t.Fatal("read of a missing file succeeded")
		}
	}
	if fresh != 1 {
		t.Fatalf("%d connections made for 12 sequential calls, want 1", fresh)
	}
}

func TestRun_whenContextAlreadyDone_thenContextError(t *testing.T) {
	sbx, _ := newFakeSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sbx.Commands.Run(ctx, "echo")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}
