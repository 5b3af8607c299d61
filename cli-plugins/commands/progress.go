package commands

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/pkg/jsonmessage"
)

// progress shows on stderr how far extract has read, with docker's own
// progress bars (those of docker pull) on a terminal, or one line per layer
// with --progress=plain.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	mode     string           // "tty", "plain" or "none"
	perEntry map[string]int64 // bytes read of each entry
	read     int64            // bytes read in all
	total    int64
	last     time.Time
	started  map[string]bool
}

func newProgress(dockerCLI command.Cli, opts extractOptions) *progress {
	mode := opts.progress
	if opts.quiet {
		mode = "none"
	}
	if mode == "auto" {
		mode = "none"
		if dockerCLI.Err().IsTerminal() {
			mode = "tty"
		}
	}
	return &progress{w: dockerCLI.Err(), mode: mode, started: map[string]bool{}, perEntry: map[string]int64{}}
}

// update is extract's Progress callback.
func (p *progress) update(e extract.Progress) {
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Entries may be read in parallel (--input): count each one's progress.
	p.read += e.Done - p.perEntry[e.Entry]
	p.perEntry[e.Entry] = e.Done
	if p.mode == "plain" {
		if e.DiffID != "" && !p.started[e.Entry] {
			p.started[e.Entry] = true
			_, _ = fmt.Fprintf(p.w, "reading layer %s (%d of %d in hand)\n", e.DiffID, e.Layers, e.Wanted)
		}
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		status := fmt.Sprintf("Reading layers (%d of %d in hand)", e.Layers, e.Wanted)
		msg := jsonmessage.JSONMessage{Status: status, Progress: &jsonmessage.JSONProgress{Current: p.read, Total: p.total}}
		_ = msg.Display(p.w, true)
	}
}

// setTotal sets the expected number of bytes to read, when known (> 0):
// the image's size, which the save stream is close to.
func (p *progress) setTotal(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n > 0 {
		p.total = n
	}
}

// flattening says that every layer is in hand.
func (p *progress) flattening(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "tty":
		msg := jsonmessage.JSONMessage{Status: fmt.Sprintf("Flattening %d layers", n)}
		_ = msg.Display(p.w, true)
	case "plain":
		_, _ = fmt.Fprintf(p.w, "flattening %d layers\n", n)
	}
}

// done ends the progress line.
func (p *progress) done() {
	if p.mode == "tty" {
		_, _ = fmt.Fprint(p.w, "\r\x1b[2K")
	}
}
