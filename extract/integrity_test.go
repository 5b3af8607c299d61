package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

const daemonJSON = `{"errorDetail":{"message":"write /var/lib/docker/tmp/x: no space left on device"},"error":"write /var/lib/docker/tmp/x: no space left on device"}` + "\r\n"

func flipByte(e tarEntry) tarEntry {
	e.Data = bytes.Clone(e.Data)
	e.Data[len(e.Data)/2] ^= 0xff
	return e
}

// cutAt returns data[:n] followed by extra.
func cutAt(data []byte, n int64, extra string) []byte {
	return append(bytes.Clone(data[:n]), extra...)
}

// wantedFirst puts the entry named first ahead of all others, so that a
// stream reader meets it early.
func wantedFirst(entries []tarEntry, first string) []tarEntry {
	var head, rest []tarEntry
	for _, e := range entries {
		if e.Name == first {
			head = append(head, e)
		} else {
			rest = append(rest, e)
		}
	}
	return append(head, rest...)
}

// expect is the expected outcome of one integrity case in one mode.
type expect struct {
	ok     bool
	is     error  // errors.Is target, if any
	daemon bool   // a *DaemonError
	msg    string // substring of the error
}

func TestIntegrity(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	other := newTestImage(t, hostPlatform(), nil, makeLayer(t, 50, 1000), makeLayer(t, 51, 2000))
	wantIdx := 4
	want := []digest.Digest{img.diffIDs[wantIdx]}
	wd := img.diffIDs[wantIdx]

	oci := ociEntries(t, []*testImage{img})
	ociName := blobPath(wd)
	legacy := legacyEntries(t, []*testImage{img}, legacyOptions{})
	legacyName := legacyLayerPath(t, legacy, img, wantIdx)
	cd := containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression})
	var cdName string // the compressed blob of the wanted layer
	for _, e := range cd {
		if strings.HasPrefix(e.Name, "blobs/") && bytes.HasPrefix(e.Data, gzipMagic) {
			if b := decompressAll(t, e.Data); digest.FromBytes(b) == wd {
				cdName = e.Name
			}
		}
	}
	assert.Assert(t, cdName != "")

	ociOffsets := map[string]int64{}
	ociData := writeTar(t, oci, ociOffsets)
	// Offsets of the wanted entry: where its header starts (the end of
	// the entry before it) and where its data ends.
	var before string
	for i, e := range oci {
		if e.Name == ociName {
			before = oci[i-1].Name
		}
	}
	headerAt := ociOffsets[before]
	dataEnd := ociOffsets[ociName]
	mid := (headerAt + dataEnd) / 2

	longJSON := `{"errorDetail":{"message":"` + strings.Repeat("x", 700) + `"},"error":"` + strings.Repeat("x", 700) + `"}`

	badDigestManifest := func() []tarEntry {
		// The image manifest names a layer by an invalid digest.
		return mutateOCIManifest(t, oci, func(m *ocispec.Manifest) {
			m.Layers[wantIdx].Digest = "sha256:../../../../etc/passwd"
		})
	}

	tests := []struct {
		name    string
		data    func() []byte
		want    []digest.Digest
		opts    Options
		stream  expect
		archive expect
		file    *expect // OpenArchive and ReadArchive(file), when not archive
	}{
		{
			name:    "oci digest mismatch",
			data:    func() []byte { return writeTar(t, replaceEntry(oci, ociName, flipByte), nil) },
			stream:  expect{is: ErrDigestMismatch, msg: "layer " + string(wd) + ` (entry "` + ociName + `"): content has digest sha256:`},
			archive: expect{is: ErrDigestMismatch, msg: "layer " + string(wd) + ` (entry "` + ociName + `"): content has digest sha256:`},
		},
		{
			name:    "legacy digest mismatch",
			data:    func() []byte { return writeTar(t, replaceEntry(legacy, legacyName, flipByte), nil) },
			stream:  expect{is: ErrLayerNotFound, msg: "layer " + string(wd) + ` (entry "` + legacyName + `"): content has digest sha256:`},
			archive: expect{is: ErrDigestMismatch, msg: "layer " + string(wd) + ` (entry "` + legacyName + `"): content has digest sha256:`},
		},
		{
			name: "containerd blob replaced",
			data: func() []byte {
				return writeTar(t, replaceEntry(cd, cdName, func(e tarEntry) tarEntry {
					e.Data = compress(t, gzipCompression, other.layers[1])
					return e
				}), nil)
			},
			stream:  expect{msg: string(wd)},
			archive: expect{is: ErrInvalid, msg: "layer " + string(wd) + ` (entry "` + cdName + `") is `},
		},
		{
			name:   "containerd corrupt gzip",
			data:   func() []byte { return writeTar(t, replaceEntry(cd, cdName, flipByte), nil) },
			stream: expect{msg: "gzip"},
			// The blob's digest is the cause named, not what the flipped
			// byte did to the inflater.
			archive: expect{is: ErrDigestMismatch, msg: "layer " + string(wd) + ` (entry "` + cdName + `"): blob has digest`},
		},
		{
			name:    "oci missing blob",
			data:    func() []byte { return writeTar(t, withoutEntry(oci, ociName), nil) },
			stream:  expect{is: ErrLayerNotFound, msg: "layer " + string(wd) + ` (entry "` + ociName + `") is not in the save stream`},
			archive: expect{is: ErrLayerNotFound, msg: `entry "` + ociName + `" is not in the archive`},
		},
		{
			name:    "legacy missing layer",
			data:    func() []byte { return writeTar(t, withoutEntry(legacy, legacyName), nil) },
			stream:  expect{is: ErrLayerNotFound, msg: "layer " + string(wd) + ` (entry "` + legacyName + `") is not in the save stream`},
			archive: expect{is: ErrLayerNotFound, msg: `entry "` + legacyName + `" is not in the archive`},
		},
		{
			name:    "containerd missing blob",
			data:    func() []byte { return writeTar(t, withoutEntry(cd, cdName), nil) },
			stream:  expect{is: ErrLayerNotFound, msg: string(wd)},
			archive: expect{is: ErrLayerNotFound, msg: `entry "` + cdName + `" is not in the archive`},
		},
		{
			name:    "layer not in image",
			data:    func() []byte { return ociData },
			want:    []digest.Digest{other.diffIDs[0]},
			stream:  expect{is: ErrLayerNotFound, msg: "layer " + string(other.diffIDs[0]) + " is not in the save stream"},
			archive: expect{is: ErrLayerNotFound, msg: "layer " + string(other.diffIDs[0]) + " is not in image"},
		},
		{
			name:    "truncated mid-entry",
			data:    func() []byte { return ociData[:mid] },
			stream:  expect{is: ErrTruncated, msg: "unexpected EOF"},
			archive: expect{is: ErrTruncated, msg: `archive truncated: it ends inside entry "` + ociName + `"`},
		},
		{
			name:    "truncated at entry boundary",
			data:    func() []byte { return ociData[:headerAt] },
			stream:  expect{is: ErrTruncated, msg: `save stream truncated: it ends after entry "` + before + `" without the end-of-archive marker`},
			archive: expect{is: ErrTruncated, msg: `archive truncated: it ends after entry "` + before + `" without the end-of-archive marker`},
		},
		{
			name:    "truncated after one zero block",
			data:    func() []byte { return cutAt(ociData, headerAt, strings.Repeat("\x00", 512)) },
			stream:  expect{is: ErrTruncated},
			archive: expect{is: ErrTruncated},
		},
		{
			name:    "truncated at start",
			data:    func() []byte { return nil },
			stream:  expect{is: ErrTruncated, msg: "save stream is empty"},
			archive: expect{is: ErrInvalid, msg: "empty archive"},
		},
		{
			name:    "daemon error mid-entry",
			data:    func() []byte { return cutAt(ociData, mid, daemonJSON) },
			stream:  expect{daemon: true, msg: "daemon error in save stream: write /var/lib/docker/tmp/x: no space left on device"},
			archive: expect{daemon: true, msg: "daemon error in save stream: write /var/lib/docker/tmp/x: no space left on device"},
		},
		{
			name:    "daemon error at entry boundary",
			data:    func() []byte { return cutAt(ociData, headerAt, daemonJSON) },
			stream:  expect{daemon: true, msg: "no space left on device"},
			archive: expect{daemon: true, msg: "no space left on device"},
		},
		{
			name:    "long daemon error at entry boundary",
			data:    func() []byte { return cutAt(ociData, headerAt, longJSON) },
			stream:  expect{daemon: true, msg: "xxxxxxxxxx"},
			archive: expect{daemon: true, msg: "xxxxxxxxxx"},
		},
		{
			name:    "daemon error after end marker",
			data:    func() []byte { return append(writeTar(t, withoutEntry(oci, ociName), nil), daemonJSON...) },
			stream:  expect{daemon: true, msg: "no space left on device"},
			archive: expect{daemon: true, msg: "no space left on device"},
		},
		{
			name:    "daemon error after end marker, layers complete",
			data:    func() []byte { return append(bytes.Clone(ociData), daemonJSON...) },
			stream:  expect{ok: true}, // stopped before the end: the layer is verified
			archive: expect{daemon: true, msg: "no space left on device"},
		},
		{
			name:    "trailing garbage",
			data:    func() []byte { return append(bytes.Clone(ociData), strings.Repeat("\x00", 9000)+"not json at all"...) },
			stream:  expect{ok: true},
			archive: expect{ok: true},
		},
		{
			name: "trailing garbage, layer missing",
			data: func() []byte {
				return append(writeTar(t, withoutEntry(oci, ociName), nil), "{not json"...)
			},
			stream:  expect{is: ErrLayerNotFound},
			archive: expect{is: ErrLayerNotFound},
		},
		{
			name:    "not a tar",
			data:    func() []byte { return bytes.Repeat([]byte("garbage!"), 200) },
			stream:  expect{msg: "reading save stream after its start"},
			archive: expect{is: ErrInvalid, msg: "reading archive after its start"},
		},
		{
			name: "no manifest",
			data: func() []byte {
				return writeTar(t, withoutEntry(withoutEntry(withoutEntry(oci, "manifest.json"), "index.json"), ociName), nil)
			},
			stream:  expect{is: ErrInvalid, msg: "neither manifest.json"},
			archive: expect{is: ErrInvalid, msg: "neither manifest.json"},
		},
		{
			name:    "invalid digest in manifest",
			data:    func() []byte { return writeTar(t, badDigestManifest(), nil) },
			stream:  expect{ok: true},
			archive: expect{is: ErrInvalid, msg: `invalid digest "sha256:../../../../etc/passwd"`},
		},
		{
			name: "uppercase digest in manifest.json",
			data: func() []byte {
				return writeTar(t, mutateManifestJSON(t, legacy, func(items []manifestItem) {
					items[0].Config = strings.ToUpper(items[0].Config)
				}), nil)
			},
			want:    []digest.Digest{img.diffIDs[0]},
			stream:  expect{ok: true},
			archive: expect{is: ErrLayerNotFound, msg: "is not in the archive"},
		},
		{
			name: "unsafe path in manifest.json",
			data: func() []byte {
				return writeTar(t, mutateManifestJSON(t, legacy, func(items []manifestItem) {
					items[0].Layers[wantIdx] = "../../../../etc/passwd"
				}), nil)
			},
			stream:  expect{ok: true},
			archive: expect{is: ErrInvalid, msg: `unsafe path "../../../../etc/passwd" in manifest`},
		},
		{
			name: "unsafe path in manifest.json, layer missing",
			data: func() []byte {
				return writeTar(t, withoutEntry(mutateManifestJSON(t, legacy, func(items []manifestItem) {
					items[0].Layers[wantIdx] = "/etc/passwd"
				}), legacyName), nil)
			},
			stream:  expect{is: ErrLayerNotFound, msg: `unsafe path "/etc/passwd" in manifest`},
			archive: expect{is: ErrInvalid, msg: `unsafe path "/etc/passwd" in manifest`},
		},
		{
			name:    "invalid wanted digest",
			data:    func() []byte { return ociData },
			want:    []digest.Digest{digest.Digest(strings.ToUpper(string(wd)))},
			stream:  expect{is: ErrInvalid, msg: "wanted layer: invalid digest \"SHA256:D5D3"},
			archive: expect{is: ErrInvalid, msg: "wanted layer: invalid digest \"SHA256:D5D3"},
		},
		{
			name:    "wanted digest not sha256",
			data:    func() []byte { return ociData },
			want:    []digest.Digest{"sha512:" + digest.Digest(strings.Repeat("ab", 64))},
			stream:  expect{is: ErrInvalid},
			archive: expect{is: ErrInvalid},
		},
		{
			name: "oversized manifest.json",
			data: func() []byte {
				big := tarEntry{Name: "manifest.json", Data: bytes.Repeat([]byte(" "), maxJSONSize+1)}
				return writeTar(t, append([]tarEntry{big}, withoutEntry(oci, "manifest.json")...), nil)
			},
			stream:  expect{is: ErrInvalid, msg: "manifest.json is 4194305 bytes, more than the 4 MiB limit"},
			archive: expect{is: ErrInvalid, msg: "manifest.json is 4194305 bytes, more than the 4 MiB limit"},
		},
		{
			name:    "no space left on device",
			data:    func() []byte { return ociData },
			opts:    Options{spoolLimit: 10 << 10},
			stream:  expect{msg: "spooling layer " + string(wd) + ` (entry "` + ociName + `"): write `},
			archive: expect{msg: "spooling archive: write "},
			file:    &expect{ok: true}, // used in place: nothing spooled
		},
	}
	for _, tc := range tests {
		data := tc.data()
		w := want
		if tc.want != nil {
			w = tc.want
		}
		// gzip layers are read with the built-in inflater and with igzip.
		progs := []string{""}
		if strings.HasPrefix(tc.name, "containerd") {
			progs = append(progs, igzipPath(t))
		}
		for _, m := range allModes {
			exp := tc.archive
			if m == modeStream {
				exp = tc.stream
			}
			if (m == modeOpen || m == modeReadFile) && tc.file != nil {
				exp = *tc.file
			}
			for _, prog := range progs {
				name := tc.name + "/" + string(m)
				if prog != "" {
					name += "/igzip"
				}
				t.Run(name, func(t *testing.T) {
					tmp := t.TempDir()
					opts := tc.opts
					opts.TmpDir = tmp
					opts.GzipProgram = prog
					_, err := extractWith(t, m, data, "", w, opts)
					if exp.ok {
						assert.NilError(t, err)
					} else {
						assert.Assert(t, err != nil)
						t.Log(err)
						assert.Check(t, !strings.Contains(err.Error(), "\n"), "one line")
						if exp.is != nil {
							assert.Check(t, errors.Is(err, exp.is), "want %v, got %v", exp.is, err)
						}
						if exp.daemon {
							var de *DaemonError
							assert.Check(t, errors.As(err, &de), "got %T", err)
						}
						if exp.msg != "" {
							assert.ErrorContains(t, err, exp.msg)
						}
						if tc.name == "no space left on device" {
							assert.Check(t, errors.Is(err, syscall.ENOSPC))
						}
					}
					assertEmptyDir(t, tmp)
				})
			}
		}
	}
}

