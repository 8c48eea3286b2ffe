package wrenn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
)

// Kinds of error, for errors.Is. Every [*APIError] matches at most one.
var (
	ErrAuthentication = errors.New("wrenn: authentication failed")
	ErrPermission     = errors.New("wrenn: permission denied")
	ErrNotFound       = errors.New("wrenn: not found")
	ErrConflict       = errors.New("wrenn: conflict")
	ErrRateLimited    = errors.New("wrenn: rate limited")
	ErrPoolExhausted  = errors.New("wrenn: pool exhausted or quota exceeded")
	ErrTimeout        = errors.New("wrenn: timed out")
	ErrSandbox        = errors.New("wrenn: sandbox unavailable")
	ErrValidation     = errors.New("wrenn: invalid request")
	ErrServer         = errors.New("wrenn: server error")
	// ErrCommandExit is matched by [*CommandExitError].
	ErrCommandExit = errors.New("wrenn: command exited with a non-zero code")
	// ErrNoAPIKey is returned by [NewClient] when no API key is configured.
	ErrNoAPIKey = errors.New("wrenn: no API key: pass WithAPIKey, set WRENN_API_KEY or run `wrenn login`")
	// ErrNoDomain is returned for sandbox URLs when the server has no domain.
	ErrNoDomain = errors.New("wrenn: the control plane has no WRENN_DOMAIN; sandbox URLs are unavailable")
)

// APIError is an error answered by the control plane or by envd.
type APIError struct {
	// Status is the HTTP status (for Connect errors, the status Connect
	// maps the code to).
	Status int
	// Code is the server's stable error code (`not_found`, `rate_limited`,
	// or a Connect code such as `unauthenticated` from envd).
	Code string
	// Message says what went wrong, for a person.
	Message string
	// RequestID is the x-request-id response header, when there was one.
	RequestID string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration

	kind  error
	cause error
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("wrenn: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is reports whether target is this error's kind (ErrNotFound, ...).
func (e *APIError) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap returns the underlying Connect error, if any.
func (e *APIError) Unwrap() error { return e.cause }

// CommandExitError is returned by Run when the command exits non-zero
// (unless [AllowNonZeroExit] is given).
type CommandExitError struct {
	Result *CommandResult
}

func (e *CommandExitError) Error() string {
	return fmt.Sprintf("wrenn: command exited with code %d", e.Result.ExitCode)
}

// Is matches ErrCommandExit.
func (e *CommandExitError) Is(target error) bool { return target == ErrCommandExit }

// kindOf maps the server's code, else the HTTP status, to an error kind.
func kindOf(status int, code string) error {
	switch code {
	case "unauthenticated", "invalid_registration_token", "registration_token_expired", "invalid_host_token":
		return ErrAuthentication
	case "forbidden", "permission_denied", "host_mismatch":
		return ErrPermission
	case "not_found", "template_not_found", "host_deleted":
		return ErrNotFound
	case "conflict", "already_exists", "host_already_registered", "host_not_pending",
		"host_has_sandboxes", "tls_fingerprint_mismatch", "team_has_hosts", "aborted":
		return ErrConflict
	case "rate_limited", "too_many_attempts":
		return ErrRateLimited
	case "pool_exhausted", "quota_exceeded":
		return ErrPoolExhausted
	case "deadline_exceeded", "timeout":
		return ErrTimeout
	case "sandbox_not_running", "sandbox_not_paused", "agent_unavailable", "no_capacity",
		"unavailable", "resource_exhausted", "failed_precondition":
		return ErrSandbox
	case "bad_request", "invalid_json", "validation_failed", "invalid_argument", "payload_too_large",
		"unsupported_media_type", "method_not_allowed", "fork_limit_exceeded", "out_of_range":
		return ErrValidation
	case "internal", "unknown", "data_loss", "unimplemented":
		return ErrServer
	}
	switch {
	case status == http.StatusUnauthorized:
		return ErrAuthentication
	case status == http.StatusForbidden:
		return ErrPermission
	case status == http.StatusNotFound, status == http.StatusGone:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return ErrTimeout
	case status == http.StatusBadGateway, status == http.StatusServiceUnavailable:
		return ErrSandbox
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return ErrValidation
	case status >= 500:
		return ErrServer
	}
	return nil
}

// errorFromResponse builds an APIError from a non-2xx answer and its body.
// It reads the control plane's {"error":{code,message}} and the proxy's and
// envd's {"message","code":<status>}.
func errorFromResponse(resp *http.Response, body []byte) *APIError {
	e := &APIError{
		Status:     resp.StatusCode,
		RequestID:  resp.Header.Get("x-request-id"),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	var wrapped struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Error != nil {
		e.Code, e.Message = wrapped.Error.Code, wrapped.Error.Message
	} else if wrapped.Message != "" {
		e.Message = wrapped.Message
	} else {
		e.Message = string(truncate(body, 512))
	}
	if e.Code == "" {
		e.Code = defaultCode(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.kind = kindOf(e.Status, e.Code)
	return e
}

func defaultCode(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthenticated"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	case 429:
		return "rate_limited"
	case 502, 503:
		return "unavailable"
	case 504:
		return "timeout"
	}
	return "http_" + strconv.Itoa(status)
}

// fromConnect maps an error of a Connect call to envd into an APIError
// (context errors and other non-Connect errors pass through unchanged).
func fromConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code := ce.Code().String()
	status := connectHTTPStatus(ce.Code())
	e := &APIError{
		Status:    status,
		Code:      code,
		Message:   ce.Message(),
		RequestID: ce.Meta().Get("x-request-id"),
		kind:      kindOf(status, code),
		cause:     err,
	}
	return e
}

// connectHTTPStatus is the HTTP status the Connect protocol gives a code.
func connectHTTPStatus(c connect.Code) int {
	switch c {
	case connect.CodeCanceled:
		return 499
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return 400
	case connect.CodeDeadlineExceeded:
		return 504
	case connect.CodeNotFound:
		return 404
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return 409
	case connect.CodePermissionDenied:
		return 403
	case connect.CodeResourceExhausted:
		return 429
	case connect.CodeUnimplemented:
		return 501
	case connect.CodeUnavailable:
		return 503
	case connect.CodeUnauthenticated:
		return 401
	}
	return 500
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
