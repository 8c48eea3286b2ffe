package wrenn

import (
	"context"

	"connectrpc.com/connect"

	"github.com/wrenn-dev/wrenn/sdk/go/internal/envd/process"
)

// Pty runs interactive terminals in the sandbox.
type Pty struct{ dp *dataPlane }

// PtySize is a terminal's size in characters.
type PtySize struct {
	Cols uint32
	Rows uint32
}

// Create starts `/bin/bash -i -l` in a terminal of size; its output goes
// to [OnPtyData]. Send keys with SendInput, and Kill or Wait the handle.
func (p *Pty) Create(ctx context.Context, size PtySize, opts ...CommandOption) (*CommandHandle, error) {
	o := buildOptions(0, opts)
	cmds := &Commands{dp: p.dp}
	return cmds.start(ctx, "", o, &process.PTY{Size: &process.PTY_Size{Cols: size.Cols, Rows: size.Rows}})
}

// SendInput writes keys to the terminal of pid.
func (p *Pty) SendInput(ctx context.Context, pid uint32, data []byte) error {
	_, err := p.dp.process.SendInput(ctx, connect.NewRequest(&process.SendInputRequest{
		Process: pidSelector(pid),
		Input:   &process.ProcessInput{Input: &process.ProcessInput_Pty{Pty: data}},
	}))
	return fromConnect(err)
}

// Resize changes the terminal size of pid.
func (p *Pty) Resize(ctx context.Context, pid uint32, size PtySize) error {
	_, err := p.dp.process.Update(ctx, connect.NewRequest(&process.UpdateRequest{
		Process: pidSelector(pid),
		Pty:     &process.PTY{Size: &process.PTY_Size{Cols: size.Cols, Rows: size.Rows}},
	}))
	return fromConnect(err)
}

// Kill sends SIGKILL to the terminal's process; false when it is gone.
func (p *Pty) Kill(ctx context.Context, pid uint32) (bool, error) {
	return (&Commands{dp: p.dp}).Kill(ctx, pid)
}
