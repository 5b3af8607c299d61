package compare

import (
	"context"
	"strings"
	"testing"

	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker-layers/docker-layers/source"
	"gotest.tools/v3/assert"
)

// sample is the e2e fixture image, saved: 7 layers, the app's steps from
// layer 2 up.
const sample = "docker-archive:../e2e/fixtures/sample.tar.gz"

func side(t *testing.T, ref string, layers ...string) Side {
	t.Helper()
	r, err := source.ParseReference(ref)
	assert.NilError(t, err)
	return Side{Ref: r, Layers: layers}
}

func rows(ds []flatten.Difference) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Kind.String() + " " + d.Path + " " + strings.Join(d.What.Strings(), ",") + "\n")
	}
	return b.String()
}

func TestFilesLayerRanges(t *testing.T) {
	ctx := context.Background()
	res, err := Files(ctx, nil, side(t, sample, ":2"), side(t, sample, ":4"), Options{Source: source.Options{TmpDir: t.TempDir()}})
	assert.NilError(t, err)
	assert.Equal(t, res.Shared, 3)
	assert.DeepEqual(t, res.A.Layers, []int{0, 1, 2})
	assert.DeepEqual(t, res.B.Layers, []int{0, 1, 2, 3, 4})
	assert.Equal(t, rows(res.Differences), `A app/conf-absolute-link 
C app/conf/app.conf content,mode
A app/conf/numbers-link 
D app/delete-me.txt 
A app/hello-hardlink.txt 
A app/hello-relative-link 
C app/hello.txt hardlink
D app/old 
D app/old/one.txt 
D app/old/sub 
D app/old/sub/two.txt 
`)
	// The other way round: A and D swap.
	back, err := Files(ctx, nil, side(t, sample, ":4"), side(t, sample, ":2"), Options{})
	assert.NilError(t, err)
	swapped := strings.NewReplacer("\nA ", "\nX ", "\nD ", "\nA ").Replace("\n" + rows(back.Differences))
	swapped = strings.ReplaceAll(swapped, "\nX ", "\nD ")
	assert.Equal(t, swapped[1:], rows(res.Differences))
}

func TestFilesFilterAndIdentical(t *testing.T) {
	ctx := context.Background()
	pf, err := flatten.NewPathFilter([]string{"app/old"}, nil)
	assert.NilError(t, err)
	res, err := Files(ctx, nil, side(t, sample, ":2"), side(t, sample, ":4"), Options{Filter: pf})
	assert.NilError(t, err)
	assert.Equal(t, rows(res.Differences), "D app/old \nD app/old/one.txt \nD app/old/sub \nD app/old/sub/two.txt \n")

	same, err := Files(ctx, nil, side(t, sample), side(t, sample), Options{})
	assert.NilError(t, err)
	assert.Equal(t, len(same.Differences), 0)
	assert.Equal(t, same.Shared, 7)
}

func TestConfigsIdentical(t *testing.T) {
	res, err := Configs(context.Background(), nil, side(t, sample, ":2"), side(t, sample), Options{})
	assert.NilError(t, err)
	assert.Equal(t, len(res.Changes), 0, "layer specs do not apply to --config")
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Files(ctx, nil, side(t, "docker-archive:-"), side(t, "oci-archive:-"), Options{})
	assert.Error(t, err, "only one image can be read from stdin")
	_, err = Files(ctx, nil, side(t, sample), side(t, "docker-archive:/nonexistent.tar"), Options{})
	assert.ErrorContains(t, err, "/nonexistent.tar")
	_, err = Files(ctx, nil, side(t, sample), side(t, "myimage"), Options{})
	assert.ErrorContains(t, err, "no Docker daemon")
}
