package commands

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestParseEpoch(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "0", want: time.Unix(0, 0)},
		{in: "1700000000", want: time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)},
		{in: "253402300799", want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{in: "-1", err: "after 1970"},
		{in: "253402300800", err: "before the year 10000"},
		{in: "+5", err: "whole number"},
		{in: "1.5", err: "whole number"},
		{in: "2024-01-01", err: "whole number"},
		{in: "99999999999999999999", err: "whole number"},
	}
	for _, tc := range tests {
		got, err := parseEpoch(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%q", tc.in)
			continue
		}
		assert.NilError(t, err, "%q", tc.in)
		assert.Check(t, got.Equal(tc.want), "%q: got %v, want %v", tc.in, got, tc.want)
		assert.Equal(t, got.Location(), time.UTC, "%q", tc.in)
	}
}

// TestSourceDateEpochUsage: a SOURCE_DATE_EPOCH that is no time is a
// usage error (exit 1) of extract and squash, before any work.
func TestSourceDateEpochUsage(t *testing.T) {
	t.Setenv(sourceDateEpochEnv, "yesterday")
	for _, args := range [][]string{{"extract", "img", "-o", "x.tar"}, {"squash", "img", "-t", "x:y"}} {
		root := NewRootCommand(fakeCLI{}, false)
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		err := root.Execute()
		var stderr bytes.Buffer
		assert.Equal(t, Exit(&stderr, err), exitUsage, args[0])
		assert.Check(t, strings.Contains(stderr.String(), `invalid SOURCE_DATE_EPOCH="yesterday"`), stderr.String())
		assert.Equal(t, strings.Count(stderr.String(), "\n"), 1, stderr.String())
	}
}
