package inspect

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

type stepWant struct {
	Layer    int
	Inferred bool
}

func TestLoadMapsHistoryToLayers(t *testing.T) {
	l0, l1, l2 := diffID("a0"), diffID("a1"), diffID("a2")
	tests := []struct {
		name      string
		images    map[string]image.InspectResponse
		history   []image.HistoryResponseItem // newest first, as the daemon sends it
		want      []stepWant                  // oldest first
		inspects  int
		wantError string
	}{
		{
			name:    "buildkit: every step made a layer",
			history: []image.HistoryResponseItem{{ID: "<missing>", Size: 5}, {ID: "<missing>", Size: 0}, {ID: "<missing>", Size: 10}},
			want:    []stepWant{{0, false}, {1, false}, {2, false}},
		},
		{
			name: "sizes decide: zero-size steps are all metadata",
			history: []image.HistoryResponseItem{
				{ID: "<missing>", Size: 0, CreatedBy: "CMD [\"sh\"]"}, {ID: "<missing>", Size: 3},
				{ID: "<missing>", Size: 0, CreatedBy: "ENV A=1"}, {ID: "<missing>", Size: 4}, {ID: "<missing>", Size: 5},
			},
			want: []stepWant{{0, false}, {1, false}, {-1, false}, {2, false}, {-1, false}},
		},
		{
			name: "classic build: intermediate images decide a zero-size layer",
			images: map[string]image.InspectResponse{
				imageID("11"): {ID: imageID("11"), RootFS: image.RootFS{Layers: layersOf(l0)}},
				imageID("22"): {ID: imageID("22"), RootFS: image.RootFS{Layers: layersOf(l0)}},
				imageID("33"): {ID: imageID("33"), RootFS: image.RootFS{Layers: layersOf(l0, l1)}},
			},
			history: []image.HistoryResponseItem{
				{ID: imageID("44"), Size: 7, CreatedBy: "/bin/sh -c echo > /x"},
				{ID: imageID("33"), Size: 0, CreatedBy: "/bin/sh -c rm /y"},
				{ID: imageID("22"), Size: 0, CreatedBy: "/bin/sh -c #(nop)  ENV A=1"},
				{ID: imageID("11"), Size: 9, CreatedBy: "/bin/sh -c #(nop) COPY file:x in /"},
			},
			want:     []stepWant{{0, false}, {-1, false}, {1, false}, {2, false}},
			inspects: 3,
		},
		{
			name: "no intermediate images: inferred from commands and marked",
			history: []image.HistoryResponseItem{
				{ID: "<missing>", Size: 0, CreatedBy: "CMD [\"sh\"]"},
				{ID: "<missing>", Size: 0, CreatedBy: "RUN /bin/sh -c rm /y # buildkit"},
				{ID: "<missing>", Size: 0, CreatedBy: "ENV A=1"},
				{ID: "<missing>", Size: 9, CreatedBy: "COPY x / # buildkit"},
				{ID: "<missing>", Size: 4, CreatedBy: "ADD rootfs.tar /"},
			},
			want: []stepWant{{0, false}, {1, false}, {-1, true}, {2, true}, {-1, true}},
		},
		{
			name:      "more content steps than layers",
			history:   []image.HistoryResponseItem{{ID: "<missing>", Size: 1}, {ID: "<missing>", Size: 1}, {ID: "<missing>", Size: 1}, {ID: "<missing>", Size: 1}},
			wantError: "image img: the history has 4 steps with content but the image has 3 layers",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top := image.InspectResponse{ID: imageID("ff"), RepoTags: []string{"img:latest"}, RootFS: image.RootFS{Type: "layers", Layers: layersOf(l0, l1, l2)}}
			images := map[string]image.InspectResponse{"img": top, top.ID: top}
			for k, v := range tc.images {
				images[k] = v
			}
			f := &fakeClient{images: images, history: map[string][]image.HistoryResponseItem{top.ID: tc.history}}
			a, err := Load(context.Background(), f, "img")
			if tc.wantError != "" {
				assert.Error(t, err, tc.wantError)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Len(a.Layers, 3))
			assert.Check(t, is.DeepEqual(a.DiffIDs(), []digest.Digest{l0, l1, l2}))
			var got []stepWant
			for _, s := range a.Steps {
				got = append(got, stepWant{s.Layer, s.Inferred})
			}
			assert.Check(t, is.DeepEqual(got, tc.want))
			assert.Check(t, is.Equal(f.inspects-1, tc.inspects), "ImageInspect calls for intermediate images")
			for i, l := range a.Layers {
				assert.Check(t, is.Equal(a.Steps[l.Step].Layer, i), "layer %d points back at its step", i)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	l0, l1 := diffID("b0"), diffID("b1")
	cfg := ocispec.Image{
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{l0, l1}},
		History: []ocispec.History{
			{CreatedBy: "ADD rootfs /"}, {CreatedBy: "ENV A=1", EmptyLayer: true}, {CreatedBy: "RUN rm /x"}, {CreatedBy: "CMD sh", EmptyLayer: true},
		},
	}
	a, err := FromConfig("img", imageID("cc"), []string{"img:latest"}, cfg, []int64{100, 0})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(a.Layers[0].Step, 0))
	assert.Check(t, is.Equal(a.Layers[1].Step, 2))
	assert.Check(t, is.Equal(a.Layers[1].Size, int64(0)))
	assert.Check(t, is.Equal(a.CumulativeSize(1), int64(100)))
	assert.Check(t, is.DeepEqual(a.Layers[1].ImageIDs, []string{imageID("cc")}))

	cfg.History = cfg.History[:1]
	_, err = FromConfig("img", imageID("cc"), nil, cfg, nil)
	assert.Error(t, err, "image img: the history names 1 layers but the root filesystem has 2")
}
