package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli"
)

// Exit codes, documented in the root command's help.
const (
	exitUsage   = 1
	exitRuntime = 2
	exitSpec    = 3
	// exitCheckFailed: a check the user asked for says no (compare
	// --exit-code: the images differ; efficiency: a rule failed).
	exitCheckFailed = 4
)

// Exit prints err as one line on w and returns the process exit code for it:
// 0 for nil, the code of a cli.StatusError, else exitRuntime.
func Exit(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	code := exitRuntime
	var st cli.StatusError
	if errors.As(err, &st) && st.StatusCode != 0 {
		code = st.StatusCode
	}
	if msg := strings.TrimSpace(err.Error()); msg != "" {
		_, _ = fmt.Fprintln(w, strings.ReplaceAll(msg, "\n", " "))
	}
	return code
}

// status gives err the exit code the command layer documents. Only commands
// call it; the libraries return plain errors.
func status(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var st cli.StatusError
	if errors.As(err, &st) {
		return err
	}
	var sig signalError
	if errors.As(context.Cause(ctx), &sig) {
		return cli.StatusError{Cause: err, Status: sig.Error(), StatusCode: 128 + int(sig.sig)}
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return cli.StatusError{Cause: err, Status: "canceled (interrupted through the docker CLI)", StatusCode: 130}
	}
	if errors.Is(err, syscall.EPIPE) {
		// The reader went away (| head): end quietly, as a process killed
		// by SIGPIPE would.
		return cli.StatusError{StatusCode: 128 + int(syscall.SIGPIPE)}
	}
	var spec *inspect.SpecError
	if errors.As(err, &spec) {
		return cli.StatusError{Cause: err, StatusCode: exitSpec}
	}
	return cli.StatusError{Cause: err, StatusCode: exitRuntime}
}

// signalError is the cause of a context canceled by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "interrupted by SIGTERM"
	}
	return "interrupted by SIGINT"
}

// withSignals returns a context canceled by SIGINT or SIGTERM, with a
// signalError as its cause, so that commands clean up before exiting. The
// docker CLI also cancels plugins through its plugin socket, which
// plugin.PersistentPreRunE turns into a canceled parent context.
func withSignals(parent context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			cancel(signalError{sig: s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	return ctx
}
