package flatten

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"path"
	"testing"
)

func TestPathFilter(t *testing.T) {
	pf, err := NewPathFilter([]string{"/etc", "usr/*/doc", "./*.txt"}, []string{"etc/shadow", "usr/share/doc/secret*"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"etc": true, "etc/passwd": true, "etc/ssl/certs": true, "etc/shadow": false, "etcetera": false,
		"usr": false, "usr/share": false, "usr/share/doc": true, "usr/share/doc/a/b": true, "usr/share/doc/secret-x": false,
		"usr/lib/doc": true, "a.txt": true, "d/a.txt": false, "bin": false,
	} {
		if got := pf.Match(name); got != want {
			t.Errorf("Match(%q) = %v, want %v", name, got, want)
		}
	}
	if !(*PathFilter)(nil).Match("x") || !(&PathFilter{}).Match("x") {
		t.Error("an empty filter must select everything")
	}
	for _, bad := range []string{"[", "a/[b", "/", ".", `a\`} {
		if _, err := NewPathFilter(nil, []string{bad}); !errors.Is(err, path.ErrBadPattern) {
			t.Errorf("glob %q: got %v, want ErrBadPattern", bad, err)
		}
	}
}

func TestFlattenIncludeExclude(t *testing.T) {
	tars := [][]byte{
		mkTar(t, dir("etc"), reg("etc/passwd", "p"), reg("etc/shadow", "s"), dir("etc/ssl"), reg("etc/ssl/cert", "c"),
			mode(dir("usr"), 0o700), dir("usr/share"), dir("usr/share/doc"), reg("usr/share/doc/README", "r"), reg("usr/bin", "b"),
			reg("top", "t"), hl("usr/share/doc/link", "top")),
		mkTar(t, wh("etc/ssl"), reg("etc/new", "n")),
	}
	for _, tc := range []struct {
		name             string
		include, exclude []string
		keep             bool
		want             []string
	}{
		{
			name:    "include a directory, exclude a file in it; parents written",
			include: []string{"etc", "usr/share/doc/README"},
			exclude: []string{"etc/shadow"},
			want: []string{`dir etc/ 0755 0:0`, `reg etc/new 0644 0:0 "n"`, `reg etc/passwd 0644 0:0 "p"`,
				`dir usr/ 0700 0:0`, `dir usr/share/ 0755 0:0`, `dir usr/share/doc/ 0755 0:0`, `reg usr/share/doc/README 0644 0:0 "r"`},
		},
		{
			name:    "a hardlink whose target is left out becomes the file",
			include: []string{"usr/share/doc/l*"},
			want:    []string{`dir usr/ 0700 0:0`, `dir usr/share/ 0755 0:0`, `dir usr/share/doc/ 0755 0:0`, `reg usr/share/doc/link 0644 0:0 "t"`},
		},
		{
			name:    "exclude only",
			exclude: []string{"usr", "etc/*"},
			want:    []string{`dir etc/ 0755 0:0`, `reg top 0644 0:0 "t"`},
		},
		{
			name:    "keep whiteouts: markers are filtered by path too",
			include: []string{"etc/ssl"},
			keep:    true,
			want:    []string{`reg etc/` + W + `ssl 0600 0:0 ""`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := tars
			if tc.keep {
				ts = tars[1:]
			}
			out, _, err := run(t, ts, Options{Include: tc.include, Exclude: tc.exclude, KeepWhiteouts: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			if d := diffLines(listing(t, out), tc.want); d != "" {
				t.Error(d)
			}
		})
	}
	if _, _, err := run(t, tars, Options{Include: []string{"a/["}}); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("bad glob: %v", err)
	}
}

// pickGlobs returns up to two globs drawn from globs.
func pickGlobs(r *rand.Rand, globs []string) []string {
	var out []string
	for range r.IntN(3) {
		out = append(out, globs[r.IntN(len(globs))])
	}
	return out
}

// TestIncludeExcludeAgainstFilter checks on random stacks that Flatten with
// Include and Exclude writes exactly the selected paths of the full output
// and their parents, with the same attributes, as a valid stream.
func TestIncludeExcludeAgainstFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(*seed, 5))
	globs := []string{"a", "a/*", "*/b", "c/a/f", "*.b", "b/?", "[ab]/c", "c"}
	pick := func() []string { return pickGlobs(r, globs) }
	checked := 0
	for i := range *nStacks / 2 {
		tars := genStack(t, r, 1+r.IntN(3))
		full, err := flattenBytes(tars, false)
		if err != nil {
			continue
		}
		inc, exc := pick(), pick()
		pf, err := NewPathFilter(inc, exc)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := flattenLayers(t0ctx, &out, mkLayers(tars...), Options{Include: inc, Exclude: exc}); err != nil {
			t.Fatal(err)
		}
		if err := checkOutput(out.Bytes(), false); err != nil {
			t.Fatalf("stack %d: %v", i, err)
		}
		all := withoutLinks(fsTree(t, full))
		want := map[string]fsAttrs{}
		for p, a := range all {
			if pf.Match(p) {
				want[p] = a
				for q, _ := splitName(p); q != ""; q, _ = splitName(q) {
					want[q] = all[q]
				}
			}
		}
		// Which name of a hardlinked file the output writes as the file
		// depends on the names written.
		got := withoutLinks(fsTree(t, out.Bytes()))
		if !maps.Equal(got, want) {
			t.Fatalf("stack %d: include %q exclude %q:\ngot  %v\nwant %v\n%s", i, inc, exc, got, want, dumpStack(t, tars))
		}
		checked++
	}
	t.Logf("%d stacks checked", checked)
}
