package wrenn

import "time"

// REST models of the control plane's /v1 API, written from
// crates/wrenn-cp/openapi.json; models_test.go compares them with the
// document so drift fails the build.

// SandboxState is a sandbox's life-cycle state.
type SandboxState string

// The states a sandbox goes through.
const (
	StatePending  SandboxState = "pending"
	StateStarting SandboxState = "starting"
	StateRunning  SandboxState = "running"
	StatePaused   SandboxState = "paused"
	StateStopped  SandboxState = "stopped"
	StateError    SandboxState = "error"
	StateLost     SandboxState = "lost"
)

// TimeoutAction is what happens when a sandbox's timeout passes.
type TimeoutAction string

// Timeout actions.
const (
	TimeoutKill  TimeoutAction = "kill"
	TimeoutPause TimeoutAction = "pause"
)

// Role is a team member's role.
type Role string

// Roles.
const (
	RoleOwner  Role = "owner"
	RoleMember Role = "member"
)

// KeyOwner is whose an API key is.
type KeyOwner string

// Key owners.
const (
	KeyOwnerUser KeyOwner = "user"
	KeyOwnerTeam KeyOwner = "team"
)

// SandboxInfo is the control plane's view of a sandbox.
type SandboxInfo struct {
	ID                 string            `json:"id"`
	TeamID             string            `json:"team_id"`
	Template           string            `json:"template"`
	State              SandboxState      `json:"state"`
	Reason             string            `json:"reason"`
	VCPUs              int64             `json:"vcpus"`
	MemoryMB           int64             `json:"memory_mb"`
	DiskMB             *int64            `json:"disk_mb,omitempty"`
	Metadata           map[string]string `json:"metadata"`
	HostID             *string           `json:"host_id,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	StartedAt          *time.Time        `json:"started_at,omitempty"`
	TimeoutAt          *time.Time        `json:"timeout_at,omitempty"`
	UpdatedAt          time.Time         `json:"updated_at"`
	TimeoutSecs        int64             `json:"timeout_secs"`
	OnTimeout          TimeoutAction     `json:"on_timeout"`
	FromSnapshot       bool              `json:"from_snapshot"`
	AutoResume         bool              `json:"auto_resume"`
	PublicTraffic      bool              `json:"public_traffic"`
	Internet           bool              `json:"internet"`
	EgressAllow        []string          `json:"egress_allow"`
	EgressDeny         []string          `json:"egress_deny"`
	Domain             *string           `json:"domain,omitempty"`
	TrafficAccessToken *string           `json:"traffic_access_token,omitempty"`
	// EnvdAccessToken is in the answers of create, connect, resume and
	// fork only.
	EnvdAccessToken *string `json:"envd_access_token,omitempty"`
}

// createSandboxRequest is the body of POST /v1/sandboxes.
type createSandboxRequest struct {
	Template      *string           `json:"template,omitempty"`
	VCPUs         *int32            `json:"vcpus,omitempty"`
	MemoryMB      *int32            `json:"memory_mb,omitempty"`
	DiskMB        *int64            `json:"disk_mb,omitempty"`
	TimeoutSecs   *int64            `json:"timeout_secs,omitempty"`
	OnTimeout     *TimeoutAction    `json:"on_timeout,omitempty"`
	EnvVars       map[string]string `json:"env_vars,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	Internet      *bool             `json:"internet,omitempty"`
	EgressAllow   []string          `json:"egress_allow,omitempty"`
	EgressDeny    []string          `json:"egress_deny,omitempty"`
	Tags          []string          `json:"tags,omitempty"`
	AutoResume    *bool             `json:"auto_resume,omitempty"`
	PublicTraffic *bool             `json:"public_traffic,omitempty"`
}

type sandboxPage struct {
	Sandboxes  []*SandboxInfo `json:"sandboxes"`
	NextCursor *string        `json:"next_cursor,omitempty"`
}

