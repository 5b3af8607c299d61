package inspect

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// specAncestry has five layers whose IDs are chosen to collide on purpose:
//
//	0 diff 1a00…  image 7700…
//	1 diff 2b00…  image abc1…  tagged app:base
//	2 diff ab00…
//	3 diff c300…  image abc2…
//	4 diff d400…  image ffff…  tagged app:latest
func specAncestry() *Ancestry {
	a := &Ancestry{Ref: "app"}
	for i, p := range []string{"1a", "2b", "ab", "c3", "d4"} {
		a.Layers = append(a.Layers, Layer{Index: i, DiffID: diffID(p), Step: -1})
	}
	a.Layers[0].ImageIDs = []string{imageID("77")}
	a.Layers[1].ImageIDs, a.Layers[1].Tags = []string{imageID("abc1")}, []string{"app:base"}
	a.Layers[3].ImageIDs = []string{imageID("abc2")}
	a.Layers[4].ImageIDs, a.Layers[4].Tags = []string{imageID("ffff")}, []string{"app:latest"}
	return a
}

func TestResolve(t *testing.T) {
	lookup := func(_ context.Context, ref string) ([]digest.Digest, error) {
		switch ref {
		case "other:base":
			return []digest.Digest{diffID("1a"), diffID("2b"), diffID("ab")}, nil
		case "stranger", "stranger:latest":
			return []digest.Digest{diffID("99")}, nil
		}
		return nil, fmt.Errorf("No such image: %s", ref)
	}
	tests := []struct {
		specs   []string
		want    []int
		wantErr string
		is      error
	}{
		{specs: nil, want: []int{0, 1, 2, 3, 4}},
		{specs: []string{"0"}, want: []int{0}},
		{specs: []string{"4"}, want: []int{4}},
		{specs: []string{"-1"}, want: []int{4}},
		{specs: []string{"-5"}, want: []int{0}},
		{specs: []string{"3", "0", "3"}, want: []int{0, 3}},
		{specs: []string{"2:-1"}, want: []int{2, 3, 4}},
		{specs: []string{"-1:2"}, want: []int{2, 3, 4}},
		{specs: []string{":1"}, want: []int{0, 1}},
		{specs: []string{"3:"}, want: []int{3, 4}},
		{specs: []string{":"}, want: []int{0, 1, 2, 3, 4}},
		{specs: []string{"c3"}, want: []int{3}},
		{specs: []string{"sha256:c3"}, want: []int{3}},
		{specs: []string{"sha256:" + diffID("d4").Encoded()}, want: []int{4}},
		{specs: []string{"sha256:77"}, want: []int{0}},
		{specs: []string{"77"}, wantErr: `layer spec "77": no such layer: index 77 is out of range (the image has 5 layers: 0 to 4, or -5 to -1)`, is: ErrNotExist},
		{specs: []string{"abc1"}, want: []int{1}},
		{specs: []string{"ff"}, want: []int{4}},
		{specs: []string{"app:base"}, want: []int{1}},
		{specs: []string{"app:base:"}, want: []int{1, 2, 3, 4}},
		{specs: []string{"other:base"}, want: []int{2}},
		{specs: []string{"sha256:2b:sha256:c3"}, want: []int{1, 2, 3}},
		{specs: []string{"c3:1a"}, want: []int{0, 1, 2, 3}},
		// Errors.
		{specs: []string{"5"}, wantErr: `layer spec "5": no such layer: index 5 is out of range (the image has 5 layers: 0 to 4, or -5 to -1)`, is: ErrNotExist},
		{specs: []string{"-6"}, wantErr: `layer spec "-6": no such layer: index -6 is out of range (the image has 5 layers: 0 to 4, or -5 to -1)`, is: ErrNotExist},
		{specs: []string{"ee"}, wantErr: `layer spec "ee": no such layer: no diff ID or image ID starts with ee`, is: ErrNotExist},
		{specs: []string{"sha256:1"}, want: []int{0}},
		{specs: []string{"1"}, want: []int{1}},
		{specs: []string{"ab"}, wantErr: `layer spec "ab": ambiguous prefix "ab" matches image ` + imageID("abc1") + ` (layer 1), diff ID ` + diffID("ab").String() + ` (layer 2), image ` + imageID("abc2") + ` (layer 3)`},
		{specs: []string{"0:ee"}, wantErr: `layer spec "0:ee": range end "ee": no such layer: no diff ID or image ID starts with ee`, is: ErrNotExist},
		{specs: []string{"stranger"}, wantErr: `layer spec "stranger": no such layer: stranger:latest is not an ancestor of this image (their layer 0 differs)`, is: ErrNotExist},
		{specs: []string{"nope:tag"}, wantErr: `layer spec "nope:tag": no such layer: nope:tag: No such image: nope:tag`, is: ErrNotExist},
		{specs: []string{"1:zz"}, wantErr: `layer spec "1:zz": no such layer: 1:zz: No such image: 1:zz`, is: ErrNotExist},
		{specs: []string{"Bad!"}, wantErr: `layer spec "Bad!": invalid layer spec: "Bad!" is not an index, an ID prefix or an image reference`, is: ErrInvalidSpec},
		{specs: []string{""}, wantErr: `layer spec "": invalid layer spec: empty`, is: ErrInvalidSpec},
		// Found by FuzzResolve: no reading at all (every colon is a "sha256:").
		{specs: []string{"sha256:sha256:"}, wantErr: `layer spec "sha256:sha256:": invalid layer spec: "sha256:sha256:" is not an index, an ID prefix or an image tag`, is: ErrInvalidSpec},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.specs), func(t *testing.T) {
			got, err := specAncestry().Resolve(context.Background(), tc.specs, lookup)
			if tc.wantErr != "" {
				assert.Error(t, err, tc.wantErr)
				var se *SpecError
				assert.Check(t, errors.As(err, &se), "errors are *SpecError")
				if tc.is != nil {
					assert.Check(t, errors.Is(err, tc.is))
				}
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, tc.want))
		})
	}
}

func TestResolveIndexOrPrefix(t *testing.T) {
	a := &Ancestry{}
	for i := range 130 {
		a.Layers = append(a.Layers, Layer{Index: i, DiffID: diffID(fmt.Sprintf("f%03x", i)), Step: -1})
	}
	a.Layers[7].DiffID = diffID("123")
	_, err := a.Resolve(context.Background(), []string{"123"}, nil)
	assert.Error(t, err, `layer spec "123": ambiguous: it is index 123 and also diff ID `+diffID("123").String()+` (layer 7); write -7 for the index or "sha256:123" for the ID`)
	for spec, want := range map[string]int{"-7": 123, "sha256:123": 7, "12": 12, "124": 124} {
		got, err := a.Resolve(context.Background(), []string{spec}, nil)
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(got, []int{want}), spec)
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"0", "-1", "2:-1", "sha256:ab", "app:base:", "ab:cd:ef", ":", "x::y", "sha256:", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		a := specAncestry()
		got, err := a.Resolve(context.Background(), []string{spec}, nil)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SpecError", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("spec %q resolved to no layer without an error", spec)
		}
		for i, idx := range got {
			if idx < 0 || idx >= len(a.Layers) || (i > 0 && got[i-1] >= idx) {
				t.Fatalf("spec %q resolved to %v", spec, got)
			}
		}
	})
}
