package commands

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker/cli/cli"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

func goldenEfficiency() *analyze.EfficiencyReport {
	return &analyze.EfficiencyReport{
		Score: 0.75, StoredBytes: 16000000, UserBytes: 6000000, WastedBytes: 4000000, UserWastedBytes: 1500000,
		UserWastedPercent: 0.25, DuplicateBytes: 2001000, Base: 2,
		Layers: []analyze.LayerEfficiency{{StoredBytes: 5000000, WastedBytes: 2500000}, {StoredBytes: 5000000}, {StoredBytes: 6000000, WastedBytes: 1500000}},
		Wasted: []analyze.WastedPath{
			{Path: "usr/lib/libbig.so", Bytes: 2500000, Layers: []int{0, 2}, Shown: true},
			{Path: "var/cache/apt/pkgcache.bin", Bytes: 1000000, Layers: []int{2}},
			{Path: "tmp/build.log", Bytes: 500000, Layers: []int{2}},
		},
		Duplicates: []analyze.DuplicateSet{
			{Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 2000000, Copies: []analyze.FileRef{{Layer: 0, Path: "usr/lib/libbig.so", Hidden: true}, {Layer: 2, Path: "usr/lib/libbig.so"}}},
			{Digest: digest.Digest("sha256:" + strings.Repeat("b", 64)), Size: 500, Copies: []analyze.FileRef{{Layer: 1, Path: "etc/a"}, {Layer: 1, Path: "etc/b"}, {Layer: 2, Path: "etc/c"}}},
		},
	}
}

func TestEfficiencyWriteGolden(t *testing.T) {
	rules := analyze.DefaultRules()
	if err := rules.Set(analyze.RuleHighestWastedBytes, "3MB"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		format  string
		checked bool
		top     int
		human   bool
		noTrunc bool
	}{
		{name: "table", format: "", human: true, top: 10},
		{name: "table-top1-bytes", format: "table", top: 1},
		{name: "table-rules", format: "table", checked: true, human: true, noTrunc: true},
		{name: "json", format: "json", checked: true, human: true},
		{name: "template", format: "{{.Image}} {{.Efficiency}} {{.WastedBytes}} {{.UserWastedPercent}} {{.Result}}", checked: true},
		{name: "template-table", format: "table {{.Image}}\t{{.Efficiency}}\t{{.StoredBytes}}\t{{.WastedBytes}}\t{{.DuplicatedBytes}}\t{{.Result}}", checked: true, human: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := efficiencyView{ref: "myimg:1", report: goldenEfficiency(), top: tc.top, human: tc.human, trunc: !tc.noTrunc}
			if tc.checked {
				v.checked = true
				v.rules, _ = rules.Check(v.report)
			}
			var buf bytes.Buffer
			assert.NilError(t, efficiencyWrite(&buf, tc.format, v))
			golden.Assert(t, buf.String(), "efficiency-"+tc.name+".golden")
		})
	}
}

func TestEfficiencyWriteEmpty(t *testing.T) {
	var buf bytes.Buffer
	v := efficiencyView{ref: "scratch", report: &analyze.EfficiencyReport{Score: 1, Layers: make([]analyze.LayerEfficiency, 1), Base: 1}, human: true}
	assert.NilError(t, efficiencyWrite(&buf, "", v))
	golden.Assert(t, buf.String(), "efficiency-empty.golden")
}

// A wrong threshold or a malformed .dive-ci is one usage error line, exit
// status 1, before the image is read.
func TestEfficiencyRuleUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yml"
	assert.NilError(t, os.WriteFile(bad, []byte("rules:\n  lowestEfficiency: [0.9\n"), 0o644))
	typo := dir + "/typo.yml"
	assert.NilError(t, os.WriteFile(typo, []byte("rules:\n  lowestEfficency: 0.9\n"), 0o644))
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--lowest-efficiency", "1.5"}, "outside the allowed range 0 to 1"},
		{[]string{"--lowest-efficiency", "-0.1"}, "outside the allowed range 0 to 1"},
		{[]string{"--lowest-efficiency", "abc"}, "not a ratio"},
		{[]string{"--highest-user-wasted-percent", "20"}, "outside the allowed range"},
		{[]string{"--highest-wasted-bytes", "20XB"}, "not a size in bytes"},
		{[]string{"--ci-config", bad}, "invalid rules in " + bad + ": not YAML"},
		{[]string{"--ci-config", typo}, "unknown rule \"lowestEfficency\""},
		{[]string{"--ci-config", dir + "/missing"}, "no such file"},
		{[]string{"--top", "-1"}, "--top -1"},
	} {
		cmd := newEfficiencyCommand(nil)
		cmd.SetArgs(append([]string{"img"}, tc.args...))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		var st cli.StatusError
		if !errors.As(err, &st) || st.StatusCode != exitUsage || !strings.Contains(st.Status, tc.msg) || strings.Contains(st.Status, "\n") {
			t.Errorf("%v: got %v, want a one-line usage error with %q", tc.args, err, tc.msg)
		}
	}
}