type setTimeoutRequest struct {
	TimeoutSecs int64 `json:"timeout_secs"`
}

type pauseRequest struct {
	Memory *bool `json:"memory,omitempty"`
}

type forkRequest struct {
	Count       *int32 `json:"count,omitempty"`
	TimeoutSecs *int64 `json:"timeout_secs,omitempty"`
}

type forkedSandboxes struct {
	Sandboxes []*SandboxInfo `json:"sandboxes"`
}

type createSnapshotRequest struct {
	Name *string `json:"name,omitempty"`
}

// NetworkPolicy is a sandbox's whole egress policy (PUT .../network).
type NetworkPolicy struct {
	Internet *bool    `json:"internet,omitempty"`
	AllowOut []string `json:"allow_out,omitempty"`
	DenyOut  []string `json:"deny_out,omitempty"`
}

// Metrics is a sandbox's current resource use.
type Metrics struct {
	CPUCount    int64   `json:"cpu_count"`
	CPUUsedPct  float64 `json:"cpu_used_pct"`
	MemTotalMB  int64   `json:"mem_total_mb"`
	MemUsedMB   int64   `json:"mem_used_mb"`
	DiskTotalMB int64   `json:"disk_total_mb"`
	DiskUsedMB  int64   `json:"disk_used_mb"`
}

// MetricsSample is one sample of a sandbox's metrics history.
type MetricsSample struct {
	Timestamp     time.Time `json:"timestamp"`
	TimestampUnix int64     `json:"timestamp_unix"`
	CPUCount      int64     `json:"cpu_count"`
	CPUUsedPct    float64   `json:"cpu_used_pct"`
	MemTotalMB    int64     `json:"mem_total_mb"`
	MemUsedMB     int64     `json:"mem_used_mb"`
	DiskTotalMB   int64     `json:"disk_total_mb"`
	DiskUsedMB    int64     `json:"disk_used_mb"`
}

type metricsSeries struct {
	Samples []MetricsSample `json:"samples"`
}

// Template is a template a sandbox boots from (built-in, or a team's
// snapshot).
type Template struct {
	Name              string    `json:"name"`
	Builtin           bool      `json:"builtin"`
	TeamID            *string   `json:"team_id,omitempty"`
	VCPUs             int64     `json:"vcpus"`
	MemoryMB          int64     `json:"memory_mb"`
	DiskMB            *int64    `json:"disk_mb,omitempty"`
	HasMemorySnapshot bool      `json:"has_memory_snapshot"`
	CreatedAt         time.Time `json:"created_at"`
	SourceSandboxID   *string   `json:"source_sandbox_id,omitempty"`
}

type templateList struct {
	Templates []*Template `json:"templates"`
}

type snapshotList struct {
	Snapshots []*Template `json:"snapshots"`
}

// APIKey describes an API key (without its secret).
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	CreatedBy  *string    `json:"created_by,omitempty"`
	Owner      KeyOwner   `json:"owner"`
}

