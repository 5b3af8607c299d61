package analyze

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/flatten"
)

var testTime = time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)

// tf is one entry of a test layer.
type tf struct {
	h    *tar.Header
	body string
}

func reg(name, body string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: testTime}, body: body}
}

func dir(name string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: testTime}}
}

func hl(name, target string) tf {
	return tf{h: &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: testTime}}
}

func chmod(e tf, m int64) tf {
	h := *e.h
	h.Mode = m
	e.h = &h
	return e
}

// wh is the whiteout that hides p; whiteout names are built, never
// committed as files.
func wh(p string) tf {
	d, b := path.Split(p)
	return reg(d+flatten.WhiteoutPrefix+b, "")
}

// opq is the opaque marker of directory d.
func opq(d string) tf { return reg(path.Join(d, flatten.WhiteoutOpaqueDir), "") }

func mkTar(t testing.TB, entries ...tf) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(e.h); err != nil {
			t.Fatalf("building %q: %v", e.h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mkLayers(t testing.TB, layers ...[]tf) []flatten.Layer {
	ls := make([]flatten.Layer, len(layers))
	for i, es := range layers {
		b := mkTar(t, es...)
		ls[i] = flatten.Layer{ID: fmt.Sprintf("sha256:l%d", i), R: bytes.NewReader(b), Size: int64(len(b))}
	}
	return ls
}
