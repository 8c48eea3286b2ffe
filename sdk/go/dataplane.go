package wrenn

import (
	"context"
	"encoding/base64"
	"net/http"

	"connectrpc.com/connect"

	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/filesystem/filesystemconnect"
	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/process/processconnect"
)

// EnvdPort is the guest agent's port in every sandbox.
const EnvdPort = 49983

// DefaultUser is the guest user commands and file operations act as.
const DefaultUser = "user"

// dataPlane reaches one sandbox's envd through the control plane's
// sandbox proxy: the base URL plus E2b-Sandbox-Id / E2b-Sandbox-Port, the
// envd token in X-Access-Token and the guest user as Basic auth.
type dataPlane struct {
	client  *Client
	id      string
	token   string
	process processconnect.ProcessClient
	fs      filesystemconnect.FilesystemClient
}

func newDataPlane(c *Client, id, token string) *dataPlane {
	dp := &dataPlane{client: c, id: id, token: token}
	opts := connect.WithInterceptors(headerInterceptor{dp: dp})
	dp.process = processconnect.NewProcessClient(c.http, c.baseURL, opts)
	dp.fs = filesystemconnect.NewFilesystemClient(c.http, c.baseURL, opts)
	return dp
}

// setHeaders adds the proxy routing and envd auth headers.
func (dp *dataPlane) setHeaders(h http.Header, user string) {
	h.Set("E2b-Sandbox-Id", dp.id)
	h.Set("E2b-Sandbox-Port", "49983")
	h.Set("X-Access-Token", dp.token)
	h.Set("User-Agent", "wrenn-go/"+Version)
	if user == "" {
		user = DefaultUser
	}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":")))
}

type userKey struct{}

// withUser carries the guest user of one Connect call to the interceptor.
func withUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

func userFrom(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// headerInterceptor sets the data-plane headers on every Connect call.
type headerInterceptor struct{ dp *dataPlane }

func (i headerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		i.dp.setHeaders(req.Header(), userFrom(ctx))
		return next(ctx, req)
	}
}

func (i headerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		i.dp.setHeaders(conn.RequestHeader(), userFrom(ctx))
		conn.RequestHeader().Set("Keepalive-Ping-Interval", "50")
		return conn
	}
}

func (i headerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