func decompressAll(t testing.TB, b []byte) []byte {
	t.Helper()
	head, r, err := peek(bytes.NewReader(b))
	assert.NilError(t, err)
	dr, err := decompress(detectLayerCompression(head), r, Options{})
	assert.NilError(t, err)
	defer dr.Close()
	out, err := io.ReadAll(dr)
	assert.NilError(t, err)
	return out
}

// mutateOCIManifest rewrites the image manifest of a one-image OCI
// archive, and index.json to point at the new manifest.
func mutateOCIManifest(t testing.TB, entries []tarEntry, f func(*ocispec.Manifest)) []tarEntry {
	t.Helper()
	var index ocispec.Index
	for _, e := range entries {
		if e.Name == "index.json" {
			assert.NilError(t, jsonUnmarshal(e.Data, &index))
		}
	}
	old := blobPath(index.Manifests[0].Digest)
	var m ocispec.Manifest
	for _, e := range entries {
		if e.Name == old {
			assert.NilError(t, jsonUnmarshal(e.Data, &m))
		}
	}
	f(&m)
	mb := mustJSON(t, m)
	md := digest.FromBytes(mb)
	for i := range index.Manifests {
		index.Manifests[i].Digest = md
		index.Manifests[i].Size = int64(len(mb))
	}
	out := withoutEntry(entries, old)
	out = replaceEntry(out, "index.json", func(e tarEntry) tarEntry {
		e.Data = mustJSON(t, index)
		return e
	})
	return sortEntries(append(out, tarEntry{Name: blobPath(md), Data: mb}))
}

