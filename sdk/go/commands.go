package wrenn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/process"
)

// Commands runs processes in the sandbox.
type Commands struct{ dp *dataPlane }

// CommandResult is how a command ended and what it printed.
type CommandResult struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// Error is envd's description when the process could not run.
	Error string
}

// ProcessInfo describes a running process.
type ProcessInfo struct {
	PID  uint32
	Tag  string
	Cmd  string
	Args []string
	Envs map[string]string
	Cwd  string
}

// CommandOption adjusts a command.
type CommandOption func(*commandOptions)

type commandOptions struct {
	envs      map[string]string
	cwd       string
	user      string
	tag       string
	timeout   time.Duration
	stdin     bool
	onStdout  func([]byte)
	onStderr  func([]byte)
	onPty     func([]byte)
	allowFail bool
}

// WithEnv adds environment variables to the command.
func WithEnv(env map[string]string) CommandOption {
	return func(o *commandOptions) { o.envs = env }
}

// WithCwd sets the working directory (default: the user's home).
func WithCwd(dir string) CommandOption { return func(o *commandOptions) { o.cwd = dir } }

// WithUser picks the guest user (default "user").
func WithUser(user string) CommandOption { return func(o *commandOptions) { o.user = user } }

// WithTag names the process, to find it again by tag.
func WithTag(tag string) CommandOption { return func(o *commandOptions) { o.tag = tag } }

// WithCommandTimeout bounds the command's connection (Run's default is
// 60 s; 0 means none). When it passes, Run and Wait return a timeout error.
func WithCommandTimeout(d time.Duration) CommandOption {
	return func(o *commandOptions) { o.timeout = d }
}

// WithStdin keeps the command's stdin open for SendStdin.
func WithStdin() CommandOption { return func(o *commandOptions) { o.stdin = true } }

// OnStdout streams the command's stdout as it comes.
func OnStdout(f func([]byte)) CommandOption { return func(o *commandOptions) { o.onStdout = f } }

// OnStderr streams the command's stderr as it comes.
func OnStderr(f func([]byte)) CommandOption { return func(o *commandOptions) { o.onStderr = f } }

// OnPtyData streams a PTY's output as it comes.
func OnPtyData(f func([]byte)) CommandOption { return func(o *commandOptions) { o.onPty = f } }

// AllowNonZeroExit makes Run and Wait return the result without a
// [*CommandExitError] when the command exits non-zero.
func AllowNonZeroExit() CommandOption { return func(o *commandOptions) { o.allowFail = true } }