// CreatedKey is a new API key; Key is its secret, shown only here.
type CreatedKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	Key       string     `json:"key"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Owner     KeyOwner   `json:"owner"`
}

// CreateKeyParams is the body of a key creation.
type CreateKeyParams struct {
	Name          string    `json:"name"`
	ExpiresInSecs *int64    `json:"expires_in_secs,omitempty"`
	Owner         *KeyOwner `json:"owner,omitempty"`
	// E2B mints the key as `e2b_` + 40 hex digits.
	E2B bool `json:"e2b,omitempty"`
}

type keyList struct {
	Keys []*APIKey `json:"keys"`
}

// Team is a team the caller belongs to.
type Team struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Personal bool   `json:"personal"`
}

type teamList struct {
	Teams []*Team `json:"teams"`
}

type createTeamRequest struct {
	Name string `json:"name"`
}

// Member is a team member.
type Member struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Role   Role   `json:"role"`
}

type memberList struct {
	Members []*Member `json:"members"`
}

type addMemberRequest struct {
	Email string `json:"email"`
	Role  Role   `json:"role"`
}

// User is an account.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
}

// Me is who the caller is and which team the request acts on.
type Me struct {
	User  *User   `json:"user,omitempty"`
	Team  Team    `json:"team"`
	Teams []*Team `json:"teams"`
}

// Host is a machine running the host agent.
type Host struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	TeamID          *string    `json:"team_id,omitempty"`
	BYOC            bool       `json:"byoc"`
	Status          string     `json:"status"`
	StatusReason    string     `json:"status_reason"`
	Draining        bool       `json:"draining"`
	Address         string     `json:"address"`
	Specs           HostSpecs  `json:"specs"`
	Load            *HostLoad  `json:"load,omitempty"`
	Tags            []string   `json:"tags"`
	TLSFingerprint  *string    `json:"tls_fingerprint,omitempty"`
	ClockSkewMS     int64      `json:"clock_skew_ms"`
	LastHeartbeatAt *time.Time `json:"last_heartbeat_at,omitempty"`
	RegisteredAt    *time.Time `json:"registered_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
}

// HostSpecs is what a host reported at registration.
type HostSpecs struct {
	Arch         string `json:"arch"`
	CPUs         int64  `json:"cpus"`
	MemoryMB     int64  `json:"memory_mb"`
	DiskMB       int64  `json:"disk_mb"`
	Backend      string `json:"backend"`
	Accelerator  string `json:"accelerator"`
	AgentVersion string `json:"agent_version"`
}

// HostLoad is a host's last reported load.
type HostLoad struct {
	FreeVCPUs        int64 `json:"free_vcpus"`
	FreeMemoryMB     int64 `json:"free_memory_mb"`
	FreeDiskMB       int64 `json:"free_disk_mb"`
	SandboxesRunning int64 `json:"sandboxes_running"`
	SandboxesPaused  int64 `json:"sandboxes_paused"`
	// WarmPools are the agent's warm pools (empty without pools).
	WarmPools []WarmPoolLoad `json:"warm_pools,omitempty"`
}

// WarmPoolLoad is one warm pool in a host's heartbeat: Idle sandboxes
// ready now, the Target it keeps and what its setting Asked for (Target
// below Asked: capped to what the host's memory holds).
type WarmPoolLoad struct {
	Template string `json:"template"`
	VCPUs    int32  `json:"vcpus"`
	MemoryMB int64  `json:"memory_mb"`
	Idle     int32  `json:"idle,omitempty"`
	Target   int32  `json:"target,omitempty"`
	Asked    int32  `json:"asked,omitempty"`
}

