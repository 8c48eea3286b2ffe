// Package wrenn is the Go SDK for Wrenn, which runs sandboxes in microVMs.
//
// A [Client] speaks to the control plane's REST API (/v1) for sandboxes,
// templates, keys, teams and hosts. A [Sandbox] speaks to the guest agent
// (envd) in the sandbox through the control plane's sandbox proxy, with the
// Connect protocol, for commands, PTYs, files and watches.
//
//	client, err := wrenn.NewClient() // WRENN_API_KEY, WRENN_BASE_URL, ~/.config/wrenn
//	sbx, err := client.CreateSandbox(ctx, wrenn.WithTemplate("base"))
//	defer sbx.Kill(context.WithoutCancel(ctx))
//	res, err := sbx.Commands.Run(ctx, "echo hi")
//
// Every call takes a [context.Context] first. Errors from the server are
// [*APIError] values (errors.As) that match a kind with errors.Is
// ([ErrNotFound], [ErrRateLimited], ...); a command that exits non-zero is a
// [*CommandExitError].
package wrenn