// mutateManifestJSON rewrites manifest.json.
func mutateManifestJSON(t testing.TB, entries []tarEntry, f func([]manifestItem)) []tarEntry {
	t.Helper()
	return replaceEntry(entries, "manifest.json", func(e tarEntry) tarEntry {
		var items []manifestItem
		assert.NilError(t, jsonUnmarshal(e.Data, &items))
		f(items)
		e.Data = mustJSON(t, items)
		return e
	})
}

// strictReader fails the test's read if it goes past limit.
type strictReader struct {
	r     io.Reader
	n     int64
	limit int64
}

var errReadPastLimit = errors.New("read past the wanted layers")

func (s *strictReader) Read(p []byte) (int, error) {
	if s.n >= s.limit {
		return 0, errReadPastLimit
	}
	if int64(len(p)) > s.limit-s.n {
		p = p[:s.limit-s.n]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

func TestEarlyStop(t *testing.T) {
	img := fixtureImage(t)
	big := newTestImage(t, hostPlatform(), nil, makeLayer(t, 99, 1<<20))
	bigOther := newTestImage(t, otherPlatform(), nil, makeLayer(t, 98, 1<<20))
	wanted := []digest.Digest{img.diffIDs[4], img.diffIDs[0]}
	tests := []struct {
		name    string
		entries []tarEntry
		first   []string // entries to put first: the wanted layers
	}{
		{name: "oci", entries: ociEntries(t, []*testImage{img, big}), first: []string{blobPath(img.diffIDs[4]), blobPath(img.diffIDs[0])}},
		{name: "legacy", entries: legacyEntries(t, []*testImage{img, big}, legacyOptions{})},
		{name: "containerd", entries: containerdEntries(t, []*testImage{img, bigOther}, nil, containerdOptions{compression: gzipCompression})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries := tc.entries
			first := tc.first
			if tc.name == "legacy" {
				first = []string{legacyLayerPath(t, entries, img, 4), legacyLayerPath(t, entries, img, 0)}
			}
			if tc.name == "containerd" {
				for _, e := range entries {
					if bytes.HasPrefix(e.Data, gzipMagic) {
						if d := digest.FromBytes(decompressAll(t, e.Data)); d == wanted[0] || d == wanted[1] {
							first = append(first, e.Name)
						}
					}
				}
			}
			for i := len(first) - 1; i >= 0; i-- {
				entries = wantedFirst(entries, first[i])
			}
			offsets := map[string]int64{}
			data := writeTar(t, entries, offsets)
			limit := offsets[first[len(first)-1]]
			assert.Assert(t, limit < int64(len(data))/2, "the test needs data after the wanted layers")
			tmp := t.TempDir()
			// The spool has room for the wanted layers only: nothing else
			// is spooled.
			ls, err := FromSaveStream(context.Background(), &strictReader{r: bytes.NewReader(data), limit: limit}, wanted,
				Options{TmpDir: tmp, spoolLimit: int64(len(img.layers[4]) + len(img.layers[0]))})
			assert.NilError(t, err)
			got := readLayers(t, ls.List(), wanted)
			assert.Check(t, bytes.Equal(got[0], img.layers[4]))
			assert.NilError(t, ls.Close())
			assertEmptyDir(t, tmp)
		})
	}
}

// TestSkipUnwanted checks that unwanted blobs are not spooled: known-
// unwanted uncompressed blobs by name, compressed ones once a manifest
// and config seen earlier tell their diff IDs.
func TestSkipUnwanted(t *testing.T) {
	img := fixtureImage(t)
	wanted := []digest.Digest{img.diffIDs[1]}
	room := Options{spoolLimit: int64(len(img.layers[1]))}
	t.Run("oci", func(t *testing.T) {
		data := writeTar(t, ociEntries(t, []*testImage{img}), nil)
		room.TmpDir = t.TempDir()
		_, err := extractWith(t, modeStream, data, "", wanted, room)
		assert.NilError(t, err)
	})
	t.Run("containerd, manifest and config first", func(t *testing.T) {
		entries := containerdEntries(t, []*testImage{img}, nil, containerdOptions{compression: zstdCompression})
		// JSON blobs first, then the layers.
		var jsonFirst []tarEntry
		for _, e := range entries {
			if len(e.Data) > 0 && e.Data[0] == '{' {
				jsonFirst = append(jsonFirst, e)
			}
		}
		for _, e := range entries {
			if len(e.Data) == 0 || e.Data[0] != '{' {
				jsonFirst = append(jsonFirst, e)
			}
		}
		room.TmpDir = t.TempDir()
		_, err := extractWith(t, modeStream, writeTar(t, jsonFirst, nil), "", wanted, room)
		assert.NilError(t, err)
	})
}

func TestCancel(t *testing.T) {
	img := fixtureImage(t)
	data := writeTar(t, ociEntries(t, []*testImage{img}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tmp := t.TempDir()
	_, err := FromSaveStream(ctx, bytes.NewReader(data), img.diffIDs, Options{TmpDir: tmp})
	assert.Check(t, errors.Is(err, context.Canceled), err)
	_, err = ReadArchive(ctx, bytes.NewReader(data), Options{TmpDir: tmp})
	assert.Check(t, errors.Is(err, context.Canceled), err)
	assertEmptyDir(t, tmp)

	// Cancelled mid-layer, from the progress callback.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	big := newTestImage(t, hostPlatform(), nil, makeLayer(t, 7, 3<<20))
	data = writeTar(t, ociEntries(t, []*testImage{big}), nil)
	_, err = FromSaveStream(ctx, bytes.NewReader(data), big.diffIDs, Options{TmpDir: tmp, Progress: func(p Progress) {
		if p.Done > 0 {
			cancel()
		}
	}})
	assert.Check(t, errors.Is(err, context.Canceled), err)
	assertEmptyDir(t, tmp)
}

// fakeClient is a Client whose ImageSave returns a canned stream.
type fakeClient struct {
	data   []byte
	err    error
	images []string
	opts   int
	body   *trackingBody
}

type trackingBody struct {
	io.Reader
	closed bool
}

func (b *trackingBody) Close() error {
	b.closed = true
	return nil
}

func (c *fakeClient) ImageSave(_ context.Context, images []string, opts ...client.ImageSaveOption) (io.ReadCloser, error) {
	c.images = images
	c.opts = len(opts)
	if c.err != nil {
		return nil, c.err
	}
	c.body = &trackingBody{Reader: bytes.NewReader(c.data)}
	return c.body, nil
}

func TestFromDaemon(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	data := writeTar(t, containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression}), nil)
	ctx := context.Background()

	t.Run("ok", func(t *testing.T) {
		c := &fakeClient{data: data}
		tmp := t.TempDir()
		ls, err := FromDaemon(ctx, c, []string{"sha256:abc"}, img.diffIDs[1:3], Options{TmpDir: tmp}, client.ImageSaveWithPlatforms(ocispec.Platform{OS: "linux", Architecture: "amd64"}))
		assert.NilError(t, err)
		assert.DeepEqual(t, c.images, []string{"sha256:abc"})
		assert.Equal(t, c.opts, 1, "the save options are passed on")
		assert.Check(t, c.body.closed)
		got := readLayers(t, ls.List(), img.diffIDs[1:3])
		assert.Check(t, bytes.Equal(got[0], img.layers[1]))
		assert.NilError(t, ls.Close())
		assertEmptyDir(t, tmp)
	})
	t.Run("ImageSave fails", func(t *testing.T) {
		c := &fakeClient{err: errors.New("no such image: nope")}
		_, err := FromDaemon(ctx, c, []string{"nope"}, img.diffIDs, Options{TmpDir: t.TempDir()})
		assert.Error(t, err, "saving image nope: no such image: nope")
	})
	t.Run("stream fails", func(t *testing.T) {
		c := &fakeClient{data: cutAt(data, int64(len(data))/2, daemonJSON)}
		tmp := t.TempDir()
		_, err := FromDaemon(ctx, c, []string{"busybox"}, img.diffIDs, Options{TmpDir: tmp})
		assert.ErrorContains(t, err, "no space left on device")
		assert.Check(t, c.body.closed)
		assertEmptyDir(t, tmp)
	})
	t.Run("nothing wanted", func(t *testing.T) {
		c := &fakeClient{data: data}
		ls, err := FromDaemon(ctx, c, []string{"busybox"}, nil, Options{})
		assert.NilError(t, err)
		assert.Check(t, c.images == nil, "ImageSave not called")
		assert.Equal(t, len(ls.List()), 0)
		assert.NilError(t, ls.Close())
	})
}

func TestTrailingDaemonError(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{daemonJSON, "write /var/lib/docker/tmp/x: no space left on device"},
		{"tar bytes" + daemonJSON, "write /var/lib/docker/tmp/x: no space left on device"},
		{`{"error":"plain"}`, "plain"},
		{`{"errorDetail":{"message":"detail"}}`, "detail"},
		{`{"error":"x"} trailing`, ""},
		{`{"error":""}`, ""},
		{`{"errorDetail":{"message":"a {\"error\":\"b\"}"},"error":"a"}`, `a {"error":"b"}`},
		{`{"error`, ""},
		{"", ""},
	}
	for _, tc := range tests {
		de := trailingDaemonError([]byte(tc.in))
		if tc.want == "" {
			assert.Check(t, de == nil, "%q: %v", tc.in, de)
			continue
		}
		if assert.Check(t, de != nil, tc.in) {
			assert.Check(t, de.Message == tc.want, fmt.Sprintf("%q: %q", tc.in, de.Message))
		}
	}
}

