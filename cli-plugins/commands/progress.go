package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/opencontainers/go-digest"
)

// progress shows on stderr how far a command (extract, squash) has read
// the image's layers. On a terminal it
// renders docker's own progress display (that of docker pull: one line per
// layer, with a bar), fed with JSON messages through a pipe; with
// --progress=plain, one line per layer.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	mode    string // "tty", "plain" or "none"
	enc     *json.Encoder
	pw      *io.PipeWriter
	display sync.WaitGroup
	last    map[string]time.Time // when each entry's line was last drawn
	started map[string]bool
	warns   []string // held back until the terminal display ends
}

// newProgress starts the display --progress mode asks for; quiet (-q)
// turns it off.
func newProgress(dockerCLI command.Cli, mode string, quiet bool) *progress {
	if quiet {
		mode = "none"
	}
	if mode == "auto" {
		mode = "none"
		if dockerCLI.Err().IsTerminal() {
			mode = "tty"
		}
	}
	p := &progress{w: dockerCLI.Err(), mode: mode, started: map[string]bool{}, last: map[string]time.Time{}}
	if mode == "tty" {
		pr, pw := io.Pipe()
		p.pw, p.enc = pw, json.NewEncoder(pw)
		p.display.Add(1)
		go func() {
			defer p.display.Done()
			err := jsonmessage.DisplayJSONMessagesToStream(pr, dockerCLI.Err(), nil)
			pr.CloseWithError(err) // unblock the writer if the display failed
		}()
	}
	return p
}

// update is the source's Progress callback (source.Options.Progress).
// Entries may be read in parallel (an archive or a layout).
func (p *progress) update(e extract.Progress) {
	var line string
	if e.DiffID != "" {
		line = fmt.Sprintf("reading layer %s (%d of %d in hand)", e.DiffID, e.Layers, e.Wanted)
	}
	p.entry(e, "Reading", "Read", line)
}

// entry shows the progress of one entry: as a progress bar with status
// (finished once done) on a terminal, and as line, once, in plain mode
// ("" shows nothing).
func (p *progress) entry(e extract.Progress, status, finishedStatus, line string) {
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "plain" {
		if line != "" && !p.started[e.Entry] {
			p.started[e.Entry] = true
			_, _ = fmt.Fprintln(p.w, line)
		}
		return
	}
	now, finished := time.Now(), e.Done >= e.Size
	if !finished && now.Sub(p.last[e.Entry]) < 100*time.Millisecond {
		return
	}
	p.last[e.Entry] = now
	msg := jsonmessage.JSONMessage{ID: progressID(e), Status: status}
	if finished {
		msg.Status = finishedStatus
	} else {
		msg.Progress = &jsonmessage.JSONProgress{Current: e.Done, Total: e.Size}
	}
	_ = p.enc.Encode(msg)
}

// progressID names an entry's line: the layer's short diff ID when known.
func progressID(e extract.Progress) string {
	if e.DiffID != "" {
		return shortDigest(e.DiffID)
	}
	d, err := digest.Parse("sha256:" + lastElem(e.Entry))
	if err == nil {
		return shortDigest(d)
	}
	return lastElem(e.Entry)
}

func shortDigest(d digest.Digest) string {
	if s := d.Encoded(); len(s) > 12 {
		return s[:12]
	}
	return d.Encoded()
}

// lastElem names a save-archive entry by its last element: the digest of
// "blobs/sha256/<digest>", the v1 ID of a legacy "<id>/layer.tar".
func lastElem(name string) string {
	return path.Base(strings.TrimSuffix(name, "/layer.tar"))
}

// flattening says that every layer is in hand.
func (p *progress) flattening(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "tty":
		_ = p.enc.Encode(jsonmessage.JSONMessage{Status: fmt.Sprintf("Flattening %d layers", n)})
	case "plain":
		_, _ = fmt.Fprintf(p.w, "flattening %d layers\n", n)
	}
}

// warn prints a warning on stderr; on a terminal, once the display has
// ended, so that it does not break the display's lines.
func (p *progress) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "tty" {
		p.warns = append(p.warns, msg)
		return
	}
	_, _ = fmt.Fprintln(p.w, "warning: "+msg)
}

// done ends the display.
func (p *progress) done() {
	if p.mode == "tty" {
		_ = p.pw.Close()
		p.display.Wait()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, msg := range p.warns {
		_, _ = fmt.Fprintln(p.w, "warning: "+msg)
	}
	p.warns = nil
}
