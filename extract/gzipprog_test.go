package extract

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

// igzipPath returns the igzip program. `make unit` installs it (apt-get
// isal, through e2e/daemons/install.sh); where it is missing the test is
// skipped, except on CI, where it fails.
func igzipPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("igzip")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("igzip is missing (apt-get install isal; make unit does it): %v", err)
		}
		t.Skip("igzip is missing (apt-get install isal; make unit does it)")
	}
	return p
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	assert.NilError(t, err)
	assert.NilError(t, zw.Close())
	return buf.Bytes()
}

// inflateWith reads b inflated by prog ("" for the built-in inflater).
func inflateWith(t testing.TB, prog string, b []byte) ([]byte, error) {
	t.Helper()
	dr, err := decompress(gzipCompression, bytes.NewReader(b), Options{GzipProgram: prog})
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(dr)
	_ = dr.Close() // the built-in inflater's repeats a read error
	return out, err
}

// TestGzipProgramMatchesBuiltin checks that igzip inflates what the
// built-in inflater does, and fails where it fails, but for the one
// documented difference: data after the last member.
func TestGzipProgramMatchesBuiltin(t *testing.T) {
	igzip := igzipPath(t)
	r := rand.New(rand.NewPCG(1, 2))
	large := make([]byte, 6<<20) // compressible: runs of random letters
	for i := 0; i < len(large); {
		n := min(1+r.IntN(64), len(large)-i)
		c := byte('a' + r.IntN(26))
		for j := range n {
			large[i+j] = c
		}
		i += n
	}
	gzLarge := gzipBytes(t, large)
	gzSmall := gzipBytes(t, []byte("hello, layers\n"))
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0xff
		return b
	}
	tests := []struct {
		name string
		in   []byte
		// trailing, when set, is the gzip that in starts with: igzip
		// inflates it and ignores what follows; the built-in inflater
		// fails.
		trailing []byte
	}{
		{name: "small", in: gzSmall},
		{name: "large", in: gzLarge},
		{name: "empty content", in: gzipBytes(t, nil)},
		{name: "two members", in: append(bytes.Clone(gzSmall), gzLarge...)},
		{name: "no input", in: nil},
		{name: "not gzip", in: []byte("this is not gzip at all")},
		{name: "cut short", in: gzLarge[:len(gzLarge)/2]},
		{name: "cut in the trailer", in: gzSmall[:len(gzSmall)-3]},
		{name: "bad CRC", in: flip(gzLarge, len(gzLarge)-6)},
		{name: "bad size", in: flip(gzLarge, len(gzLarge)-2)},
		{name: "corrupt data", in: flip(gzLarge, len(gzLarge)/3)},
		{name: "trailing garbage", in: append(bytes.Clone(gzSmall), "garbage"...), trailing: gzSmall},
		{name: "trailing zeros", in: append(bytes.Clone(gzLarge), make([]byte, 3000)...), trailing: gzLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := inflateWith(t, "", tc.in)
			got, err := inflateWith(t, igzip, tc.in)
			t.Logf("built-in: %v; igzip: %v", wantErr, err)
			switch {
			case tc.trailing != nil:
				assert.Check(t, wantErr != nil, "the built-in inflater accepted trailing data")
				assert.NilError(t, err)
				want, err := inflateWith(t, "", tc.trailing)
				assert.NilError(t, err)
				assert.Check(t, bytes.Equal(got, want))
			case wantErr != nil:
				assert.Check(t, err != nil, "igzip accepted what the built-in inflater refused (%v)", wantErr)
				if err != nil {
					assert.Check(t, strings.HasPrefix(err.Error(), "gzip: "), "%v", err)
					assert.Check(t, !strings.Contains(err.Error(), "(null)"), "%v", err)
				}
			default:
				assert.NilError(t, err)
				assert.Check(t, bytes.Equal(got, want), "igzip inflated %d bytes, the built-in inflater %d", len(got), len(want))
			}
		})
	}
}

// failingReader yields b, then err.
type failingReader struct {
	b   []byte
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, f.err
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// TestGzipProgramInputError checks that an error reading the input is
// returned as it is (a daemon's error, a cancelled read), not as igzip's
// complaint about a short file.
func TestGzipProgramInputError(t *testing.T) {
	igzip := igzipPath(t)
	gz := gzipBytes(t, bytes.Repeat([]byte("layer data "), 100000))
	errBroken := errors.New("connection reset by daemon")
	dr, err := decompress(gzipCompression, &failingReader{b: gz[:len(gz)/2], err: errBroken}, Options{GzipProgram: igzip})
	assert.NilError(t, err)
	_, err = io.ReadAll(dr)
	assert.Check(t, errors.Is(err, errBroken), "got %v", err)
	assert.NilError(t, dr.Close())
}

// TestGzipProgramClose checks that closing before the end stops igzip and
// waits for it: nothing is left running, and reads then fail.
func TestGzipProgramClose(t *testing.T) {
	igzip := igzipPath(t)
	gz := gzipBytes(t, bytes.Repeat([]byte("0123456789"), 4<<20))
	dr, err := decompress(gzipCompression, bytes.NewReader(gz), Options{GzipProgram: igzip})
	assert.NilError(t, err)
	b := make([]byte, 1000)
	_, err = io.ReadFull(dr, b)
	assert.NilError(t, err)
	assert.NilError(t, dr.Close())
	p := dr.(*progReader)
	assert.Assert(t, p.cmd.ProcessState != nil, "igzip not waited for")
	_, err = dr.Read(b)
	assert.Check(t, err != nil && err != io.EOF, "read after close: %v", err)
	assert.NilError(t, dr.Close()) // twice is fine
}

// TestGzipProgramMissing: a program that cannot be run fails at once.
func TestGzipProgramMissing(t *testing.T) {
	_, err := decompress(gzipCompression, bytes.NewReader(nil), Options{GzipProgram: "/nonexistent/igzip"})
	assert.ErrorContains(t, err, "gzip: fork/exec /nonexistent/igzip: no such file or directory")
}
