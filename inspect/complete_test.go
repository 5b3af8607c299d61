package inspect

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestComplete(t *testing.T) {
	a := newAncestry("img", imageID("f"), []string{"img:latest"},
		[]digest.Digest{diffID("aa11"), diffID("bb22"), diffID("cc33")},
		[]Step{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:123 in / ", Layer: 0, ImageID: imageID("1"), Tags: []string{"base:1"}},
			{CreatedBy: "/bin/sh -c apt-get update && apt-get install -y curl ca-certificates && rm -rf /var/lib/apt/lists/*", Layer: 1},
			{CreatedBy: "/bin/sh -c #(nop)  ENV A=1", Layer: -1},
			{CreatedBy: "COPY . /app", Layer: 2, ImageID: imageID("f"), Tags: []string{"img:latest"}},
		})
	specs := func(cs []Candidate) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Spec)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct{ in, want string }{
		{"", "0 1 2 -1 base:1 img:latest aa1100000000 bb2200000000 cc3300000000"},
		{"b", "base:1 bb2200000000"},
		{"-", "-1"},
		{"base:", "base:1"}, // "base" is no spec: no range
		{"base:1:", "base:1:0 base:1:1 base:1:2 base:1:-1 base:1:base:1 base:1:img:latest base:1:aa1100000000 base:1:bb2200000000 base:1:cc3300000000"},
		{"1:c", "1:cc3300000000"},
		{":-", ":-1"},
		{"7:", ""},
		{"zz", ""},
	} {
		if got := specs(a.Complete(tc.in)); got != tc.want {
			t.Errorf("Complete(%q):\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	cs := a.Complete("1")
	if len(cs) != 1 || cs[0].Description != "layer 1 bb2200000000: apt-get update && apt-get install -y curl ca-cert…" {
		t.Errorf("Complete(\"1\") = %+v", cs)
	}
	if cs := a.Complete("0"); cs[0].Description != "layer 0 aa1100000000: ADD file:123 in /" {
		t.Errorf("Complete(\"0\") = %+v", cs)
	}
	if cs := a.Complete("base:1"); cs[0].Description != "top layer 0 of this image" {
		t.Errorf("Complete(\"base:1\") = %+v", cs)
	}
}
