package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteProgress checks Options.Progress: the counts never go down,
// the last call alone has Done, and its counts are the entries and the
// file data of the tar written, whether the data is copied by hand or by
// the kernel.
func TestWriteProgress(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", zeroCopyMin/16+1000)
	var many []tf
	for i := range 300 { // more than one batch of entries
		many = append(many, reg("many/f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), "data"))
	}
	tars := [][]byte{
		mkTar(t, append(many, dir("d/"), reg("d/big", big), reg("d/gone", "g"), hl("d/link", "d/big"))...),
		mkTar(t, wh("d/gone"), reg("d/new", "new"), sym("d/sym", "big")),
	}
	dir := t.TempDir()
	var files []Layer
	for i, b := range tars {
		name := filepath.Join(dir, "layer"+string(rune('0'+i)))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, Layer{ID: name, R: f, Size: int64(len(b))})
	}
	for _, tc := range []struct {
		name   string
		layers []Layer
		toFile bool // a regular file: the kernel copies big files' data
	}{
		{"buffer", mkLayers(tars...), false},
		{"file", files, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []WriteProgress
			opts := Options{Progress: func(p WriteProgress) { calls = append(calls, p) }}
			var out io.Writer = new(bytes.Buffer)
			if tc.toFile {
				f, err := os.Create(filepath.Join(t.TempDir(), "out.tar"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				out = f
			}
			if err := flattenLayers(context.Background(), out, tc.layers, opts); err != nil {
				t.Fatal(err)
			}
			var written []byte
			switch o := out.(type) {
			case *bytes.Buffer:
				written = o.Bytes()
			case *os.File:
				b, err := os.ReadFile(o.Name())
				if err != nil {
					t.Fatal(err)
				}
				written = b
			}
			var want WriteProgress
			tr := tar.NewReader(bytes.NewReader(written))
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				want.Entries++
				if h.Typeflag == tar.TypeReg {
					want.Bytes += h.Size
				}
			}
			want.Done = true
			if len(calls) < 3 {
				t.Fatalf("%d calls, want one per batch and a last one: %v", len(calls), calls)
			}
			for i, c := range calls {
				if c.Done != (i == len(calls)-1) {
					t.Errorf("call %d of %d: Done is %v", i, len(calls), c.Done)
				}
				if i > 0 && (c.Entries < calls[i-1].Entries || c.Bytes < calls[i-1].Bytes) {
					t.Errorf("call %d went down: %+v after %+v", i, c, calls[i-1])
				}
			}
			if got := calls[len(calls)-1]; got != want {
				t.Errorf("last call %+v, want %+v", got, want)
			}
		})
	}
}

// TestWriteProgressError: a failed write ends without a Done call.
func TestWriteProgressError(t *testing.T) {
	var calls []WriteProgress
	opts := Options{Progress: func(p WriteProgress) { calls = append(calls, p) }}
	err := flattenLayers(context.Background(), &failingWriter{}, mkLayers(mkTar(t, reg("a", "a"))), opts)
	if err == nil {
		t.Fatal("no error from a failing writer")
	}
	for _, c := range calls {
		if c.Done {
			t.Errorf("Done after an error: %+v", calls)
		}
	}
}
