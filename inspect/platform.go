package inspect

import (
	"context"

	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LoadPlatform is Load for one platform of a multi-platform image: it asks
// ImageInspect and ImageHistory for that platform (Engine API 1.49 and
// later; the client refuses the option on older daemons).
//
// The ancestry's ID is the image's own (on the containerd image store, its
// index digest), from an ImageInspect without the platform. ImageInspect
// for a platform answers with that platform's manifest digest as the ID
// (Docker 29), a name that ImageHistory, ImageInspect and ImageSave do not
// resolve: "No such image".
func LoadPlatform(ctx context.Context, c Client, ref string, p ocispec.Platform) (*Ancestry, error) {
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	return LoadPlatformID(ctx, c, ref, img.ID, p)
}

// LoadPlatformID is LoadPlatform for a caller that has inspected ref
// already: id is the image's own ID, as ImageInspect without a platform
// answers it.
func LoadPlatformID(ctx context.Context, c Client, ref, id string, p ocispec.Platform) (*Ancestry, error) {
	return load(ctx, c, ref, id,
		[]client.ImageInspectOption{client.ImageInspectWithPlatform(&p)},
		[]client.ImageHistoryOption{client.ImageHistoryWithPlatform(p)})
}