// CreateHostParams is the body of a host creation.
type CreateHostParams struct {
	Name           string   `json:"name"`
	BYOC           bool     `json:"byoc,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	TLSFingerprint *string  `json:"tls_fingerprint,omitempty"`
}

// CreatedHost is a new host and the one-time token its agent registers
// with.
type CreatedHost struct {
	Host              Host      `json:"host"`
	RegistrationToken string    `json:"registration_token"`
	TokenExpiresAt    time.Time `json:"token_expires_at"`
}

// IssuedToken is a fresh registration token for a pending host.
type IssuedToken struct {
	RegistrationToken string    `json:"registration_token"`
	TokenExpiresAt    time.Time `json:"token_expires_at"`
}

type hostList struct {
	Hosts []*Host `json:"hosts"`
}

type updateHostRequest struct {
	Draining bool `json:"draining"`
}

type tagsBody struct {
	Tags []string `json:"tags"`
}

// Plan is a pool plan: sizes in GiB and counts, and its price.
type Plan struct {
	Name                  string `json:"name,omitempty"`
	VCPUs                 int64  `json:"vcpus"`
	MemoryGiB             int64  `json:"memory_gib"`
	StorageGiB            int64  `json:"storage_gib"`
	MaxRunning            int64  `json:"max_running"`
	MaxPaused             int64  `json:"max_paused"`
	PriceCents            int64  `json:"price_cents,omitempty"`
	Period                string `json:"period,omitempty"`
	Overflow              string `json:"overflow,omitempty"`
	BurstVCPUs            int64  `json:"burst_vcpus,omitempty"`
	BurstCentsPerVCPUHour int64  `json:"burst_cents_per_vcpu_hour,omitempty"`
	// QueueWaitSecs: with "queue", how long a create that asks no wait
	// waits for room (0-600 s).
	QueueWaitSecs int64 `json:"queue_wait_secs,omitempty"`
}

// PoolAmounts are amounts of a pool: its sizes or what is used.
type PoolAmounts struct {
	VCPUs      int64 `json:"vcpus"`
	MemoryMiB  int64 `json:"memory_mib"`
	StorageMiB int64 `json:"storage_mib"`
	Running    int64 `json:"running"`
	Paused     int64 `json:"paused"`
}

// Pool is a team's pool: its plan, its sizes (with the team's overrides)
// and what its sandboxes use. Plan and Size are nil for a team without a
// plan (no pool limit).
type Pool struct {
	TeamID    string       `json:"team_id"`
	Plan      *Plan        `json:"plan"`
	Size      *PoolAmounts `json:"size"`
	Used      PoolAmounts  `json:"used"`
	Over      bool         `json:"over"`
	UpdatedAt *time.Time   `json:"updated_at,omitempty"`
}

// UsageBy groups usage totals.
type UsageBy string

// Usage groupings.
const (
	UsageByDay      UsageBy = "day"
	UsageByHour     UsageBy = "hour"
	UsageBySandbox  UsageBy = "sandbox"
	UsageByTemplate UsageBy = "template"
)

// Usage is a team's usage totals per group over [Start, End).
type Usage struct {
	By      UsageBy       `json:"by"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`
	Entries []*UsageEntry `json:"entries"`
}

// UsageEntry is one group's usage. Key is the hour's or day's start
// (RFC 3339), the sandbox id or the template name.
type UsageEntry struct {
	Key              string  `json:"key"`
	Template         string  `json:"template,omitempty"`
	RunningSeconds   float64 `json:"running_seconds"`
	PausedSeconds    float64 `json:"paused_seconds"`
	VCPUSeconds      float64 `json:"vcpu_seconds"`
	MemoryGiBSeconds float64 `json:"memory_gib_seconds"`
	StorageGiBHours  float64 `json:"storage_gib_hours"`
	// GuestCPUSeconds is the CPU time the guests actually used (their
	// VMM processes), beside the reserved VCPUSeconds.
	GuestCPUSeconds float64 `json:"guest_cpu_seconds"`
}

// UsageInterval is one line of the usage export: a stretch a sandbox
// spent running or paused (EndedAt nil while it lasts).
type UsageInterval struct {
	SandboxID  string     `json:"sandbox_id"`
	Template   string     `json:"template"`
	HostID     *string    `json:"host_id"`
	Phase      string     `json:"phase"`
	VCPUs      int64      `json:"vcpus"`
	MemoryMiB  int64      `json:"memory_mib"`
	StorageMiB int64      `json:"storage_mib"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
}

// Invoice is an invoice preview: the plan's price plus burst past the
// pool, in cents. Plan is nil for a team without a plan (nothing charged).
type Invoice struct {
	Plan                  *string   `json:"plan"`
	Period                string    `json:"period"`
	Start                 time.Time `json:"start"`
	End                   time.Time `json:"end"`
	PriceCents            int64     `json:"price_cents"`
	BurstVCPUHours        float64   `json:"burst_vcpu_hours"`
	BurstCentsPerVCPUHour int64     `json:"burst_cents_per_vcpu_hour"`
	BurstCents            int64     `json:"burst_cents"`
	TotalCents            int64     `json:"total_cents"`
}
