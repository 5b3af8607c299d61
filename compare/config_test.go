package compare

import (
	"testing"
	"time"

	"github.com/docker-layers/docker-layers/flatten"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
)

// baseConfig is a small image as a Dockerfile builds it; each case
// changes a copy of it.
func baseConfig() ImageConfig {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	return ImageConfig{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: dockerspec.DockerOCIImageConfig{
			ImageConfig: ocispec.ImageConfig{
				Env:          []string{"PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"},
				Labels:       map[string]string{"org.opencontainers.image.version": "1.0"},
				Cmd:          []string{"sh", "-c", "x"},
				WorkingDir:   "/app",
				ExposedPorts: map[string]struct{}{"80/tcp": {}},
				Volumes:      map[string]struct{}{"/data": {}},
			},
		},
		DiffIDs: []digest.Digest{digest.FromString("l0"), digest.FromString("l1")},
		History: []ocispec.History{
			{Created: &created, CreatedBy: "ADD rootfs.tar /"},
			{Created: &created, CreatedBy: "RUN make"},
			{Created: &created, CreatedBy: `CMD ["sh","-c","x"]`, EmptyLayer: true},
		},
	}
}

func TestConfigDiff(t *testing.T) {
	l0, l1, l2 := digest.FromString("l0"), digest.FromString("l1"), digest.FromString("l2")
	tests := []struct {
		name string
		a, b func(c *ImageConfig) // change the base config of each side
		want []ConfigChange
	}{
		{name: "identical"},
		{
			name: "only ENV",
			b:    func(c *ImageConfig) { c.Config.Env = []string{"PATH=/usr/bin", "LANG=C.UTF-8"} },
			want: []ConfigChange{{Field: "Env[PATH]", Change: flatten.Changed, A: "/usr/local/bin:/usr/bin", B: "/usr/bin"}},
		},
		{
			name: "only LABEL",
			b:    func(c *ImageConfig) { c.Config.Labels = map[string]string{"org.opencontainers.image.version": "1.1"} },
			want: []ConfigChange{{Field: "Labels[org.opencontainers.image.version]", Change: flatten.Changed, A: "1.0", B: "1.1"}},
		},
		{
			name: "only CMD",
			b:    func(c *ImageConfig) { c.Config.Cmd = []string{"sh", "-c", "echo a > b && y"} },
			want: []ConfigChange{{Field: "Cmd", Change: flatten.Changed, A: `["sh","-c","x"]`, B: `["sh","-c","echo a > b && y"]`}},
		},
		{
			name: "env added, deleted and changed, sorted by name",
			a:    func(c *ImageConfig) { c.Config.Env = []string{"B=1", "A=1", "C=1"} },
			b:    func(c *ImageConfig) { c.Config.Env = []string{"D=x=y", "A=2", "C=1"} },
			want: []ConfigChange{
				{Field: "Env[A]", Change: flatten.Changed, A: "1", B: "2"},
				{Field: "Env[B]", Change: flatten.Deleted, A: "1"},
				{Field: "Env[D]", Change: flatten.Added, B: "x=y"},
			},
		},
		{
			name: "env: the last of a name wins, a name without = is empty",
			a:    func(c *ImageConfig) { c.Config.Env = []string{"A=1", "A=2", "E=", "F=1"} },
			b:    func(c *ImageConfig) { c.Config.Env = []string{"A=2", "E", "F"} },
			want: []ConfigChange{{Field: "Env[F]", Change: flatten.Changed, A: "1", B: ""}},
		},
		{
			name: "labels added and deleted",
			a:    func(c *ImageConfig) { c.Config.Labels = map[string]string{"old": "x", "same": "1"} },
			b:    func(c *ImageConfig) { c.Config.Labels = map[string]string{"new": "", "same": "1"} },
			want: []ConfigChange{
				{Field: "Labels[new]", Change: flatten.Added},
				{Field: "Labels[old]", Change: flatten.Deleted, A: "x"},
			},
		},
		{
			name: "labels: nil against some",
			a:    func(c *ImageConfig) { c.Config.Labels = nil },
			want: []ConfigChange{{Field: "Labels[org.opencontainers.image.version]", Change: flatten.Added, B: "1.0"}},
		},
		{
			name: "ports and volumes by presence",
			b: func(c *ImageConfig) {
				c.Config.ExposedPorts = map[string]struct{}{"443/tcp": {}, "53/udp": {}}
				c.Config.Volumes = nil
			},
			want: []ConfigChange{
				{Field: "ExposedPorts[443/tcp]", Change: flatten.Added},
				{Field: "ExposedPorts[53/udp]", Change: flatten.Added},
				{Field: "ExposedPorts[80/tcp]", Change: flatten.Deleted},
				{Field: "Volumes[/data]", Change: flatten.Deleted},
			},
		},
		{
			name: "nil and empty Cmd are equal",
			a:    func(c *ImageConfig) { c.Config.Cmd = nil },
			b:    func(c *ImageConfig) { c.Config.Cmd = []string{} },
		},
		{
			name: "scalars added, deleted and changed, in field order",
			a: func(c *ImageConfig) {
				c.Config.Cmd = nil
				c.Config.User = "root"
				c.Config.Shell = []string{"/bin/sh", "-c"}
			},
			b: func(c *ImageConfig) {
				c.Config.Entrypoint = []string{"/entrypoint"}
				c.Config.WorkingDir = "/srv"
				c.Config.StopSignal = "SIGQUIT"
				c.Config.OnBuild = []string{"RUN x"}
			},
			want: []ConfigChange{
				{Field: "Cmd", Change: flatten.Added, B: `["sh","-c","x"]`},
				{Field: "Entrypoint", Change: flatten.Added, B: `["/entrypoint"]`},
				{Field: "WorkingDir", Change: flatten.Changed, A: "/app", B: "/srv"},
				{Field: "User", Change: flatten.Deleted, A: "root"},
				{Field: "StopSignal", Change: flatten.Added, B: "SIGQUIT"},
				{Field: "Shell", Change: flatten.Deleted, A: `["/bin/sh","-c"]`},
				{Field: "OnBuild", Change: flatten.Added, B: `["RUN x"]`},
			},
		},
		{
			name: "healthcheck as compact JSON; a zero one is absent",
			a:    func(c *ImageConfig) { c.Config.Healthcheck = &dockerspec.HealthcheckConfig{} },
			b: func(c *ImageConfig) {
				c.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD-SHELL", "curl -f localhost && true"}, Interval: 30 * time.Second, Retries: 3}
			},
			want: []ConfigChange{{Field: "Healthcheck", Change: flatten.Added, B: `{"Test":["CMD-SHELL","curl -f localhost && true"],"Interval":30000000000,"Retries":3}`}},
		},
		{
			name: "platform",
			b:    func(c *ImageConfig) { c.Platform = ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"} },
			want: []ConfigChange{{Field: "Platform", Change: flatten.Changed, A: "linux/amd64", B: "linux/arm/v7"}},
		},
		{
			name: "platform: compared normalized",
			a:    func(c *ImageConfig) { c.Platform = ocispec.Platform{OS: "linux", Architecture: "aarch64"} },
			b:    func(c *ImageConfig) { c.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"} },
		},
		{
			name: "platform: OS version",
			a: func(c *ImageConfig) {
				c.Platform = ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.5329"}
			},
			b: func(c *ImageConfig) {
				c.Platform = ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2227"}
			},
			want: []ConfigChange{{Field: "Platform", Change: flatten.Changed, A: "windows(10.0.17763.5329)/amd64", B: "windows(10.0.20348.2227)/amd64"}},
		},
		{
			name: "layers: one changed",
			b:    func(c *ImageConfig) { c.DiffIDs = []digest.Digest{l0, l2} },
			want: []ConfigChange{{Field: "Layers[1]", Change: flatten.Changed, A: l1.String(), B: l2.String()}},
		},
		{
			name: "layers: one more",
			b:    func(c *ImageConfig) { c.DiffIDs = []digest.Digest{l0, l1, l2} },
			want: []ConfigChange{
				{Field: "Layers", Change: flatten.Changed, A: "2", B: "3"},
				{Field: "Layers[2]", Change: flatten.Added, B: l2.String()},
			},
		},
		{
			name: "layers: fewer, and the rest differ",
			b:    func(c *ImageConfig) { c.DiffIDs = []digest.Digest{l2} },
			want: []ConfigChange{
				{Field: "Layers", Change: flatten.Changed, A: "2", B: "1"},
				{Field: "Layers[0]", Change: flatten.Changed, A: l0.String(), B: l2.String()},
				{Field: "Layers[1]", Change: flatten.Deleted, A: l1.String()},
			},
		},
		{
			name: "history: CreatedBy changed, Created ignored",
			b: func(c *ImageConfig) {
				later := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				c.History[0].Created = &later
				c.History[1].CreatedBy = "RUN make install"
			},
			want: []ConfigChange{{Field: "History[1]", Change: flatten.Changed, A: "RUN make", B: "RUN make install"}},
		},
		{
			name: "history: comment and empty layer shown when they differ",
			a:    func(c *ImageConfig) { c.History[0].Comment = "buildkit.dockerfile.v0" },
			b:    func(c *ImageConfig) { c.History[1].EmptyLayer = true },
			want: []ConfigChange{
				{Field: "History[0]", Change: flatten.Changed, A: `ADD rootfs.tar / (comment "buildkit.dockerfile.v0")`, B: "ADD rootfs.tar /"},
				{Field: "History[1]", Change: flatten.Changed, A: "RUN make", B: "RUN make (no layer)"},
			},
		},
		{
			name: "history: added and deleted entries",
			a:    func(c *ImageConfig) { c.History = c.History[:1] },
			b: func(c *ImageConfig) {
				c.History = append(c.History, ocispec.History{CreatedBy: "USER nobody", EmptyLayer: true})
			},
			want: []ConfigChange{
				{Field: "History[1]", Change: flatten.Added, B: "RUN make"},
				{Field: "History[2]", Change: flatten.Added, B: `CMD ["sh","-c","x"]`},
				{Field: "History[3]", Change: flatten.Added, B: "USER nobody"},
			},
		},
		{
			name: "every kind of field, in the documented order",
			b: func(c *ImageConfig) {
				c.Config.Env = c.Config.Env[:1]
				c.Config.Labels = nil
				c.Config.User = "app"
				c.Config.Volumes = nil
				c.Platform.Architecture = "arm64"
				c.DiffIDs = c.DiffIDs[:1]
				c.History = c.History[:1]
			},
			want: []ConfigChange{
				{Field: "Env[LANG]", Change: flatten.Deleted, A: "C.UTF-8"},
				{Field: "Labels[org.opencontainers.image.version]", Change: flatten.Deleted, A: "1.0"},
				{Field: "User", Change: flatten.Added, B: "app"},
				{Field: "Volumes[/data]", Change: flatten.Deleted},
				{Field: "Platform", Change: flatten.Changed, A: "linux/amd64", B: "linux/arm64"},
				{Field: "Layers", Change: flatten.Changed, A: "2", B: "1"},
				{Field: "Layers[1]", Change: flatten.Deleted, A: l1.String()},
				{Field: "History[1]", Change: flatten.Deleted, A: "RUN make"},
				{Field: "History[2]", Change: flatten.Deleted, A: `CMD ["sh","-c","x"]`},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := baseConfig(), baseConfig()
			if tc.a != nil {
				tc.a(&a)
			}
			if tc.b != nil {
				tc.b(&b)
			}
			assert.DeepEqual(t, ConfigDiff(a, b), tc.want)
			// The other way round, every row is mirrored.
			var mirrored []ConfigChange
			for _, c := range tc.want {
				c.A, c.B = c.B, c.A
				switch c.Change {
				case flatten.Added:
					c.Change = flatten.Deleted
				case flatten.Deleted:
					c.Change = flatten.Added
				}
				mirrored = append(mirrored, c)
			}
			assert.DeepEqual(t, ConfigDiff(b, a), mirrored)
		})
	}
}

func TestNewImageConfig(t *testing.T) {
	img := &dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: "aarch64"},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("l0")}},
			History:  []ocispec.History{{CreatedBy: "ADD x /"}},
		},
		Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{User: "app"}},
	}
	got := NewImageConfig(img)
	assert.DeepEqual(t, got, ImageConfig{
		Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"},
		Config:   img.Config,
		DiffIDs:  img.RootFS.DiffIDs,
		History:  img.History,
	})
}
