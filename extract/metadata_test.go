package extract

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadMetadata(t *testing.T) {
	host := newTestImage(t, hostPlatform(), nil, makeLayer(t, 70, 300<<10), makeLayer(t, 71, 2000))
	other := newTestImage(t, otherPlatform(), nil, makeLayer(t, 70, 300<<10), makeLayer(t, 72, 2000), makeLayer(t, 73, 100))
	tags := []string{"docker.io/library/multi:latest"}
	op, hp := otherPlatform(), hostPlatform()
	absent := ocispec.Platform{OS: "linux", Architecture: "riscv64"}
	multi := containerdEntries(t, []*testImage{host, other}, tags, containerdOptions{
		compression: gzipCompression, attestations: true, nested: true,
		missing: []ocispec.Platform{absent},
	})
	single := newTestImage(t, hostPlatform(), tags, makeLayer(t, 74, 1000))
	tests := []struct {
		name     string
		entries  []tarEntry
		platform *ocispec.Platform
		img      *testImage
		// avail, when set, is the PlatformError's Available list.
		avail []ocispec.Platform
		msg   string
	}{
		{name: "containerd default", entries: multi, img: host},
		{name: "containerd other", entries: multi, platform: &op, img: other},
		{name: "containerd other shuffled", entries: shuffled(multi, 3), platform: &op, img: other},
		{name: "containerd absent", entries: multi, platform: &absent, avail: []ocispec.Platform{hp, op},
			msg: "has no linux/riscv64: available platforms are "},
		{name: "oci", entries: ociEntries(t, []*testImage{single}), platform: &hp, img: single},
		{name: "oci other", entries: ociEntries(t, []*testImage{single}), platform: &op, avail: []ocispec.Platform{hp},
			msg: "has no " + formatPlatform(op) + ": its only platform is " + formatPlatform(hp)},
		{name: "legacy", entries: legacyEntries(t, []*testImage{single}, legacyOptions{}), platform: &hp, img: single},
		{name: "legacy other", entries: legacyEntries(t, []*testImage{single}, legacyOptions{}), platform: &op, avail: []ocispec.Platform{hp},
			msg: "its only platform is " + formatPlatform(hp)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			data := writeTar(t, tc.entries, nil)
			r := &countingReader{r: bytes.NewReader(data)}
			a, err := ReadMetadata(context.Background(), r, Options{TmpDir: tmp, Platform: tc.platform})
			assert.NilError(t, err)
			defer func() {
				assert.NilError(t, a.Close())
				assertEmptyDir(t, tmp)
			}()
			assert.Equal(t, r.n, int64(len(data)), "the stream is read to its end")
			img, err := a.Image("")
			if tc.img == nil {
				assert.ErrorContains(t, err, tc.msg)
				assert.Check(t, errors.Is(err, ErrNotExist))
				var pe *PlatformError
				assert.Assert(t, errors.As(err, &pe))
				assert.DeepEqual(t, pe.Want, *tc.platform)
				assert.Equal(t, len(pe.Available), len(tc.avail))
				for i, p := range tc.avail {
					assert.Equal(t, formatPlatform(pe.Available[i]), formatPlatform(p))
				}
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, img.Config.RootFS.DiffIDs, tc.img.diffIDs)
			assert.Equal(t, img.ID, tc.img.configID)
			// No layer data was kept.
			_, err = a.Layers(context.Background(), img, img.Config.RootFS.DiffIDs[:1], nil)
			assert.Check(t, errors.Is(err, ErrLayerNotFound), "%v", err)
		})
	}
}

func TestReadMetadataErrors(t *testing.T) {
	img := newTestImage(t, hostPlatform(), []string{"docker.io/library/x:latest"}, makeLayer(t, 80, 200<<10))
	entries := containerdEntries(t, []*testImage{img}, img.tags, containerdOptions{compression: gzipCompression})
	offsets := map[string]int64{}
	data := writeTar(t, entries, offsets)
	var blobEnd int64 // the end of the first blob's data
	for _, e := range entries {
		if e.Typeflag == 0 {
			blobEnd = offsets[e.Name]
			break
		}
	}
	tests := []struct {
		name   string
		data   []byte
		is     error
		daemon bool
		msg    string
	}{
		{name: "empty", data: nil, is: ErrTruncated, msg: "save stream is empty"},
		{name: "mid entry", data: cutAt(data, blobEnd-10, ""), is: ErrTruncated, msg: "truncated"},
		{name: "no end marker", data: cutAt(data, (offsets[entries[len(entries)-1].Name]+511)/512*512, ""), is: ErrTruncated, msg: "without the end-of-archive marker"},
		{name: "daemon error mid entry", data: cutAt(data, blobEnd-10, daemonJSON), daemon: true, msg: "no space left on device"},
		{name: "daemon error after the end", data: append(bytes.Clone(data), daemonJSON...), daemon: true, msg: "no space left on device"},
		{name: "not an archive", data: writeTar(t, []tarEntry{{Name: "hello", Data: []byte("x")}}, nil), is: ErrInvalid, msg: "neither manifest.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			_, err := ReadMetadata(context.Background(), bytes.NewReader(tc.data), Options{TmpDir: tmp})
			assert.ErrorContains(t, err, tc.msg)
			if tc.is != nil {
				assert.Check(t, errors.Is(err, tc.is), "%v", err)
			}
			var de *DaemonError
			assert.Check(t, errors.As(err, &de) == tc.daemon, "%v", err)
			assertEmptyDir(t, tmp)
		})
	}
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := ReadMetadata(ctx, bytes.NewReader(data), Options{})
		assert.Check(t, errors.Is(err, context.Canceled))
	})
	t.Run("layers not kept", func(t *testing.T) {
		a, err := ReadMetadata(context.Background(), bytes.NewReader(data), Options{})
		assert.NilError(t, err)
		defer a.Close()
		got, err := a.Image("x")
		assert.NilError(t, err)
		_, err = a.Layers(context.Background(), got, []digest.Digest{img.diffIDs[0]}, nil)
		assert.Check(t, errors.Is(err, ErrLayerNotFound))
	})
}

// TestReadMetadataCancelMidLayer: a canceled context stops the skipping of
// a large layer.
func TestReadMetadataCancelMidLayer(t *testing.T) {
	img := newTestImage(t, hostPlatform(), nil, makeLayer(t, 90, 8<<20))
	data := writeTar(t, ociEntries(t, []*testImage{img}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{r: bytes.NewReader(data), n: 2 << 20, cancel: cancel}
	_, err := ReadMetadata(ctx, r, Options{})
	assert.Check(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Check(t, r.read < int64(len(data))/2, "read %d of %d bytes", r.read, len(data))
}

// cancelAfter cancels a context once n bytes were read through it.
type cancelAfter struct {
	r      io.Reader
	n      int64
	read   int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.read += int64(n); c.read >= c.n {
		c.cancel()
	}
	return n, err
}
