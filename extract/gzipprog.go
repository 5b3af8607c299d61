package extract

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// progReader inflates gzip with an external program, run as `PROG -dc`
// (ISA-L's igzip: SIMD inflation, more than twice as fast as the built-in
// inflater). The input is fed to the program's stdin by a goroutine of
// its own; the program's stdout is read by Read.
//
// The result is checked as the built-in inflater's is: the caller verifies
// the digest of what it read. Unlike the built-in inflater, igzip ignores
// data after the last gzip member instead of failing.
type progReader struct {
	prog   string
	cmd    *exec.Cmd
	out    *os.File   // the program's stdout
	fed    chan error // the feeding goroutine's result
	stderr tailBuffer

	once sync.Once
	err  error // set once the program ended: its result, or io.EOF
}

// progPipeSize is the size asked for the pipes to and from the program,
// so that each side moves large chunks between context switches.
const progPipeSize = 1 << 20

// startProg starts prog inflating r. pipeSize, when > 0, is the size to
// ask for the pipes to and from it.
func startProg(prog string, r io.Reader, pipeSize int) (_ *progReader, retErr error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	defer func() {
		inR.Close()
		outW.Close()
		if retErr != nil {
			inW.Close()
			outR.Close()
		}
	}()
	if pipeSize > 0 {
		setPipeSize(inW, pipeSize)
		setPipeSize(outR, pipeSize)
	}
	p := &progReader{prog: prog, out: outR, fed: make(chan error, 1)}
	p.cmd = exec.Command(prog, "-dc")
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = inR, outW, &p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	go func() {
		_, err := copyBuffered(inW, r)
		inW.Close()
		p.fed <- err
	}()
	return p, nil
}

func (p *progReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.out.Read(b)
	if err == io.EOF {
		p.end(false)
		return n, p.err
	}
	return n, err
}

// Close stops the program if it still runs, and waits for it and for the
// feeding goroutine. It does not close the input.
func (p *progReader) Close() error {
	p.end(true)
	return nil
}

// end waits for the program (killed first if kill) and the feeding
// goroutine, and sets p.err: io.EOF if both ended well.
func (p *progReader) end(kill bool) {
	p.once.Do(func() {
		if kill {
			_ = p.cmd.Process.Kill()
		}
		// The program's stdout is drained, not closed, until it exits:
		// closing it could kill the program with SIGPIPE before its
		// exit status says what went wrong.
		_, _ = io.Copy(io.Discard, p.out)
		waitErr := p.cmd.Wait()
		_ = p.out.Close()
		// Once the program exited, the feeder's writes fail (a broken
		// pipe) and it returns.
		feedErr := <-p.fed
		switch {
		case kill:
			p.err = errors.New("gzip: closed")
		case feedErr != nil && !brokenPipe(feedErr):
			p.err = feedErr // the input's own error says more
		case waitErr != nil:
			p.err = fmt.Errorf("gzip: %s", progError(p.prog, p.stderr.String(), waitErr))
		default:
			p.err = io.EOF
		}
	})
}

// progError is what the program said on failing, in a form fit for one
// error line: the last line of its stderr without igzip's "igzip: Error"
// and its "file (null)" for standard input, then the program's name.
func progError(prog, stderr string, waitErr error) string {
	msg := strings.TrimSpace(stderr)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	name := filepath.Base(prog)
	if msg == "" {
		return fmt.Sprintf("%s: %v", name, waitErr)
	}
	msg = strings.TrimPrefix(msg, name+": ")
	msg = strings.TrimPrefix(msg, "Error ")
	for _, s := range []string{" for file (null)", " file (null)"} {
		msg = strings.ReplaceAll(msg, s, "")
	}
	msg = strings.ReplaceAll(msg, "(null)", "input")
	if msg == "encountered while decompressing" {
		msg = "corrupt compressed data"
	}
	return fmt.Sprintf("%s (%s)", msg, name)
}

// tailBuffer keeps the last bytes written to it: a program's stderr,
// however much it writes. exec's goroutine writes it; it is read only
// after Wait, which waits for that goroutine.
type tailBuffer struct{ b []byte }

const tailBufferSize = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailBufferSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBufferSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
