package flatten

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestZeroCopyOutputs checks that output written by the kernel (to a
// regular file with copy_file_range, to a pipe or /dev/null with sendfile)
// is byte for byte the output copied by hand, for layers that are whole
// files and layers that are sections of a larger file.
func TestZeroCopyOutputs(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", zeroCopyMin/16+1000) // above the threshold
	huge := strings.Repeat("x", zeroCopyChunk+4096)                // more than one chunk
	tars := [][]byte{
		mkTar(t, dir("d/"), reg("d/big", big), reg("d/small", "s"), reg("d/gone", big), hl("d/link", "d/big")),
		mkTar(t, reg("d/huge", huge), wh("d/gone"), reg("d/big2", big[:zeroCopyMin])),
		// A sparse file's data is not its content: it is copied by hand,
		// holes expanded.
		append(rawSparse("d/sparse", 2*zeroCopyMin, 2, "ab", 2*zeroCopyMin-10, "xy"), endMarker...),
		slices.Concat(rawPAX('x', "GNU.sparse.size", strconv.Itoa(2*zeroCopyMin), "GNU.sparse.numblocks", "2", "GNU.sparse.map", "2,2,"+strconv.Itoa(2*zeroCopyMin-10)+",2"),
			rawFile("d/pax-sparse", "abxy"), endMarker),
	}
	want, _, err := run(t, tars, Options{})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	// Whole files, and sections of one file at odd offsets.
	var files, sections, nested []Layer
	archive, err := os.Create(filepath.Join(dir, "archive"))
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	for i, b := range tars {
		f, err := os.Create(filepath.Join(dir, "layer"+string(rune('0'+i))))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, err = f.Write(b)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, Layer{ID: f.Name(), R: f, Size: int64(len(b))})

		off, err := archive.Seek(0, io.SeekCurrent)
		if err != nil {
			t.Fatal(err)
		}
		off += 777
		_, err = archive.WriteAt(b, off)
		if err != nil {
			t.Fatal(err)
		}
		_, err = archive.Seek(off+int64(len(b)), io.SeekStart)
		if err != nil {
			t.Fatal(err)
		}
		sections = append(sections, Layer{ID: "section", R: io.NewSectionReader(archive, off, int64(len(b))), Size: int64(len(b))})
		// As extract reads a saved archive that starts at an offset of
		// its file (stdin after a seek): a section of that section.
		const start = 333
		whole := io.NewSectionReader(archive, start, 1<<40)
		nested = append(nested, Layer{ID: "nested", R: io.NewSectionReader(whole, off-start, int64(len(b))), Size: int64(len(b))})
	}

	for name, layers := range map[string][]Layer{"files": files, "sections": sections, "nested sections": nested} {
		kernelCopied.Store(0)
		t.Run(name+"/regular file", func(t *testing.T) {
			out, err := os.Create(filepath.Join(dir, name+".tar"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			_, err = out.WriteString("prefix") // the output's offset is honoured
			if err != nil {
				t.Fatal(err)
			}
			if err := flattenLayers(context.Background(), out, layers, Options{}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			if kernelCopied.Load() == 0 {
				t.Error("the kernel copied nothing")
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatal("differs from the copy by hand")
			}
		})
		// The portable path, which platforms without copy_file_range
		// and sendfile take, forced on linux: the same files, by hand.
		for _, kind := range []string{"regular file", "pipe"} {
			t.Run(name+"/"+kind+"/zero-copy off", func(t *testing.T) {
				before := kernelCopied.Load()
				got := flattenToFile(t, kind, filepath.Join(dir, name+".off.tar"), layers, Options{noZeroCopy: true})
				if kernelCopied.Load() != before {
					t.Error("the kernel copied with zero-copy off")
				}
				if !bytes.Equal(got, want) {
					t.Fatal("differs from the copy by hand")
				}
			})
		}
		t.Run(name+"/append-only file", func(t *testing.T) {
			// copy_file_range refuses an O_APPEND output: the data is
			// copied by hand from then on.
			out, err := os.OpenFile(filepath.Join(dir, name+".append.tar"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			before := kernelCopied.Load()
			if err := flattenLayers(context.Background(), out, layers, Options{}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			if kernelCopied.Load() != before {
				t.Error("the kernel copied to an append-only file")
			}
			if !bytes.Equal(got, want) {
				t.Fatal("differs from the copy by hand")
			}
		})
		t.Run(name+"/pipe", func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan []byte)
			go func() {
				b, _ := io.ReadAll(r)
				done <- b
			}()
			err = flattenLayers(context.Background(), w, layers, Options{})
			w.Close()
			got := <-done
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("differs from the copy by hand")
			}
		})
		t.Run(name+"/dev null", func(t *testing.T) {
			out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if err := flattenLayers(context.Background(), out, layers, Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// flattenToFile flattens layers into a new regular file at path, or a
// pipe, as kind says, and returns what was written.
func flattenToFile(t *testing.T, kind, path string, layers []Layer, opts Options) []byte {
	t.Helper()
	if kind == "regular file" {
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if err := flattenLayers(context.Background(), out, layers, opts); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	err = flattenLayers(context.Background(), w, layers, opts)
	w.Close()
	got := <-done
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestZeroCopyClosedReader checks that a reader that went away fails the
// write with an error, as the copy by hand does.
func TestZeroCopyClosedReader(t *testing.T) {
	big := strings.Repeat("z", 4*zeroCopyMin)
	b := mkTar(t, reg("big", big))
	f, err := os.Create(filepath.Join(t.TempDir(), "layer"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Write(b)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	err = flattenLayers(context.Background(), w, []Layer{{ID: "l", R: f, Size: int64(len(b))}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "writing output") {
		t.Fatalf("want a write error, got %v", err)
	}
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestWriteErrorStops checks that an output that fails stops Flatten
// with the write error, wherever it fails: in a header, in the data of a
// small file, or of a large one.
func TestWriteErrorStops(t *testing.T) {
	var entries []tf
	for i := range 300 {
		entries = append(entries, reg(fmt.Sprintf("f%03d", i), strings.Repeat("s", i*40)))
	}
	entries = append(entries, reg("zbig", strings.Repeat("b", 3*copyBufSize)))
	tars := [][]byte{mkTar(t, entries...)}
	want, _, err := run(t, tars, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 100, 64<<10 + 1, len(want) / 2, len(want) - 3*copyBufSize/2, len(want) - 1} {
		err := flattenLayers(context.Background(), &failingWriter{n: n}, mkLayers(tars...), Options{})
		if err == nil || !strings.Contains(err.Error(), "writing output") || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("failing after %d bytes: want the write error, got %v", n, err)
		}
	}
}
