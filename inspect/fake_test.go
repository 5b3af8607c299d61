package inspect

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
)

// fakeClient serves images from memory, keyed by ID and by tag.
type fakeClient struct {
	Client
	images   map[string]image.InspectResponse
	history  map[string][]image.HistoryResponseItem
	inspects int
}

func (f *fakeClient) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.inspects++
	if img, ok := f.images[ref]; ok {
		return img, nil
	}
	return image.InspectResponse{}, fmt.Errorf("No such image: %s", ref)
}

func (f *fakeClient) ImageHistory(_ context.Context, ref string, _ ...client.ImageHistoryOption) ([]image.HistoryResponseItem, error) {
	if h, ok := f.history[ref]; ok {
		return h, nil
	}
	return nil, fmt.Errorf("No such image: %s", ref)
}

// diffID makes a diff ID whose hex starts with prefix.
func diffID(prefix string) digest.Digest {
	return digest.Digest("sha256:" + prefix + strings.Repeat("0", 64-len(prefix)))
}

func imageID(prefix string) string {
	return "sha256:" + prefix + strings.Repeat("e", 64-len(prefix))
}

func layersOf(ids ...digest.Digest) []string {
	out := make([]string, len(ids))
	for i, d := range ids {
		out[i] = d.String()
	}
	return out
}