func TestIsSparse(t *testing.T) {
	assert.Check(t, flatten.IsSparse(&tar.Header{Typeflag: tar.TypeGNUSparse}))
	assert.Check(t, flatten.IsSparse(&tar.Header{Typeflag: tar.TypeReg, PAXRecords: map[string]string{"GNU.sparse.major": "1"}}))
	assert.Check(t, !flatten.IsSparse(&tar.Header{Typeflag: tar.TypeReg, PAXRecords: map[string]string{"path": "x"}}))
}

// TestSkipProgress checks that skipping a large unwanted entry reports
// progress and can be cancelled.
func TestSkipProgress(t *testing.T) {
	img := newTestImage(t, hostPlatform(), nil, makeLayer(t, 60, 3<<20), makeLayer(t, 61, 100))
	bigName := blobPath(img.diffIDs[0])
	entries := wantedFirst(ociEntries(t, []*testImage{img}), bigName)
	data := writeTar(t, entries, nil)
	want := img.diffIDs[1:]

	var skipped int64
	tmp := t.TempDir()
	ls, err := FromSaveStream(context.Background(), bytes.NewReader(data), want, Options{TmpDir: tmp, Progress: func(p Progress) {
		if p.Entry == bigName {
			skipped = p.Done
		}
	}})
	assert.NilError(t, err)
	assert.NilError(t, ls.Close())
	assert.Check(t, skipped > 3<<20-magicLen, "skipped %d", skipped)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = FromSaveStream(ctx, bytes.NewReader(data), want, Options{TmpDir: tmp, Progress: func(p Progress) {
		if p.Entry == bigName && p.Done > 0 {
			cancel()
		}
	}})
	assert.Check(t, errors.Is(err, context.Canceled), err)
	assertEmptyDir(t, tmp)
}

