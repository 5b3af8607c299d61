package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/docker/pkg/jsonmessage"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestProgressMessagesStayInPlace checks what the terminal display is fed:
// every message with an ID carries a progress object, as the daemon's own
// "Pull complete" does, since jsonmessage prints one without it as a new
// line and stops updating the lines above in place.
func TestProgressMessagesStayInPlace(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{mode: "tty", enc: json.NewEncoder(&buf), started: map[string]bool{}, last: map[string]time.Time{}, start: time.Now()}
	const d = "sha256:c0bcd63bfd18c0bcd63bfd18c0bcd63bfd18c0bcd63bfd18c0bcd63bfd18"
	for _, e := range []extract.Progress{
		{Size: -1},                // a whole archive being spooled
		{Done: 5 << 20, Size: -1}, // its last report has its size
		{Done: 5 << 20, Size: 5 << 20},
		{Entry: "blobs/sha256/" + d[7:], DiffID: d, Size: 3 << 20},
		{Entry: "blobs/sha256/" + d[7:], DiffID: d, Done: 3 << 20, Size: 3 << 20},
		{Entry: "blobs/sha256/" + d[7:], DiffID: d, Done: 3 << 20, Size: 3 << 20}, // reported twice, as a spooled layer is
	} {
		p.update(e)
	}
	p.flattening(2)
	p.written(flatten.WriteProgress{Entries: 10, Bytes: 1000})
	p.written(flatten.WriteProgress{Entries: 12345, Bytes: 1_200_000_000, Done: true})

	var lines []string
	dec := json.NewDecoder(&buf)
	for {
		var m jsonmessage.JSONMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		assert.Check(t, m.ID != "", "a message without an ID ends the in-place display: %+v", m)
		assert.Check(t, m.Progress != nil, "a message without a progress object is a new line: %+v", m)
		lines = append(lines, m.ID+": "+m.Status)
	}
	assert.DeepEqual(t, lines, []string{
		"archive: Reading",
		"archive: Read",
		"c0bcd63bfd18: Reading",
		"c0bcd63bfd18: Read",
		"c0bcd63bfd18: Read",
		"Flattening 2 layers: 10 entries, 1.0 kB written",
		"Flattening 2 layers: Done",
	})

	p.summarize("Extracted", "to out.tar")
	assert.Check(t, strings.HasPrefix(p.summary, "Extracted 12,345 entries, 1.2 GB in "), p.summary)
	assert.Check(t, strings.HasSuffix(p.summary, " to out.tar"), p.summary)
}

func TestProgressFormats(t *testing.T) {
	assert.Check(t, is.Equal(countBytes(1, 55), "1 entry, 55 B"))
	assert.Check(t, is.Equal(countBytes(12345, 1_234_000_000), "12,345 entries, 1.2 GB"))
	assert.Check(t, is.Equal(rate(500_000_000, 2*time.Second), "250 MB/s"))
	w := flatten.WriteProgress{Entries: 3, Bytes: 3_000_000}
	assert.Check(t, is.Equal(writtenStatus(w, 2*time.Second), "3 entries, 3.0 MB written (1.5 MB/s)"))
	assert.Check(t, is.Equal(writtenStatus(w, time.Millisecond), "3 entries, 3.0 MB written"))
	for d, want := range map[time.Duration]string{
		340*time.Millisecond + 400*time.Microsecond: "340ms",
		3*time.Second + 420*time.Millisecond:        "3.4s",
		62*time.Second + 600*time.Millisecond:       "1m3s",
	} {
		assert.Check(t, is.Equal(roundDuration(d), want))
	}
}
