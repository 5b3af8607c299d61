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
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/dustin/go-humanize"
	"github.com/opencontainers/go-digest"
)

// progress shows on stderr how far a command has read the image's layers
// and, for extract and squash, written the flattened tar. On a terminal it
// renders docker's own progress display (that of docker pull: one line per
// layer, with a bar, updated in place), fed with JSON messages through a
// pipe; with --progress=plain, a few lines. It ends with a one-line
// summary when the command set one.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	mode    string // "tty", "plain" or "none"
	enc     *json.Encoder
	pw      *io.PipeWriter
	display sync.WaitGroup
	last    map[string]time.Time // when each line was last drawn
	started map[string]bool
	warns   []string // held back until the terminal display ends
	summary string   // printed last, once the display has ended
	start   time.Time

	// Pass 2, flatten's writing of the merged tar.
	flatID    string // its line: "Flattening N layers"
	flatShown bool
	flatStart time.Time
	wrote     flatten.WriteProgress
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
	p := &progress{w: dockerCLI.Err(), mode: mode, started: map[string]bool{}, last: map[string]time.Time{}, start: time.Now()}
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

// readingProgress is the display of a command that only reads layers
// (diff, compare, ls, du, efficiency, report): docker's progress display
// while the layers are read, on a terminal only, and nothing otherwise.
// The command calls done before it writes its output.
func readingProgress(dockerCLI command.Cli) *progress {
	return newProgress(dockerCLI, "auto", false)
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
	id := progressID(e)
	now, finished := time.Now(), e.Size >= 0 && e.Done >= e.Size
	if !finished && now.Sub(p.last[id]) < 100*time.Millisecond {
		return
	}
	p.last[id] = now
	// Every message of a line carries a progress object, as those of
	// the daemon's pull do ("Pull complete" has an empty one): jsonmessage
	// updates the line of an ID in place only then; a message without
	// one is printed as a new line and ends the in-place display.
	msg := jsonmessage.JSONMessage{ID: id, Status: status, Progress: &jsonmessage.JSONProgress{}}
	switch {
	case finished:
		msg.Status = finishedStatus
	case e.Size < 0: // a whole archive being spooled: its size is unknown
		msg.Progress.Current = e.Done
	default:
		msg.Progress.Current, msg.Progress.Total = e.Done, e.Size
	}
	_ = p.enc.Encode(msg)
}

// progressID names an entry's line: the layer's short diff ID when known.
func progressID(e extract.Progress) string {
	if e.Entry == "" && e.DiffID == "" {
		return "archive"
	}
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

// flattening says that the n layers read are being flattened; the line
// that shows it appears with the first progress of the writing.
func (p *progress) flattening(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flatID = fmt.Sprintf("Flattening %d layers", n)
	if n == 1 {
		p.flatID = "Flattening 1 layer"
	}
}

// written is flatten's Progress callback (flatten.Options.Progress): the
// entries and bytes written so far, with the rate since the writing
// started. It runs on flatten's output goroutine.
func (p *progress) written(w flatten.WriteProgress) {
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.wrote = w
	if p.flatID == "" {
		p.flatID = "Flattening"
	}
	if !p.flatShown {
		p.flatShown, p.flatStart = true, now
		if p.mode == "plain" {
			_, _ = fmt.Fprintln(p.w, strings.ToLower(p.flatID))
		}
	}
	if p.mode == "plain" {
		// A line every few seconds, for logs of a long run.
		if !w.Done && now.Sub(p.flatStart) >= 5*time.Second && now.Sub(p.last[p.flatID]) >= 5*time.Second {
			p.last[p.flatID] = now
			_, _ = fmt.Fprintf(p.w, "flattening: %s\n", writtenStatus(w, now.Sub(p.flatStart)))
		}
		return
	}
	if !w.Done && now.Sub(p.last[p.flatID]) < 100*time.Millisecond {
		return
	}
	p.last[p.flatID] = now
	status := "Done"
	if !w.Done {
		status = writtenStatus(w, now.Sub(p.flatStart))
	}
	_ = p.enc.Encode(jsonmessage.JSONMessage{ID: p.flatID, Status: status, Progress: &jsonmessage.JSONProgress{}})
}

// summarize sets the line that ends the display: what was done ("Extracted"),
// the entries and bytes flatten wrote, the time since the command started,
// and where it went ("to out.tar"). It shows whenever progress does.
func (p *progress) summarize(what, where string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "none" {
		return
	}
	p.summary = fmt.Sprintf("%s %s in %s %s", what, countBytes(p.wrote.Entries, p.wrote.Bytes), roundDuration(time.Since(p.start)), where)
}

// countBytes says "12,345 entries, 1.2 GB".
func countBytes(entries, bytes int64) string {
	noun := "entries"
	if entries == 1 {
		noun = "entry"
	}
	return fmt.Sprintf("%s %s, %s", humanize.Comma(entries), noun, humanize.Bytes(uint64(max(bytes, 0))))
}

// writtenStatus says "12,345 entries, 1.2 GB written (250 MB/s)", the
// rate over the time d the writing took so far; not before a tenth of a
// second, when it would mean little.
func writtenStatus(w flatten.WriteProgress, d time.Duration) string {
	s := countBytes(w.Entries, w.Bytes) + " written"
	if d >= 100*time.Millisecond {
		s += " (" + rate(w.Bytes, d) + ")"
	}
	return s
}

// rate says "250 MB/s".
func rate(bytes int64, d time.Duration) string {
	return humanize.Bytes(uint64(float64(max(bytes, 0))/d.Seconds())) + "/s"
}

// roundDuration keeps two or three significant figures: 340ms, 3.4s, 1m2s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
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

// done ends the display, then prints the warnings held back and the
// summary. It may be called more than once.
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
	if p.summary != "" {
		_, _ = fmt.Fprintln(p.w, p.summary)
		p.summary = ""
	}
}
