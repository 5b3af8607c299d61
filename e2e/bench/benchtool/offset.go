package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// countingReader counts the bytes read through it. archive/tar reads a
// header and the data of an entry with exact-size reads and no read-ahead,
// so after Next the count is the offset of the entry's data.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type entry struct {
	start, size int64
	typeflag    byte
	linkname    string
}

// runOffset prints the offset just past the top layer's data in a saved
// archive. The archive must hold one image and be uncompressed (the layer
// blobs in it may be compressed: that is the containerd store's layout).
func runOffset(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: benchtool offset ARCHIVE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()

	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	entries := map[string]entry{}
	var manifest []struct{ Layers []string }
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", args[0], err)
		}
		name := path.Clean(hdr.Name)
		entries[name] = entry{start: cr.n, size: hdr.Size, typeflag: hdr.Typeflag, linkname: hdr.Linkname}
		if name == "manifest.json" {
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&manifest); err != nil {
				return fmt.Errorf("reading manifest.json: %w", err)
			}
		}
	}
	if len(manifest) != 1 || len(manifest[0].Layers) == 0 {
		return fmt.Errorf("%s: want one image with layers in manifest.json, found %d images", args[0], len(manifest))
	}
	name := path.Clean(manifest[0].Layers[len(manifest[0].Layers)-1])
	// The legacy layout writes a layer that two images share once and
	// symlinks the other copy to it.
	for hops := 0; ; hops++ {
		e, ok := entries[name]
		if !ok {
			return fmt.Errorf("%s: top layer %s not in the archive", args[0], name)
		}
		switch {
		case e.typeflag == tar.TypeSymlink && hops < 8:
			name = path.Join(path.Dir(name), e.linkname)
		case e.typeflag == tar.TypeLink && hops < 8:
			name = path.Clean(e.linkname)
		case e.typeflag == tar.TypeReg:
			fmt.Printf("%d %s %d\n", e.start+e.size, name, e.size)
			return nil
		default:
			return fmt.Errorf("%s: top layer %s is not a regular file (type %q)", args[0], name, e.typeflag)
		}
	}
}
