package wrenn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
)

func TestErrors_serverCodes_mapToKinds(t *testing.T) {
	cases := []struct {
		status int
		code   string
		kind   error
	}{
		{401, "unauthenticated", ErrAuthentication},
		{403, "forbidden", ErrPermission},
		{404, "not_found", ErrNotFound},
		{404, "template_not_found", ErrNotFound},
		{409, "conflict", ErrConflict},
		{409, "sandbox_not_running", ErrSandbox},
		{429, "rate_limited", ErrRateLimited},
		{429, "too_many_attempts", ErrRateLimited},
		{429, "quota_exceeded", ErrPoolExhausted},
		{429, "pool_exhausted", ErrPoolExhausted},
		{503, "no_capacity", ErrSandbox},
		{503, "agent_unavailable", ErrSandbox},
		{422, "validation_failed", ErrValidation},
		{400, "fork_limit_exceeded", ErrValidation},
		{504, "", ErrTimeout},
		{500, "internal", ErrServer},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-request-id", "rid-1")
			body := `{"error":{"code":"` + tc.code + `","message":"m"}}`
			if tc.code == "" {
				body = `not json`
			}
			writeJSON(w, tc.status, body)
		}))
		c, _ := testClient(t, srv, WithRetry(NoRetry))
		_, err := c.GetSandbox(context.Background(), "x")
		srv.Close()

		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%d %s: not an APIError: %v", tc.status, tc.code, err)
		}
		if !errors.Is(err, tc.kind) || apiErr.Status != tc.status || apiErr.RequestID != "rid-1" {
			t.Errorf("%d %q: got %#v, want kind %v", tc.status, tc.code, apiErr, tc.kind)
		}
		for _, other := range []error{ErrAuthentication, ErrPermission, ErrNotFound, ErrConflict, ErrRateLimited, ErrPoolExhausted, ErrTimeout, ErrSandbox, ErrValidation, ErrServer} {
			if other != tc.kind && errors.Is(err, other) {
				t.Errorf("%d %q also matches %v", tc.status, tc.code, other)
			}
		}
	}
}

func TestErrors_apiErrorCarriesCodeAndMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, `{"error":{"code":"not_found","message":"no sandbox sbx9"}}`)
	}))
	defer srv.Close()
	c, _ := testClient(t, srv)
	_, err := c.GetSandbox(context.Background(), "sbx9")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "not_found" || apiErr.Message != "no sandbox sbx9" {
		t.Fatalf("%#v", err)
	}
}

func TestErrors_connectCodes_mapToKinds(t *testing.T) {
	cases := map[connect.Code]error{
		connect.CodeUnauthenticated:   ErrAuthentication,
		connect.CodePermissionDenied:  ErrPermission,
		connect.CodeNotFound:          ErrNotFound,
		connect.CodeAlreadyExists:     ErrConflict,
		connect.CodeInvalidArgument:   ErrValidation,
		connect.CodeDeadlineExceeded:  ErrTimeout,
		connect.CodeUnavailable:       ErrSandbox,
		connect.CodeInternal:          ErrServer,
		connect.CodeResourceExhausted: ErrSandbox,
	}
	for code, kind := range cases {
		err := fromConnect(connect.NewError(code, errors.New("boom")))
		var apiErr *APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, kind) || apiErr.Code != code.String() {
			t.Errorf("%v: %#v", code, err)
		}
	}
}

func TestErrors_contextErrorsPassThrough(t *testing.T) {
	err := fromConnect(connect.NewError(connect.CodeCanceled, context.Canceled))
	var apiErr *APIError
	if errors.As(err, &apiErr) || !errors.Is(err, context.Canceled) {
		t.Fatalf("%#v", err)
	}
}

func TestErrors_commandExitError_matchesKindAndCarriesResult(t *testing.T) {
	var err error = &CommandExitError{Result: &CommandResult{ExitCode: 3, Stderr: "bad"}}
	var ce *CommandExitError
	if !errors.Is(err, ErrCommandExit) || !errors.As(err, &ce) || ce.Result.ExitCode != 3 {
		t.Fatal(err)
	}
}