func buildOptions(defaultTimeout time.Duration, opts []CommandOption) commandOptions {
	o := commandOptions{timeout: defaultTimeout}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Run runs cmd with `/bin/bash -l -c` and waits for it. A non-zero exit is
// a [*CommandExitError] (carrying the result) unless [AllowNonZeroExit].
func (c *Commands) Run(ctx context.Context, cmd string, opts ...CommandOption) (*CommandResult, error) {
	o := buildOptions(60*time.Second, opts)
	h, err := c.start(ctx, cmd, o, nil)
	if err != nil {
		return nil, err
	}
	res, err := h.Wait(ctx)
	if ctx.Err() != nil {
		h.Disconnect() // the caller gave up: stop the stream too
	}
	return res, err
}

// Start runs cmd in the background and returns once it has started. The
// handle's stream lives until the command ends, its timeout passes or
// Disconnect; ctx bounds only the start.
func (c *Commands) Start(ctx context.Context, cmd string, opts ...CommandOption) (*CommandHandle, error) {
	return c.start(ctx, cmd, buildOptions(0, opts), nil)
}

func (c *Commands) start(ctx context.Context, cmd string, o commandOptions, pty *process.PTY) (*CommandHandle, error) {
	req := &process.StartRequest{
		Process: &process.ProcessConfig{Cmd: "/bin/bash", Args: []string{"-l", "-c", cmd}, Envs: o.envs},
		Pty:     pty,
	}
	if pty != nil {
		req.Process.Args = []string{"-i", "-l"}
		if req.Process.Envs == nil {
			req.Process.Envs = map[string]string{}
		}
		req.Process.Envs["TERM"] = "xterm-256color"
	}
	if o.cwd != "" {
		req.Process.Cwd = &o.cwd
	}
	if o.tag != "" {
		req.Tag = &o.tag
	}
	if o.stdin {
		t := true
		req.Stdin = &t
	}
	sctx, cancel := streamContext(ctx, o)
	stream, err := c.dp.process.Start(withUser(sctx, o.user), connect.NewRequest(req))
	if err != nil {
		cancel()
		return nil, fromConnect(err)
	}
	return newHandle(ctx, c, stream, cancel, o)
}

// Connect attaches to a running process by pid (e.g. one started in the
// background by an earlier program) and streams its output from now on.
func (c *Commands) Connect(ctx context.Context, pid uint32, opts ...CommandOption) (*CommandHandle, error) {
	o := buildOptions(0, opts)
	sctx, cancel := streamContext(ctx, o)
	req := &process.ConnectRequest{Process: pidSelector(pid)}
	stream, err := c.dp.process.Connect(withUser(sctx, o.user), connect.NewRequest(req))
	if err != nil {
		cancel()
		return nil, fromConnect(err)
	}
	return newHandle(ctx, c, stream, cancel, o)
}

// List returns the running processes.
func (c *Commands) List(ctx context.Context) ([]ProcessInfo, error) {
	resp, err := c.dp.process.List(ctx, connect.NewRequest(&process.ListRequest{}))
	if err != nil {
		return nil, fromConnect(err)
	}
	out := make([]ProcessInfo, 0, len(resp.Msg.GetProcesses()))
	for _, p := range resp.Msg.GetProcesses() {
		cfg := p.GetConfig()
		out = append(out, ProcessInfo{PID: p.GetPid(), Tag: p.GetTag(), Cmd: cfg.GetCmd(), Args: cfg.GetArgs(), Envs: cfg.GetEnvs(), Cwd: cfg.GetCwd()})
	}
	return out, nil
}

// Kill sends SIGKILL to pid; false when no such process runs.
func (c *Commands) Kill(ctx context.Context, pid uint32) (bool, error) {
	_, err := c.dp.process.SendSignal(ctx, connect.NewRequest(&process.SendSignalRequest{
		Process: pidSelector(pid), Signal: process.Signal_SIGNAL_SIGKILL,
	}))
	if err != nil {
		err = fromConnect(err)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// SendStdin writes data to the stdin of pid (started [WithStdin]).
func (c *Commands) SendStdin(ctx context.Context, pid uint32, data []byte) error {
	_, err := c.dp.process.SendInput(ctx, connect.NewRequest(&process.SendInputRequest{
		Process: pidSelector(pid),
		Input:   &process.ProcessInput{Input: &process.ProcessInput_Stdin{Stdin: data}},
	}))
	return fromConnect(err)
}

// CloseStdin closes the stdin of pid (EOF for the process).
func (c *Commands) CloseStdin(ctx context.Context, pid uint32) error {
	_, err := c.dp.process.CloseStdin(ctx, connect.NewRequest(&process.CloseStdinRequest{Process: pidSelector(pid)}))
	return fromConnect(err)
}

func pidSelector(pid uint32) *process.ProcessSelector {
	return &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: pid}}
}

// streamContext detaches a stream from the caller's context (which bounds
// only the start) and applies the command's timeout.
func streamContext(ctx context.Context, o commandOptions) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if o.timeout > 0 {
		return context.WithTimeout(base, o.timeout)
	}
	return context.WithCancel(base)
}

// processEventOf is the shape of Start and Connect stream messages.
type processEventOf[T any] interface {
	*T
	GetEvent() *process.ProcessEvent
}

// CommandHandle is a running command: wait for it, kill it, write to it.
type CommandHandle struct {
	// PID is the process id in the guest.
	PID uint32

	cmds   *Commands
	cancel context.CancelFunc
	opts   commandOptions
	done   chan struct{}

	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	result *CommandResult
	err    error
}

