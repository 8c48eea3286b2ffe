package wrenn

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// Sandbox is a handle on a running sandbox: its REST operations, and
// [Commands], [Pty] and [Files] on its guest agent.
type Sandbox struct {
	// ID is the sandbox's id.
	ID string
	// Info is the control plane's answer that made this handle.
	Info *SandboxInfo

	Commands *Commands
	Pty      *Pty
	Files    *Files

	client    *Client
	envdToken string
	domain    string
	dataPlane *dataPlane
}

func (c *Client) newSandbox(info *SandboxInfo) (*Sandbox, error) {
	if info.EnvdAccessToken == nil {
		return nil, fmt.Errorf("wrenn: the control plane's answer for sandbox %s has no envd_access_token (server too old?)", info.ID)
	}
	s := &Sandbox{ID: info.ID, Info: info, client: c, envdToken: *info.EnvdAccessToken}
	if info.Domain != nil {
		s.domain = *info.Domain
	}
	s.dataPlane = newDataPlane(c, info.ID, s.envdToken)
	s.Commands = &Commands{dp: s.dataPlane}
	s.Pty = &Pty{dp: s.dataPlane}
	s.Files = &Files{dp: s.dataPlane, sbx: s}
	return s, nil
}

// CreateOption sets a field of a sandbox creation.
type CreateOption func(*createSandboxRequest)

// WithTemplate picks the template (default `base`).
func WithTemplate(name string) CreateOption {
	return func(r *createSandboxRequest) { r.Template = &name }
}

// WithVCPUs sets the number of vCPUs (1-32).
func WithVCPUs(n int) CreateOption {
	return func(r *createSandboxRequest) { v := int32(n); r.VCPUs = &v }
}

// WithMemoryMB sets the memory in MiB (128-65536).
func WithMemoryMB(mb int) CreateOption {
	return func(r *createSandboxRequest) { v := int32(mb); r.MemoryMB = &v }
}

// WithDiskMB grows the disk to this size in MiB.
func WithDiskMB(mb int64) CreateOption {
	return func(r *createSandboxRequest) { r.DiskMB = &mb }
}

// WithTimeout sets the inactivity timeout (rounded to seconds).
func WithTimeout(d time.Duration) CreateOption {
	return func(r *createSandboxRequest) { s := int64(d / time.Second); r.TimeoutSecs = &s }
}

// WithOnTimeout picks what the timeout does: [TimeoutKill] or [TimeoutPause].
func WithOnTimeout(a TimeoutAction) CreateOption {
	return func(r *createSandboxRequest) { r.OnTimeout = &a }
}

// WithAutoResume makes a request through the sandbox proxy resume it when
// paused.
func WithAutoResume(on bool) CreateOption {
	return func(r *createSandboxRequest) { r.AutoResume = &on }
}

// WithEnvVars sets the environment of every command.
func WithEnvVars(env map[string]string) CreateOption {
	return func(r *createSandboxRequest) { r.EnvVars = env }
}

// WithMetadata sets free-form labels, filterable in List.
func WithMetadata(md map[string]string) CreateOption {
	return func(r *createSandboxRequest) { r.Metadata = md }
}

// WithInternet turns internet access outside the allow list on or off.
func WithInternet(on bool) CreateOption {
	return func(r *createSandboxRequest) { r.Internet = &on }
}

// WithEgress sets the CIDRs the sandbox may and may not reach.
func WithEgress(allow, deny []string) CreateOption {
	return func(r *createSandboxRequest) { r.EgressAllow, r.EgressDeny = allow, deny }
}

// WithHostTags requires a host carrying every tag.
func WithHostTags(tags ...string) CreateOption {
	return func(r *createSandboxRequest) { r.Tags = tags }
}

// WithPublicTraffic(false) makes user ports need the traffic access token.
func WithPublicTraffic(on bool) CreateOption {
	return func(r *createSandboxRequest) { r.PublicTraffic = &on }
}

// CreateSandbox creates a sandbox and returns when it runs. The request
// carries an Idempotency-Key made once per call, so a retried create never
// makes two sandboxes. Call Kill when done (`defer sbx.Kill(ctx)`).
func (c *Client) CreateSandbox(ctx context.Context, opts ...CreateOption) (*Sandbox, error) {
	var body createSandboxRequest
	for _, o := range opts {
		o(&body)
	}
	var info SandboxInfo
	err := c.do(ctx, call{
		method: "POST", path: "/v1/sandboxes", body: &body,
		headers: map[string][]string{"Idempotency-Key": {newIdempotencyKey()}},
	}, &info)
	if err != nil {
		return nil, err
	}
	return c.newSandbox(&info)
}

