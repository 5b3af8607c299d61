package extract

import (
	"bytes"
	"os/exec"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestPortableSameLayers checks that the reader gives the same layers with
// the Linux-only calls (statfs for the spool's limit, F_SETPIPE_SZ for
// igzip's pipes) as without them, which is how it runs on darwin and
// windows: forced here with Options.portable.
func TestPortableSameLayers(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	images := map[string][]byte{
		"oci":        writeTar(t, ociEntries(t, []*testImage{img}), nil),
		"containerd": writeTar(t, containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression}), nil),
	}
	progs := []string{""}
	if p, err := exec.LookPath("igzip"); err == nil {
		progs = append(progs, p)
	}
	for name, data := range images {
		for _, m := range allModes {
			for _, prog := range progs {
				t.Run(name+"/"+string(m)+"/"+map[bool]string{true: "igzip", false: "built-in"}[prog != ""], func(t *testing.T) {
					want, err := extractWith(t, m, data, "", img.diffIDs, Options{TmpDir: t.TempDir(), GzipProgram: prog})
					assert.NilError(t, err)
					got, err := extractWith(t, m, data, "", img.diffIDs, Options{TmpDir: t.TempDir(), GzipProgram: prog, portable: true})
					assert.NilError(t, err)
					assert.Equal(t, len(got), len(want))
					for i := range want {
						assert.Check(t, bytes.Equal(got[i], want[i]), "layer %d differs", i)
					}
				})
			}
		}
	}
}

// TestPortableGzipProgram checks that igzip inflates the same bytes
// through pipes of the default size, as where they cannot be resized.
func TestPortableGzipProgram(t *testing.T) {
	igzip := igzipPath(t)
	data := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 200_000)
	gz := gzipBytes(t, data)
	for _, opts := range []Options{{GzipProgram: igzip}, {GzipProgram: igzip, portable: true}} {
		dr, err := decompress(gzipCompression, bytes.NewReader(gz), opts)
		assert.NilError(t, err)
		var out bytes.Buffer
		_, err = out.ReadFrom(dr)
		assert.NilError(t, err)
		assert.NilError(t, dr.Close())
		assert.Check(t, bytes.Equal(out.Bytes(), data), "portable=%v: inflated %d bytes, want %d", opts.portable, out.Len(), len(data))
	}
}

// TestPortableSpoolLimit checks that the spool is limited by its file
// system's free space where statfs works (linux), and has no limit where
// it does not, as Options.portable forces.
func TestPortableSpoolLimit(t *testing.T) {
	for _, tc := range []struct {
		opts    Options
		limited bool
	}{
		{Options{TmpDir: t.TempDir()}, true},
		{Options{TmpDir: t.TempDir(), portable: true}, false},
	} {
		s := newSpool(tc.opts)
		f, err := s.create()
		assert.NilError(t, err)
		s.keep(f)
		assert.Check(t, is.Equal(s.limit > 0, tc.limited), "portable=%v: limit %d", tc.opts.portable, s.limit)
		assert.NilError(t, s.Close())
	}
}