func newHandle[T any, PT processEventOf[T]](ctx context.Context, c *Commands, stream *connect.ServerStreamForClient[T], cancel context.CancelFunc, o commandOptions) (*CommandHandle, error) {
	h := &CommandHandle{cmds: c, cancel: cancel, opts: o, done: make(chan struct{})}
	// The first event is start{pid}.
	started := make(chan error, 1)
	go func() {
		defer close(h.done)
		defer cancel()
		defer stream.Close()
		first, ended := true, false
		for stream.Receive() {
			ev := PT(stream.Msg()).GetEvent()
			if first {
				first = false
				if s := ev.GetStart(); s != nil {
					h.PID = s.GetPid()
					started <- nil
					continue
				}
				started <- nil
			}
			// After the end event, keep reading to the end of the stream:
			// a body closed before EOF costs the pooled connection.
			if h.handle(ev) {
				ended = true
			}
		}
		if ended {
			return
		}
		err := fromConnect(stream.Err())
		if err == nil {
			err = errors.New("wrenn: command stream ended without an end event")
		}
		if first {
			started <- err
		}
		h.finish(nil, err)
	}()
	select {
	case err := <-started:
		if err != nil {
			<-h.done
			return nil, err
		}
		return h, nil
	case <-ctx.Done():
		cancel()
		<-h.done
		return nil, ctx.Err()
	}
}

// handle applies one event; true when it was the end.
func (h *CommandHandle) handle(ev *process.ProcessEvent) bool {
	switch {
	case ev.GetData() != nil:
		d := ev.GetData()
		if b := d.GetStdout(); b != nil {
			h.mu.Lock()
			h.stdout.Write(b)
			h.mu.Unlock()
			if h.opts.onStdout != nil {
				h.opts.onStdout(b)
			}
		}
		if b := d.GetStderr(); b != nil {
			h.mu.Lock()
			h.stderr.Write(b)
			h.mu.Unlock()
			if h.opts.onStderr != nil {
				h.opts.onStderr(b)
			}
		}
		if b := d.GetPty(); b != nil && h.opts.onPty != nil {
			h.opts.onPty(b)
		}
	case ev.GetEnd() != nil:
		end := ev.GetEnd()
		h.mu.Lock()
		res := &CommandResult{Stdout: h.stdout.String(), Stderr: h.stderr.String(), ExitCode: int(end.GetExitCode()), Error: end.GetError()}
		h.mu.Unlock()
		h.finish(res, nil)
		return true
	}
	return false
}

func (h *CommandHandle) finish(res *CommandResult, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.result == nil && h.err == nil {
		h.result, h.err = res, err
	}
}

// Wait blocks until the command ends (or ctx ends) and returns its result;
// a non-zero exit is a [*CommandExitError] unless [AllowNonZeroExit].
func (h *CommandHandle) Wait(ctx context.Context) (*CommandResult, error) {
	select {
	case <-h.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		if errors.Is(h.err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: command %d: %w", ErrTimeout, h.PID, h.err)
		}
		return nil, h.err
	}
	if h.result.ExitCode != 0 && !h.opts.allowFail {
		return h.result, &CommandExitError{Result: h.result}
	}
	return h.result, nil
}

// Stdout is the output received so far.
func (h *CommandHandle) Stdout() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stdout.String()
}

// Stderr is the error output received so far.
func (h *CommandHandle) Stderr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stderr.String()
}

// Kill sends SIGKILL to the command.
func (h *CommandHandle) Kill(ctx context.Context) (bool, error) { return h.cmds.Kill(ctx, h.PID) }

// SendStdin writes to the command's stdin (started [WithStdin]).
func (h *CommandHandle) SendStdin(ctx context.Context, data []byte) error {
	return h.cmds.SendStdin(ctx, h.PID, data)
}

// CloseStdin closes the command's stdin.
func (h *CommandHandle) CloseStdin(ctx context.Context) error {
	return h.cmds.CloseStdin(ctx, h.PID)
}

// Disconnect stops receiving the command's output; the command keeps
// running (attach again with [Commands.Connect] and its PID).
func (h *CommandHandle) Disconnect() {
	h.cancel()
	<-h.done
}
