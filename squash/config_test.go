package squash

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestRewriteConfig(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	d := func(s string) digest.Digest { return digest.FromString(s) }
	l, e := false, true
	type h struct {
		by    string
		empty bool
	}
	cfg := func(diffs []string, hist []h) string {
		var ids []digest.Digest
		for _, s := range diffs {
			ids = append(ids, d(s))
		}
		var hs []map[string]any
		for _, x := range hist {
			m := map[string]any{"created_by": x.by, "author": "a " + x.by}
			if x.empty {
				m["empty_layer"] = true
			}
			hs = append(hs, m)
		}
		c := map[string]any{
			"architecture": "amd64", "os": "linux", "x-unknown": map[string]any{"kept": 1},
			"config": map[string]any{"Env": []string{"A=1"}, "Cmd": []string{"sh"}, "Labels": map[string]string{"l": "v"}, "StopSignal": "SIGUSR1"},
			"rootfs": map[string]any{"type": "layers", "diff_ids": ids},
		}
		if hist != nil {
			c["history"] = hs
		}
		b, _ := json.Marshal(c)
		return string(b)
	}
	for _, tc := range []struct {
		name      string
		diffs     []string
		hist      []h
		from, to  int
		wantDiffs []string // "NEW" is the squashed layer
		wantHist  []string // created_by; "C" is the collapsed entry
		err       string
	}{
		{
			name:  "middle range with empty steps inside and around",
			diffs: []string{"0", "1", "2", "3"},
			hist:  []h{{"L0", l}, {"E1", e}, {"L1", l}, {"E2", e}, {"L2", l}, {"E3", e}, {"L3", l}, {"E4", e}},
			from:  1, to: 2,
			wantDiffs: []string{"0", "NEW", "3"},
			wantHist:  []string{"L0", "E1", "E2", "C", "E3", "L3", "E4"},
		},
		{
			name:  "everything",
			diffs: []string{"0", "1"},
			hist:  []h{{"L0", l}, {"E1", e}, {"L1", l}, {"E2", e}},
			from:  0, to: 1,
			wantDiffs: []string{"NEW"},
			wantHist:  []string{"E1", "C", "E2"},
		},
		{
			name:  "one layer",
			diffs: []string{"0", "1"},
			hist:  []h{{"L0", l}, {"L1", l}},
			from:  1, to: 1,
			wantDiffs: []string{"0", "NEW"},
			wantHist:  []string{"L0", "C"},
		},
		{
			name:  "no history",
			diffs: []string{"0", "1", "2"},
			from:  0, to: 1,
			wantDiffs: []string{"NEW", "2"},
		},
		{
			name:  "history that does not match the layers",
			diffs: []string{"0", "1"},
			hist:  []h{{"L0", l}},
			from:  0, to: 1,
			err: "1 steps that made layers, but the image has 2 layers",
		},
		{
			name:  "range out of the image",
			diffs: []string{"0"},
			from:  0, to: 1,
			err: "layers 0..1 are not in an image of 1 layers",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newID := d("new")
			out, err := RewriteConfig([]byte(cfg(tc.diffs, tc.hist)), ConfigChange{
				From: tc.from, To: tc.to, DiffID: newID, Created: created, CreatedBy: "C", Comment: "squashed",
			})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Unknown map[string]int `json:"x-unknown"`
				Config  struct {
					Env        []string
					Cmd        []string
					Labels     map[string]string
					StopSignal string
				} `json:"config"`
				RootFS struct {
					Type    string          `json:"type"`
					DiffIDs []digest.Digest `json:"diff_ids"`
				} `json:"rootfs"`
				History []map[string]any `json:"history"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.Unknown["kept"] != 1 || got.Config.Env[0] != "A=1" || got.Config.Cmd[0] != "sh" || got.Config.Labels["l"] != "v" || got.Config.StopSignal != "SIGUSR1" || got.RootFS.Type != "layers" {
				t.Errorf("fields not kept: %s", out)
			}
			var diffs []digest.Digest
			for _, s := range tc.wantDiffs {
				if s == "NEW" {
					diffs = append(diffs, newID)
				} else {
					diffs = append(diffs, d(s))
				}
			}
			if strings.Join(digestStrings(got.RootFS.DiffIDs), " ") != strings.Join(digestStrings(diffs), " ") {
				t.Errorf("diff_ids: got %v, want %v", got.RootFS.DiffIDs, diffs)
			}
			var hist []string
			for _, e := range got.History {
				by := e["created_by"].(string)
				hist = append(hist, by)
				if by == "C" {
					if e["comment"] != "squashed" || e["created"] != "2025-01-02T03:04:05Z" || e["empty_layer"] != nil || e["author"] != nil {
						t.Errorf("collapsed entry: %v", e)
					}
				} else if e["author"] != "a "+by {
					t.Errorf("entry %s lost its fields: %v", by, e)
				}
			}
			if strings.Join(hist, " ") != strings.Join(tc.wantHist, " ") {
				t.Errorf("history: got %v, want %v", hist, tc.wantHist)
			}
		})
	}
}

func digestStrings(ds []digest.Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

func TestRewriteConfigClampCreated(t *testing.T) {
	epoch := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	base := `{"rootfs":{"type":"layers","diff_ids":["` + digest.FromString("0").String() + `"]}%s}`
	for _, tc := range []struct {
		name    string
		created string // the config's created field, "" for none
		clamp   time.Time
		want    string // the created field written, "" for none
	}{
		{name: "later: clamped", created: `"2025-01-02T03:04:05.123Z"`, clamp: epoch, want: `"2024-06-01T00:00:00Z"`},
		{name: "earlier: kept", created: `"2020-01-02T03:04:05+02:00"`, clamp: epoch, want: `"2020-01-02T03:04:05+02:00"`},
		{name: "equal: kept", created: `"2024-06-01T00:00:00Z"`, clamp: epoch, want: `"2024-06-01T00:00:00Z"`},
		{name: "no clamp", created: `"2025-01-02T03:04:05Z"`, want: `"2025-01-02T03:04:05Z"`},
		{name: "absent: stays absent", clamp: epoch},
		{name: "null: stays null", created: `null`, clamp: epoch, want: `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.created != "" {
				extra = `,"created":` + tc.created
			}
			out, err := RewriteConfig([]byte(fmt.Sprintf(base, extra)), ConfigChange{From: 0, To: 0, DiffID: digest.FromString("new"), ClampCreated: tc.clamp})
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]json.RawMessage
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			if got := string(cfg["created"]); got != tc.want {
				t.Errorf("created %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := RewriteConfig([]byte(fmt.Sprintf(base, `,"created":"yesterday"`)), ConfigChange{To: 0, ClampCreated: epoch}); err == nil || !strings.Contains(err.Error(), "created") {
		t.Errorf("a created that is no time: %v", err)
	}
}
