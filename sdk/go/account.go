package wrenn

import (
	"context"
	"net/url"
)

// TemplatesService lists and deletes templates and snapshots.
type TemplatesService struct{ c *Client }

// List returns the built-in templates and the team's own.
func (s *TemplatesService) List(ctx context.Context) ([]*Template, error) {
	var out templateList
	err := s.c.do(ctx, call{method: "GET", path: "/v1/templates"}, &out)
	return out.Templates, err
}

// Get returns one template.
func (s *TemplatesService) Get(ctx context.Context, name string) (*Template, error) {
	var t Template
	if err := s.c.do(ctx, call{method: "GET", path: "/v1/templates/" + pathEscape(name)}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Delete deletes a team template (a snapshot included).
func (s *TemplatesService) Delete(ctx context.Context, name string) error {
	return s.c.do(ctx, call{method: "DELETE", path: "/v1/templates/" + pathEscape(name)}, nil)
}

// ListSnapshots returns the team's templates made from sandboxes, newest
// first; sandboxID and name filter when non-empty.
func (s *TemplatesService) ListSnapshots(ctx context.Context, sandboxID, name string) ([]*Template, error) {
	q := url.Values{}
	if sandboxID != "" {
		q.Set("sandbox_id", sandboxID)
	}
	if name != "" {
		q.Set("name", name)
	}
	var out snapshotList
	err := s.c.do(ctx, call{method: "GET", path: "/v1/snapshots", query: q}, &out)
	return out.Snapshots, err
}

// KeysService manages the team's API keys.
type KeysService struct{ c *Client }

// Create mints a key; its secret is only in this answer.
func (s *KeysService) Create(ctx context.Context, p CreateKeyParams) (*CreatedKey, error) {
	var k CreatedKey
	if err := s.c.do(ctx, call{method: "POST", path: "/v1/keys", body: &p}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// List returns the team's keys.
func (s *KeysService) List(ctx context.Context) ([]*APIKey, error) {
	var out keyList
	err := s.c.do(ctx, call{method: "GET", path: "/v1/keys"}, &out)
	return out.Keys, err
}

// Revoke revokes a key.
func (s *KeysService) Revoke(ctx context.Context, id string) error {
	return s.c.do(ctx, call{method: "DELETE", path: "/v1/keys/" + pathEscape(id)}, nil)
}

// TeamsService reads the caller's identity, teams and members.
type TeamsService struct{ c *Client }

// Me says who the caller is and which team requests act on.
func (s *TeamsService) Me(ctx context.Context) (*Me, error) {
	var m Me
	if err := s.c.do(ctx, call{method: "GET", path: "/v1/me"}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// List returns the caller's teams.
func (s *TeamsService) List(ctx context.Context) ([]*Team, error) {
	var out teamList
	err := s.c.do(ctx, call{method: "GET", path: "/v1/teams"}, &out)
	return out.Teams, err
}

// Create makes a team with the caller as owner (user login only).
func (s *TeamsService) Create(ctx context.Context, name string) (*Team, error) {
	var t Team
	if err := s.c.do(ctx, call{method: "POST", path: "/v1/teams", body: &createTeamRequest{Name: name}}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Members lists a team's members.
func (s *TeamsService) Members(ctx context.Context, teamID string) ([]*Member, error) {
	var out memberList
	err := s.c.do(ctx, call{method: "GET", path: "/v1/teams/" + pathEscape(teamID) + "/members"}, &out)
	return out.Members, err
}

// AddMember adds an existing user to a team (owners only).
func (s *TeamsService) AddMember(ctx context.Context, teamID, email string, role Role) (*Member, error) {
	var m Member
	err := s.c.do(ctx, call{method: "POST", path: "/v1/teams/" + pathEscape(teamID) + "/members",
		body: &addMemberRequest{Email: email, Role: role}}, &m)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// RemoveMember removes a user from a team (their own keys there are
// revoked).
func (s *TeamsService) RemoveMember(ctx context.Context, teamID, userID string) error {
	return s.c.do(ctx, call{method: "DELETE", path: "/v1/teams/" + pathEscape(teamID) + "/members/" + pathEscape(userID)}, nil)
}

// HostsService manages hosts (platform admins, or team owners for
// bring-your-own-cloud hosts).
type HostsService struct{ c *Client }

// Create records a host and returns the one-time registration token its
// agent starts with.
func (s *HostsService) Create(ctx context.Context, p CreateHostParams) (*CreatedHost, error) {
	var h CreatedHost
	if err := s.c.do(ctx, call{method: "POST", path: "/v1/hosts", body: &p}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// List returns the hosts the caller may see.
func (s *HostsService) List(ctx context.Context) ([]*Host, error) {
	var out hostList
	err := s.c.do(ctx, call{method: "GET", path: "/v1/hosts"}, &out)
	return out.Hosts, err
}

// Get returns one host.
func (s *HostsService) Get(ctx context.Context, id string) (*Host, error) {
	var h Host
	if err := s.c.do(ctx, call{method: "GET", path: "/v1/hosts/" + pathEscape(id)}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// SetDraining starts (true) or ends (false) draining a host: a draining
// host keeps its sandboxes but takes no new ones.
func (s *HostsService) SetDraining(ctx context.Context, id string, draining bool) (*Host, error) {
	var h Host
	err := s.c.do(ctx, call{method: "PATCH", path: "/v1/hosts/" + pathEscape(id),
		body: &updateHostRequest{Draining: draining}, idempotent: true}, &h)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// Delete deletes a host; force also while sandboxes live on it.
func (s *HostsService) Delete(ctx context.Context, id string, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "true")
	}
	return s.c.do(ctx, call{method: "DELETE", path: "/v1/hosts/" + pathEscape(id), query: q}, nil)
}

// IssueToken issues a new registration token for a pending host.
func (s *HostsService) IssueToken(ctx context.Context, id string) (*IssuedToken, error) {
	var t IssuedToken
	if err := s.c.do(ctx, call{method: "POST", path: "/v1/hosts/" + pathEscape(id) + "/token"}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Tags returns a host's tags.
func (s *HostsService) Tags(ctx context.Context, id string) ([]string, error) {
	var out tagsBody
	err := s.c.do(ctx, call{method: "GET", path: "/v1/hosts/" + pathEscape(id) + "/tags"}, &out)
	return out.Tags, err
}

// AddTags adds tags to a host and returns its tags.
func (s *HostsService) AddTags(ctx context.Context, id string, tags ...string) ([]string, error) {
	var out tagsBody
	err := s.c.do(ctx, call{method: "POST", path: "/v1/hosts/" + pathEscape(id) + "/tags",
		body: &tagsBody{Tags: tags}, idempotent: true}, &out)
	return out.Tags, err
}

// RemoveTag removes one tag from a host.
func (s *HostsService) RemoveTag(ctx context.Context, id, tag string) error {
	return s.c.do(ctx, call{method: "DELETE", path: "/v1/hosts/" + pathEscape(id) + "/tags/" + pathEscape(tag)}, nil)
}
