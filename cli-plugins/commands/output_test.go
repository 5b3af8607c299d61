package commands

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"context"
	"github.com/docker-layers/docker-layers/inspect"
	"github.com/docker/cli/cli"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestOutputIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")

	o, err := createOutput(path, false, nil)
	assert.NilError(t, err)
	_, _ = o.w.Write([]byte("partial"))
	_, err = os.Stat(path)
	assert.Check(t, errors.Is(err, os.ErrNotExist), "nothing at the final name while writing")
	o.abort()
	assertOnly(t, dir)

	o, err = createOutput(path, false, nil)
	assert.NilError(t, err)
	_, _ = o.w.Write([]byte("complete"))
	assert.NilError(t, o.commit())
	assertOnly(t, dir, "out.tar")
	b, _ := os.ReadFile(path)
	assert.Check(t, is.Equal(string(b), "complete"))

	_, err = createOutput(path, false, nil)
	assert.ErrorContains(t, err, "already exists; use --force")

	// A file that appears while writing is not clobbered either.
	other := filepath.Join(dir, "race.tar")
	o, err = createOutput(other, false, nil)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(other, []byte("theirs"), 0o644))
	assert.ErrorContains(t, o.commit(), "already exists")
	b, _ = os.ReadFile(other)
	assert.Check(t, is.Equal(string(b), "theirs"))
	assertOnly(t, dir, "out.tar", "race.tar")

	o, err = createOutput(path, true, nil)
	assert.NilError(t, err)
	_, _ = o.w.Write([]byte("forced"))
	assert.NilError(t, o.commit())
	b, _ = os.ReadFile(path)
	assert.Check(t, is.Equal(string(b), "forced"))
	assertOnly(t, dir, "out.tar", "race.tar")
}

// TestOutputWithoutUmask checks that the output is the same with the
// process umask as without one (Windows, forced here): only the mode
// differs, 0666 less the umask against 0666.
func TestOutputWithoutUmask(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("layer data\n"), 1000)
	for _, noUmask := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("out-%v.tar", noUmask))
		o, err := createOutput(path, false, nil)
		assert.NilError(t, err)
		o.noUmask = noUmask
		_, err = o.w.Write(data)
		assert.NilError(t, err)
		assert.NilError(t, o.commit())
		b, err := os.ReadFile(path)
		assert.NilError(t, err)
		assert.Check(t, bytes.Equal(b, data), "noUmask=%v: content differs", noUmask)
		fi, err := os.Stat(path)
		assert.NilError(t, err)
		want := os.FileMode(0o666)
		if !noUmask {
			want &^= umask()
		}
		assert.Check(t, is.Equal(fi.Mode().Perm(), want), "noUmask=%v", noUmask)
	}
}

func TestOutputSpecialFilesAndStdout(t *testing.T) {
	o, err := createOutput("/dev/null", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(o.tmp, ""), "a device is written directly")
	assert.NilError(t, o.commit())
	fi, err := os.Stat("/dev/null")
	assert.NilError(t, err)
	assert.Check(t, fi.Mode()&os.ModeDevice != 0, "/dev/null is still a device")

	var buf bytes.Buffer
	o, err = createOutput("-", false, &buf)
	assert.NilError(t, err)
	_, _ = o.w.Write([]byte("x"))
	assert.NilError(t, o.commit())
	assert.Check(t, is.Equal(buf.String(), "x"))
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	assert.NilError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.Check(t, is.DeepEqual(got, names))
}

func TestCompressionFromName(t *testing.T) {
	for name, want := range map[string]compression{
		"a.tar": compressionNone, "a.tar.gz": compressionGzip, "A.TGZ": compressionGzip,
		"a.tar.bz2": compressionBzip2, "a.tbz2": compressionBzip2, "a.tar.xz": compressionXz,
		"a.txz": compressionXz, "a.tar.zst": compressionZstd, "a.tzst": compressionZstd,
	} {
		got, ok := compressionFromName(name)
		assert.Check(t, ok, name)
		assert.Check(t, is.Equal(got, want), name)
	}
	for _, name := range []string{"", "-", "out", "a.gz", "/dev/null"} {
		_, ok := compressionFromName(name)
		assert.Check(t, !ok, name)
	}
	_, err := parseCompression("lz4")
	assert.Error(t, err, `unknown compression "lz4" (want one of none, gzip, bzip2, xz, zstd)`)
	_, err = newCompressor(nil, compressionGzip, 10)
	assert.Error(t, err, "--level 10 is out of range for gzip (1 to 9)")
}

func TestStatusMapsErrorsToExitCodes(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	sigCtx, sigCancel := context.WithCancelCause(ctx)
	sigCancel(signalError{sig: syscall.SIGTERM})
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		code int
		msg  string
	}{
		{ctx, errors.New("daemon gone"), exitRuntime, "daemon gone"},
		{ctx, &inspect.SpecError{Spec: "9", Err: inspect.ErrNotExist}, exitSpec, `layer spec "9": no such layer`},
		{ctx, cli.StatusError{StatusCode: exitUsage, Status: "bad flag"}, exitUsage, "bad flag"},
		{ctx, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}, 141, ""},
		{canceled, context.Canceled, 130, "canceled (interrupted through the docker CLI)"},
		{sigCtx, context.Canceled, 143, "interrupted by SIGTERM"},
	} {
		var out bytes.Buffer
		code := Exit(&out, status(tc.ctx, tc.err))
		assert.Check(t, is.Equal(code, tc.code), "%v", tc.err)
		want := ""
		if tc.msg != "" {
			want = tc.msg + "\n"
		}
		assert.Check(t, is.Equal(out.String(), want))
	}
	assert.Check(t, is.Equal(Exit(&bytes.Buffer{}, nil), 0))
}