// ConnectSandbox returns a handle on an existing sandbox, resuming it when
// paused.
func (c *Client) ConnectSandbox(ctx context.Context, id string) (*Sandbox, error) {
	var info SandboxInfo
	if err := c.do(ctx, call{method: "POST", path: "/v1/sandboxes/" + pathEscape(id) + "/connect", idempotent: true}, &info); err != nil {
		return nil, err
	}
	return c.newSandbox(&info)
}

// GetSandbox returns a sandbox's current information.
func (c *Client) GetSandbox(ctx context.Context, id string) (*SandboxInfo, error) {
	var info SandboxInfo
	if err := c.do(ctx, call{method: "GET", path: "/v1/sandboxes/" + pathEscape(id)}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// KillSandbox destroys a sandbox.
func (c *Client) KillSandbox(ctx context.Context, id string) error {
	return c.do(ctx, call{method: "DELETE", path: "/v1/sandboxes/" + pathEscape(id)}, nil)
}

// ListOptions filters a sandbox listing.
type ListOptions struct {
	// State keeps sandboxes in this state only ("" for all).
	State SandboxState
	// Metadata keeps sandboxes carrying every pair.
	Metadata map[string]string
	// PageSize is the number per request (server default when 0).
	PageSize int
}

// ListSandboxes iterates over the team's sandboxes, fetching pages as it
// goes. Listed sandboxes carry no envd token: use [Client.ConnectSandbox]
// for a handle.
//
//	for info, err := range client.ListSandboxes(ctx, wrenn.ListOptions{State: wrenn.StateRunning}) {
//		if err != nil { return err }
//		fmt.Println(info.ID)
//	}
func (c *Client) ListSandboxes(ctx context.Context, opts ListOptions) iter.Seq2[*SandboxInfo, error] {
	return func(yield func(*SandboxInfo, error) bool) {
		cursor := ""
		for {
			q := url.Values{}
			if opts.State != "" {
				q.Set("state", string(opts.State))
			}
			for k, v := range opts.Metadata {
				q.Set("metadata["+k+"]", v)
			}
			if opts.PageSize > 0 {
				q.Set("limit", strconv.Itoa(opts.PageSize))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page sandboxPage
			if err := c.do(ctx, call{method: "GET", path: "/v1/sandboxes", query: q}, &page); err != nil {
				yield(nil, err)
				return
			}
			for _, s := range page.Sandboxes {
				if !yield(s, nil) {
					return
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				return
			}
			cursor = *page.NextCursor
		}
	}
}

func (s *Sandbox) path(suffix string) string { return "/v1/sandboxes/" + pathEscape(s.ID) + suffix }

// Kill destroys the sandbox. Killing one already gone is not an error.
func (s *Sandbox) Kill(ctx context.Context) error {
	err := s.client.KillSandbox(ctx, s.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// GetInfo fetches the sandbox's current information.
func (s *Sandbox) GetInfo(ctx context.Context) (*SandboxInfo, error) {
	return s.client.GetSandbox(ctx, s.ID)
}

// IsRunning reports whether the sandbox is running now.
func (s *Sandbox) IsRunning(ctx context.Context) (bool, error) {
	info, err := s.GetInfo(ctx)
	if err != nil {
		return false, err
	}
	return info.State == StateRunning, nil
}

// PauseOption adjusts a pause.
type PauseOption func(*pauseRequest)

// FilesystemOnly keeps only the disk: the next resume boots afresh on it
// (files stay, processes do not).
func FilesystemOnly() PauseOption {
	return func(r *pauseRequest) { f := false; r.Memory = &f }
}

// Pause pauses the sandbox, keeping its memory unless [FilesystemOnly].
func (s *Sandbox) Pause(ctx context.Context, opts ...PauseOption) error {
	var body pauseRequest
	for _, o := range opts {
		o(&body)
	}
	var info SandboxInfo
	if err := s.client.do(ctx, call{method: "POST", path: s.path("/pause"), body: &body}, &info); err != nil {
		return err
	}
	s.refresh(&info)
	return nil
}

// Resume resumes a paused sandbox.
func (s *Sandbox) Resume(ctx context.Context) error {
	var info SandboxInfo
	if err := s.client.do(ctx, call{method: "POST", path: s.path("/resume")}, &info); err != nil {
		return err
	}
	s.refresh(&info)
	return nil
}

// Connect resumes the sandbox if it is paused (a no-op when running).
func (s *Sandbox) Connect(ctx context.Context) error {
	var info SandboxInfo
	if err := s.client.do(ctx, call{method: "POST", path: s.path("/connect"), idempotent: true}, &info); err != nil {
		return err
	}
	s.refresh(&info)
	return nil
}

// refresh keeps the newest answer; the envd token never changes.
func (s *Sandbox) refresh(info *SandboxInfo) {
	if info.EnvdAccessToken == nil {
		info.EnvdAccessToken = &s.envdToken
	}
	s.Info = info
}

// SetTimeout moves the sandbox's inactivity deadline to d from now.
func (s *Sandbox) SetTimeout(ctx context.Context, d time.Duration) error {
	var info SandboxInfo
	body := setTimeoutRequest{TimeoutSecs: int64(d / time.Second)}
	if err := s.client.do(ctx, call{method: "POST", path: s.path("/timeout"), body: &body, idempotent: true}, &info); err != nil {
		return err
	}
	s.refresh(&info)
	return nil
}

// ForkOption adjusts a fork.
type ForkOption func(*forkRequest)

// ForkCount sets how many copies to make (1-16).
func ForkCount(n int) ForkOption {
	return func(r *forkRequest) { v := int32(n); r.Count = &v }
}

// ForkTimeout sets the copies' inactivity timeout.
func ForkTimeout(d time.Duration) ForkOption {
	return func(r *forkRequest) { v := int64(d / time.Second); r.TimeoutSecs = &v }
}

// Fork copies the running sandbox (memory, disk and processes); each copy
// is a sandbox of its own to Kill.
func (s *Sandbox) Fork(ctx context.Context, opts ...ForkOption) ([]*Sandbox, error) {
	var body forkRequest
	for _, o := range opts {
		o(&body)
	}
	var out forkedSandboxes
	if err := s.client.do(ctx, call{method: "POST", path: s.path("/fork"), body: &body}, &out); err != nil {
		return nil, err
	}
	copies := make([]*Sandbox, 0, len(out.Sandboxes))
	for _, info := range out.Sandboxes {
		c, err := s.client.newSandbox(info)
		if err != nil {
			return copies, err
		}
		copies = append(copies, c)
	}
	return copies, nil
}

// Snapshot saves the sandbox's disk as a team template (name "" lets the
// server pick `snap-<random>`); the sandbox keeps running. Create
// sandboxes from it with WithTemplate(t.Name).
func (s *Sandbox) Snapshot(ctx context.Context, name string) (*Template, error) {
	var body createSnapshotRequest
	if name != "" {
		body.Name = &name
	}
	var t Template
	if err := s.client.do(ctx, call{method: "POST", path: s.path("/snapshots"), body: &body}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// UpdateNetwork replaces the sandbox's whole egress policy.
func (s *Sandbox) UpdateNetwork(ctx context.Context, p NetworkPolicy) error {
	var info SandboxInfo
	if err := s.client.do(ctx, call{method: "PUT", path: s.path("/network"), body: &p}, &info); err != nil {
		return err
	}
	s.refresh(&info)
	return nil
}

// Metrics returns the sandbox's current resource use.
func (s *Sandbox) Metrics(ctx context.Context) (*Metrics, error) {
	var m Metrics
	if err := s.client.do(ctx, call{method: "GET", path: s.path("/metrics")}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// MetricsHistory returns the samples the host kept (every 5 s, the last
// hour) between start and end (zero times: unbounded), oldest first.
func (s *Sandbox) MetricsHistory(ctx context.Context, start, end time.Time) ([]MetricsSample, error) {
	q := url.Values{}
	if !start.IsZero() {
		q.Set("start", strconv.FormatInt(start.Unix(), 10))
	}
	if !end.IsZero() {
		q.Set("end", strconv.FormatInt(end.Unix(), 10))
	}
	var out metricsSeries
	if err := s.client.do(ctx, call{method: "GET", path: s.path("/metrics/history"), query: q}, &out); err != nil {
		return nil, err
	}
	return out.Samples, nil
}

// GetHost is the host name that reaches port in the sandbox through the
// sandbox proxy: `<port>-<id>.<domain>`. It is [ErrNoDomain] when the
// control plane has no domain.
func (s *Sandbox) GetHost(port int) (string, error) {
	if s.domain == "" {
		return "", ErrNoDomain
	}
	return strconv.Itoa(port) + "-" + s.ID + "." + s.domain, nil
}

// URL is https://GetHost(port).
func (s *Sandbox) URL(port int) (string, error) {
	h, err := s.GetHost(port)
	if err != nil {
		return "", err
	}
	return "https://" + h, nil
}

// TrafficAccessToken is the token user ports need when the sandbox was
// created with WithPublicTraffic(false) ("" otherwise).
func (s *Sandbox) TrafficAccessToken() string {
	if s.Info != nil && s.Info.TrafficAccessToken != nil {
		return *s.Info.TrafficAccessToken
	}
	return ""
}
