package inspect

import (
	"context"

	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LoadPlatform is Load for one platform of a multi-platform image: it asks
// ImageInspect and ImageHistory for that platform (Engine API 1.49 and
// later; the client refuses the option on older daemons).
func LoadPlatform(ctx context.Context, c Client, ref string, p ocispec.Platform) (*Ancestry, error) {
	return load(ctx, c, ref,
		[]client.ImageInspectOption{client.ImageInspectWithPlatform(&p)},
		[]client.ImageHistoryOption{client.ImageHistoryWithPlatform(p)})
}