// TestRecord checks Options.Record on every save layout: each wanted layer
// is a recording of its content, verified against its diff ID, and
// nothing is spooled.
func TestRecord(t *testing.T) {
	img := fixtureImage(t, "docker.io/library/busybox:latest")
	ctx := context.Background()
	layouts := map[string][]tarEntry{
		"oci":        ociEntries(t, []*testImage{img}),
		"legacy":     legacyEntries(t, []*testImage{img}, legacyOptions{}),
		"containerd": containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression}),
	}
	for name, entries := range layouts {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			ls, err := FromSaveStream(ctx, bytes.NewReader(writeTar(t, entries, nil)), img.diffIDs, Options{TmpDir: tmp, Record: true})
			assert.NilError(t, err)
			for i, l := range ls.List() {
				assert.Assert(t, l.Recording != nil && l.R == nil, "layer %d", i)
				want, err := flatten.Record(ctx, "", bytes.NewReader(img.layers[i]))
				assert.NilError(t, err)
				assert.Equal(t, l.Recording.Entries(), want.Entries(), "layer %d", i)
			}
			assertEmptyDir(t, tmp)
			assert.NilError(t, ls.Close())
		})
	}
	t.Run("digest mismatch", func(t *testing.T) {
		oci := layouts["oci"]
		name := blobPath(img.diffIDs[4])
		_, err := FromSaveStream(ctx, bytes.NewReader(writeTar(t, replaceEntry(oci, name, flipByte), nil)), img.diffIDs, Options{Record: true})
		assert.Check(t, errors.Is(err, ErrDigestMismatch), "%v", err)
	})
	t.Run("stream fails", func(t *testing.T) {
		data := writeTar(t, layouts["oci"], nil)
		_, err := FromSaveStream(ctx, bytes.NewReader(cutAt(data, int64(len(data))/2, daemonJSON)), img.diffIDs, Options{Record: true})
		assert.ErrorContains(t, err, "no space left on device")
	})
	t.Run("not a tar", func(t *testing.T) {
		bad := newTestImage(t, hostPlatform(), nil, bytes.Repeat([]byte("not a tar "), 200))
		data := writeTar(t, ociEntries(t, []*testImage{bad}), nil)
		_, err := FromSaveStream(ctx, bytes.NewReader(data), bad.diffIDs, Options{Record: true})
		assert.ErrorContains(t, err, "layer "+bad.diffIDs[0].String()+": reading header")
	})
}
