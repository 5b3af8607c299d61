package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// runManyFiles writes a "docker save" archive (the legacy layout: a
// manifest.json, a config and one layer.tar per layer) of an image of
// many small files, for (l): -files N files in directories of 1,000, in a
// first layer; a second layer rewrites one file in a hundred, deletes one
// directory in a hundred and adds a few. Sizes are 0 to 99 bytes, so the
// archive is mostly headers.
//
// For compare's bench of two large sides, -layers 1 writes the first
// layer only, and -variant V (not 0) gives one file in a hundred other
// contents of the same size, so that two archives of different variants
// share no layer and differ in those files; -gzip compresses the layer
// blobs, which are then recorded as they stream by instead of being read
// in place.
func runManyFiles(args []string) error {
	fs := flag.NewFlagSet("manyfiles", flag.ContinueOnError)
	out := fs.String("o", "", "archive to write")
	n := fs.Int("files", 1_000_000, "files in the first layer")
	nlayers := fs.Int("layers", 2, "layers: 1 (the files) or 2 (and the rewrite)")
	variant := fs.Int("variant", 0, "not 0: one file in a hundred has other contents")
	gz := fs.Bool("gzip", false, "compress the layer blobs with gzip")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nlayers != 1 && *nlayers != 2 {
		return errors.New("manyfiles: -layers is 1 or 2")
	}
	if *out == "" {
		return errors.New("manyfiles: -o is required")
	}
	dirs := (*n + 999) / 1000
	layer0 := func(tw *tar.Writer) error {
		for d := range dirs {
			dir := fmt.Sprintf("data/d%04d/", d)
			if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
			for f := 0; f < 1000 && d*1000+f < *n; f++ {
				i, seed := d*1000+f, d*1000+f
				if *variant != 0 && i%100 == 50 {
					seed += *variant
				}
				if err := writeSeeded(tw, fmt.Sprintf("%sf%04d", dir, f), i, seed); err != nil {
					return err
				}
			}
		}
		return nil
	}
	layer1 := func(tw *tar.Writer) error {
		for d := 0; d < dirs; d++ {
			switch {
			case d%100 == 99:
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/.wh.d%04d", d), Typeflag: tar.TypeReg, Mode: 0o600, ModTime: time.Unix(0, 0)}); err != nil {
					return err
				}
			default:
				for f := 0; f < 1000; f += 100 {
					if err := writeFile(tw, fmt.Sprintf("data/d%04d/f%04d", d, f), f+1); err != nil {
						return err
					}
				}
			}
		}
		return writeFile(tw, "etc/added", 7)
	}
	layers := []func(*tar.Writer) error{layer0, layer1}
	return writeSaveArchive(*out, layers[:*nlayers], *gz)
}

func writeFile(tw *tar.Writer, name string, i int) error { return writeSeeded(tw, name, i, i) }

// writeSeeded writes a file of i%100 bytes whose contents seed picks.
func writeSeeded(tw *tar.Writer, name string, i, seed int) error {
	size := int64(i % 100)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	var buf [100]byte
	for k := range buf {
		buf[k] = byte('a' + (seed+k)%26)
	}
	_, err := tw.Write(buf[:size])
	return err
}

// writeSaveArchive writes the layers, each to a temporary file first to
// learn its diff ID, then the archive; with gz, each layer blob gzip
// compressed.
func writeSaveArchive(out string, layers []func(*tar.Writer) error, gz bool) error {
	var files []*os.File
	var diffIDs []string
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, fill := range layers {
		f, err := os.CreateTemp("", "manyfiles-layer-*")
		if err != nil {
			return err
		}
		os.Remove(f.Name())
		files = append(files, f)
		h := sha256.New()
		bw := bufio.NewWriterSize(f, 1<<20)
		var blob io.Writer = bw
		var zw *gzip.Writer
		if gz {
			zw = gzip.NewWriter(bw)
			blob = zw
		}
		tw := tar.NewWriter(io.MultiWriter(blob, h))
		if err := fill(tw); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if zw != nil {
			if err := zw.Close(); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(h.Sum(nil)))
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": []map[string]any{
			{"created_by": "manyfiles: the files"},
			{"created_by": "manyfiles: rewrite, delete, add"},
		}[:len(layers)],
	})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(config)
	configName := hex.EncodeToString(sum[:]) + ".json"
	var layerNames []string
	for i := range files {
		layerNames = append(layerNames, fmt.Sprintf("l%d/layer.tar", i))
	}
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{"docker-layers-bench:manyfiles"}, "Layers": layerNames}})
	if err != nil {
		return err
	}
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(o, 1<<20)
	tw := tar.NewWriter(bw)
	add := func(name string, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	for i, f := range files {
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := add(layerNames[i], f, size); err != nil {
			return err
		}
	}
	if err := add(configName, bytes.NewReader(config), int64(len(config))); err != nil {
		return err
	}
	if err := add("manifest.json", bytes.NewReader(manifest), int64(len(manifest))); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return o.Close()
}
